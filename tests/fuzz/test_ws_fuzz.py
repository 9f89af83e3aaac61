"""Hypothesis-driven WebSocket frame fuzzing against a real gateway process.

One long-lived connection of user A gets >= 10,000 frames, fast: bad JSON,
wrong types, frames around and far over the 64 KiB limit, deep nesting,
Unicode edge cases (escaped lone surrogates, NUL, RTL, emoji, combining
marks), and every frame type with fields missing, wrong, null or extra. A
reference model of the contract (``expect``) says what each frame must get:
an ``error`` frame, ``pong``, ``message_sent`` or nothing. Every frame is
followed by a ``ping``, so the replies of one frame are exactly what arrives
before the next ``pong``.

The partner B watches on a second connection (it must see each stored
message once, and stay usable); C, member of another chat that A pokes at,
must see nothing at all. At the end the history holds exactly the messages
that were acknowledged, each once, and the gateway logged no error.

Deterministic for CI: ``derandomize=True``, no example database, no shrinking
(the server is stateful; a failure names the frame itself).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from neonchat import jsonlimits
from neonchat.ids import uuid_or_none
from neonchat.text import TEXT_MAX, has_visible_text
from tests.e2e.conftest import Account, Stack, history_after, open_chat, post_message, register
from tests.e2e.procs import Proc, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MAX_FRAME_BYTES = 64 * 1024
BATCH = 10
EXAMPLES = 270
MIN_FRAMES = 10_000
REPLY_TIMEOUT = 15.0
UNSOLICITED = {"new_message", "presence", "typing", "read", "message_updated", "message_deleted", "system"}
PING = '{"type":"ping"}'
KINDS = ("message", "typing", "read", "presence", "ping")

Frame = str | bytes


# ---- the reference model of the contract ----------------------------------


@dataclass
class World:
    chat: uuid.UUID
    foreign: uuid.UUID
    message_ids: set[uuid.UUID]
    # request_id -> the message first acknowledged for it
    acked: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    first_text: dict[uuid.UUID, str] = field(default_factory=dict)


def _text_ok(text: Any) -> bool:
    visible = isinstance(text, str) and has_visible_text(text)  # not only white space or zero-width characters
    return isinstance(text, str) and 0 < len(text) <= TEXT_MAX and visible and "\x00" not in text


def _expect_message(frame: dict[str, Any], world: World) -> str:
    request_id, chat = uuid_or_none(frame.get("request_id")), uuid_or_none(frame.get("chat_id"))
    if request_id is None or chat != world.chat or not _text_ok(frame.get("text")):
        return "error"
    return "message_sent"


def _expect_typing(frame: dict[str, Any], world: World) -> str:
    ok = uuid_or_none(frame.get("chat_id")) == world.chat and isinstance(frame.get("is_typing"), bool)
    return "none" if ok else "error"


def _expect_read(frame: dict[str, Any], world: World) -> str:
    ok = uuid_or_none(frame.get("chat_id")) == world.chat and uuid_or_none(frame.get("message_id")) in world.message_ids
    return "none" if ok else "error"


def _expect_presence(frame: dict[str, Any], world: World) -> str:
    status = frame.get("status")
    return "none" if isinstance(status, str) and status in ("online", "away") else "error"


EXPECT = {
    "message": _expect_message,
    "typing": _expect_typing,
    "read": _expect_read,
    "presence": _expect_presence,
    "ping": lambda frame, world: "pong",
}


def decode(raw: Frame) -> dict[str, Any] | None:
    """The frame as the contract reads it: one JSON object of at most 64 KiB (RFC 8259 JSON, bounded depth)."""
    size = len(raw.encode("utf-8", "surrogatepass")) if isinstance(raw, str) else len(raw)
    if size > MAX_FRAME_BYTES:
        return None
    try:
        frame = jsonlimits.loads(raw)  # JSON nested deeper than MAX_JSON_DEPTH is refused too
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None


def expect(raw: Frame, world: World) -> str:
    frame = decode(raw)
    if frame is None:
        return "error"
    kind = frame.get("type")
    if not isinstance(kind, str) or kind not in EXPECT:
        return "error"
    return EXPECT[kind](frame, world)


# ---- strategies ---------------------------------------------------------------

EDGE_CHARS = [
    "\ud800",  # lone high surrogate (only ever sent as the JSON escape \ud800)
    "\udfff",  # lone low surrogate
    "\x00",  # NUL
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u200f",  # RIGHT-TO-LEFT MARK
    "\u061c",  # ARABIC LETTER MARK
    "\u05d0\u05d1",  # Hebrew
    "\U0001f600",  # emoji (astral)
    "\U0001f469\u200d\U0001f4bb",  # ZWJ sequence
    "\U0001f1fa\U0001f1e6",  # flag (regional indicators)
    "\u0301",  # combining acute
    "e\u0301\u0302\u0303\u0304",  # stacked combining marks
    "\ufeff",  # BOM
    "\uffff",  # noncharacter
    "\U0010ffff",  # last code point
    "\u2028",  # LINE SEPARATOR
    "\u2029",
    "\u200b",  # zero width space (not whitespace for str.strip)
    "\u00a0",  # NBSP (whitespace)
    "\u3000",  # ideographic space
    " ",
    "\t",
    "\n",
    "\\",
    '"',
    "\x7f",
    "\x1b[31m",
    "<script>",
    "' OR 1=1 --",
]
TYPE_MANGLES = st.sampled_from(
    ["Message", "PING", " ping", "ping ", "", "pong", "error", "message_sent", "new_message", "p\u0131ng", "ping\x00"]
) | st.sampled_from([None, 1, True, ["ping"], {"type": "ping"}])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=5,
)
edge_text = st.lists(st.sampled_from(EDGE_CHARS) | st.text(max_size=4), min_size=1, max_size=24).map("".join)
long_text = st.builds(
    lambda unit, count: unit * count,
    st.sampled_from(["a", " ", "\U0001f600", "e\u0301", "\u05d0", "\u200b"]),
    st.sampled_from([1, 2047, 2048, 4095, 4096, 4097, 6000]),
)
message_text = st.text(min_size=1, max_size=40) | edge_text | edge_text | long_text | json_values


def id_strategy(good: tuple[str, ...]) -> st.SearchStrategy[Any]:
    base = st.sampled_from(good)
    variants = base.flatmap(
        lambda v: st.sampled_from(
            [v.upper(), "{" + v + "}", "urn:uuid:" + v, v.replace("-", ""), " " + v, v + "\x00", v[:-1], v + "0"]
        )
    )
    return st.one_of(base, base, base, base, variants, st.uuids().map(str), json_values)


@st.composite
def object_frames(draw: st.DrawFn, chat: str, foreign: str, known: tuple[str, ...]) -> dict[str, Any]:
    """A frame of one of the five types, good or with fields wrong, null, missing or extra."""
    chats = id_strategy((chat, chat, foreign))
    kind = draw(st.sampled_from(KINDS))
    frame: dict[str, Any] = {"type": kind}
    if kind == "message":
        frame |= {
            "chat_id": draw(chats),
            "text": draw(message_text),
            "request_id": draw(st.uuids().map(str) | st.uuids().map(str) | json_values),
        }
    elif kind == "typing":
        frame |= {"chat_id": draw(chats), "is_typing": draw(st.booleans() | st.booleans() | json_values)}
    elif kind == "read":
        frame |= {"chat_id": draw(chats), "message_id": draw(id_strategy(known))}
    elif kind == "presence":
        statuses = st.sampled_from(["online", "away", "offline", "ONLINE", "", " online", "online\x00"])
        frame["status"] = draw(statuses | statuses | json_values)
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        op = draw(st.sampled_from(["none", "none", "drop", "wrong", "null", "extra", "type"]))
        keys = sorted(frame)
        if op == "drop" and keys:
            del frame[draw(st.sampled_from(keys))]
        elif op in ("wrong", "null") and keys:
            frame[draw(st.sampled_from(keys))] = None if op == "null" else draw(json_values)
        elif op == "extra":
            frame |= draw(st.dictionaries(st.text(max_size=10), json_values, max_size=3))
        elif op == "type":
            frame["type"] = draw(TYPE_MANGLES)
    return frame


@st.composite
def truncated(draw: st.DrawFn, objects: st.SearchStrategy[Any]) -> str:
    text = json.dumps(draw(objects))
    return text[: draw(st.integers(min_value=0, max_value=max(0, len(text) - 1)))]


def _deep(depth: int, opener: str) -> str:
    nest = "[" * depth + "]" * depth if opener == "[" else '{"a":' * depth + "1" + "}" * depth
    return '{"type":"ping","deep":' + nest + "}"


def _huge(size: int, unit: str, kind: str, chat: str) -> str:
    """A frame of about ``size`` bytes: a padded ping, or a message whose text is the padding."""
    head = (
        '{"type":"ping","pad":"'
        if kind == "ping"
        else f'{{"type":"message","chat_id":"{chat}","request_id":"{uuid.UUID(int=size)}","text":"'
    )
    room = max(0, size - len(head) - 2)
    pad = unit * (room // len(unit.encode()))
    pad += "x" * (room - len(pad.encode()))
    return head + pad + '"}'


Seed = Any  # a frame object, any JSON value, or a raw text / binary frame


def seeds(chat: str, foreign: str, known: tuple[str, ...]) -> st.SearchStrategy[Seed]:
    """What hypothesis draws; :func:`expand` turns each into one or more frames."""
    objects = object_frames(chat, foreign, known)
    sizes = st.sampled_from([65_000, 65_536, 65_537, 70_000, 200_000]) | st.integers(
        min_value=60_000, max_value=1_100_000
    )
    huge = st.builds(
        _huge, sizes, st.sampled_from(["x", "\u00e9", "\U0001f600"]), st.sampled_from(["ping", "message"]),
        st.just(chat),
    )  # fmt: skip
    deep = st.builds(_deep, st.integers(min_value=1, max_value=40_000), st.sampled_from(["[", "{"]))
    odd = ["", " ", "null", "[]", "{}", '{"type":null}', '{"type":"ping"', "\ufeff{}", '{"type":"ping"}x']
    return st.one_of(
        objects,
        objects,
        objects,
        objects,
        objects,
        objects,
        json_values.map(lambda v: ("json", v)),  # valid JSON, mostly not an object with a type
        truncated(objects),
        st.text(max_size=120),  # anything, mostly not JSON
        st.binary(max_size=120),  # binary frames, often not UTF-8
        st.sampled_from(odd),
        deep,
        huge,
    )


WRONG_VALUES: list[Any] = [
    None,
    0,
    -1,
    1.5,
    True,
    False,
    "",
    "x",
    [],
    {},
    ["ping"],
    {"a": [None]},
    "\ud800",
    2**64,
    "online",
]


def _json(obj: Any, *, ascii_only: bool) -> str:
    text = json.dumps(obj, ensure_ascii=ascii_only)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: only as escapes in a text frame
        return json.dumps(obj, ensure_ascii=True)
    return text


def expand(seed: Seed, salt: int) -> list[Frame]:
    """The seed as sent, plus cheap systematic variants of a frame object: escaped
    and raw UTF-8 text, a binary frame (where lone surrogates become invalid
    UTF-8), each field missing in turn, each field null or of a wrong type in turn
    (three values), and an extra field."""
    if isinstance(seed, bytes):
        return [seed]
    if isinstance(seed, str):
        return [seed, seed.encode()] if salt % 4 == 0 else [seed]
    if isinstance(seed, tuple):  # ("json", any JSON value)
        return [_json(seed[1], ascii_only=salt % 2 == 0)]
    out: list[Frame] = [
        _json(seed, ascii_only=False),
        json.dumps(seed, ensure_ascii=True),
        json.dumps(seed, ensure_ascii=False).encode("utf-8", "surrogatepass"),
    ]
    for index, key in enumerate(sorted(seed)):
        out.append(_json({k: v for k, v in seed.items() if k != key}, ascii_only=False))
        for shift in (0, 5, 9):
            wrong = WRONG_VALUES[(salt + index + shift) % len(WRONG_VALUES)]
            out.append(_json({**seed, key: wrong}, ascii_only=shift == 0))
    out.append(_json({**seed, "extra": WRONG_VALUES[salt % len(WRONG_VALUES)]}, ascii_only=False))
    return out


# ---- the connections ----------------------------------------------------------


class Watcher(threading.Thread):
    """Collects every frame a connection receives until it closes."""

    def __init__(self, ws: ClientConnection) -> None:
        super().__init__(daemon=True)
        self.ws = ws
        self.frames: list[Any] = []
        self.close_code: int | None = None

    def run(self) -> None:
        try:
            with self.ws:
                for raw in self.ws:
                    self.frames.append(json.loads(raw))
        except ConnectionClosed:
            pass
        self.close_code = self.ws.close_code

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == kind]

    def ping_pong(self, timeout: float = 5) -> bool:
        before = len(self.of("pong"))
        self.ws.send('{"type":"ping"}')
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.of("pong")) > before:
                return True
            time.sleep(0.02)
        return False


def _connect(gateway: Proc, who: Account) -> ClientConnection:
    # No client keepalive: its pings draw from ``random``, which hypothesis forbids meanwhile.
    url = f"{gateway.ws}?token={who.token}"
    return connect(url, max_size=4 * 1024 * 1024, open_timeout=10, close_timeout=2, ping_interval=None)


def _describe(raw: Frame) -> str:
    text = repr(raw)
    return text if len(text) < 300 else f"{text[:200]}... ({len(raw)} long)"


@dataclass
class Fuzzer:
    ws: ClientConnection
    world: World
    sent: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    unsolicited: list[dict[str, Any]] = field(default_factory=list)

    def run_batch(self, batch: list[Frame]) -> None:
        """Pipelined: every frame, a ``ping`` marker after each frame that must get
        no reply and at the end; then the replies, in order."""
        plan = [(raw, expect(raw, self.world)) for raw in batch]
        for raw, wanted in plan:
            self.ws.send(raw)
            if wanted == "none":
                self.ws.send(PING)
        self.ws.send(PING)
        for index, (raw, wanted) in enumerate(plan):
            self.outcomes[wanted] = self.outcomes.get(wanted, 0) + 1
            where = f"frame {index} of the batch, {_describe(raw)} (or an earlier one of the batch)"
            if wanted == "none":
                reply = self.next_reply(where)
                assert reply.get("type") == "pong", f"{where}: wanted no reply, got {reply}"
                continue
            reply = self.next_reply(where)
            assert reply.get("type") == wanted, f"{where}: wanted {wanted}, got {reply}"
            if wanted == "error":
                self.check_error(raw, reply, where)
            elif wanted == "message_sent":
                self.record_ack(raw, reply)
        end = self.next_reply("the end of the batch")
        assert end.get("type") == "pong", f"a reply too many in the batch: {end}"
        self.sent += len(batch)

    def next_reply(self, where: str) -> dict[str, Any]:
        """The next reply to a frame of ours (events from others are kept aside)."""
        while True:
            try:
                reply: dict[str, Any] = json.loads(self.ws.recv(timeout=REPLY_TIMEOUT))
            except TimeoutError:
                pytest.fail(f"no reply within {REPLY_TIMEOUT}s for {where}")
            except ConnectionClosed as closed:
                pytest.fail(f"connection dropped ({closed}) at {where}")
            if reply.get("type") not in UNSOLICITED:
                return reply
            self.unsolicited.append(reply)

    def check_error(self, raw: Frame, reply: dict[str, Any], where: str) -> None:
        assert isinstance(reply.get("code"), str) and reply["code"], f"{where}: {reply}"
        assert isinstance(reply.get("message"), str), f"{where}: {reply}"
        frame = decode(raw) or {}
        request_id = frame.get("request_id")
        # Echoed exactly as sent when it is a UUID ("uuid or null"), never an arbitrary string.
        echo = request_id if uuid_or_none(request_id) is not None else None
        if frame.get("type") == "message":  # errors of a send echo its request_id exactly
            assert reply.get("request_id") == echo, f"{where}: {reply}"
        else:
            assert reply.get("request_id") in (None, echo), f"{where}: {reply}"

    def record_ack(self, raw: Frame, reply: dict[str, Any]) -> None:
        frame = decode(raw)
        assert frame is not None
        request_id = uuid.UUID(frame["request_id"])
        assert reply["request_id"] == frame["request_id"], "request_id must be echoed exactly as sent"
        assert reply["status"] == "delivered"
        message = reply["message"]
        assert message["chat_id"] == str(self.world.chat)
        first = self.world.acked.setdefault(request_id, message)
        assert message["id"] == first["id"], "a repeated request_id must acknowledge the same message"
        self.world.first_text.setdefault(request_id, frame["text"])
        assert message["text"] == self.world.first_text[request_id]
        self.world.message_ids.add(uuid.UUID(message["id"]))


def _logged_errors(proc: Proc) -> list[str]:
    bad = []
    for line in proc.output().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            record = {}
        if "Traceback" in line or (isinstance(record, dict) and record.get("level") in ("ERROR", "CRITICAL")):
            bad.append(line[:500])
    return bad


@pytest.fixture
def fuzz_gateway(fuzz_stack: Stack) -> Any:
    """A gateway of its own, with a per-user send limit the fuzzer cannot reach."""
    port = free_port()
    env = {
        **fuzz_stack.env,
        "WS_MESSAGES_PER_SECOND": "100000",
        "WS_FRAMES_PER_SECOND": "100000",
        "LOG_LEVEL": "warning",
    }
    gateway = Proc("gw-fuzz", ["serve", "--port", str(port), "--role", "gateway"], env, port).start(fuzz_stack.log_dir)
    yield gateway
    gateway.stop()


@pytest.mark.timeout(300)
def test_ws_frame_fuzz(fuzz_stack: Stack, fuzz_gateway: Proc) -> None:
    api = fuzz_stack.api.url
    a, b, c, d = (register(api) for _ in range(4))
    chat, foreign = open_chat(api, a, b), open_chat(api, c, d)
    seeded = [
        post_message(fuzz_stack.api.url, a, chat, "seed from A"),
        post_message(fuzz_stack.api.url, b, chat, "seed from B"),
    ]
    post_message(fuzz_stack.api.url, c, foreign, "not yours")
    world = World(uuid.UUID(chat), uuid.UUID(foreign), {uuid.UUID(m["id"]) for m in seeded})
    known = (*(m["id"] for m in seeded), str(uuid.uuid4()))

    partner, victim = Watcher(_connect(fuzz_gateway, b)), Watcher(_connect(fuzz_gateway, c))
    partner.start()
    victim.start()
    with _connect(fuzz_gateway, a) as ws:
        fuzzer = Fuzzer(ws, world)

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(batch=st.lists(seeds(chat, foreign, known), min_size=BATCH, max_size=BATCH))
        def fuzz(batch: list[Seed]) -> None:
            fuzzer.run_batch([frame for i, seed in enumerate(batch) for frame in expand(seed, fuzzer.sent + i)])

        fuzz()
        assert fuzzer.sent >= MIN_FRAMES, fuzzer.sent  # ~10.5-11.8k (seeds expand to 1-17 frames)
        # After everything the same connection still answers, and is still open.
        ws.send('{"type":"ping"}')
        assert json.loads(ws.recv(timeout=5))["type"] == "pong"
        # Every kind of outcome was exercised, valid frames included.
        assert all(fuzzer.outcomes.get(kind, 0) >= 50 for kind in ("message_sent", "pong", "none")), fuzzer.outcomes
        assert fuzzer.outcomes.get("error", 0) >= 5000, fuzzer.outcomes

    acked_ids = {m["id"] for m in world.acked.values()}
    # B saw every stored message exactly once, and is still usable.
    deadline = time.monotonic() + 10
    while len(partner.of("new_message")) < len(acked_ids) and time.monotonic() < deadline:
        time.sleep(0.05)
    delivered = [f["message"]["id"] for f in partner.of("new_message")]
    assert sorted(delivered) == sorted(acked_ids)
    assert partner.ping_pong(), "the partner's connection stopped answering"
    assert not partner.of("error")
    assert {f["type"] for f in partner.frames} <= {"new_message", "typing", "read", "presence", "pong"}
    # The member of the foreign chat received nothing at all.
    assert victim.ping_pong()
    assert [f for f in victim.frames if f["type"] != "pong"] == []
    for watcher in (partner, victim):
        watcher.ws.close()
        watcher.join(5)

    # Stored: the two seeds plus each acknowledged message once, seq without gaps.
    history = history_after(api, b, chat, after_id=seeded[0]["id"])
    assert history[0]["id"] == seeded[1]["id"]
    assert sorted(m["id"] for m in history[1:]) == sorted(acked_ids)
    assert [m["seq"] for m in history] == list(range(2, len(history) + 2))
    texts = {str(m["id"]): m["text"] for m in history}
    for request_id, message in world.acked.items():
        assert texts[message["id"]] == world.first_text[request_id]
    foreign_history = history_after(api, c, foreign)
    assert [m["text"] for m in foreign_history] == ["not yours"]

    # Never a crash: the gateway is alive and logged no error.
    assert fuzz_gateway.popen is not None and fuzz_gateway.popen.poll() is None
    assert _logged_errors(fuzz_gateway) == []
