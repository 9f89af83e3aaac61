"""The apps' imports point one way (README, "Contributing"): a test that fails on any arrow against it.

Domain modules (models, services, selectors, signals, stores...) import only
their own app and the apps below it:

    neonchat (ground) <- accounts, presence (side by side) <- chats <- messaging <- notifier

Transports (REST views and urls, admin, WebSocket consumers and routing, the
gRPC servicer and server, management commands) and the project's wiring
(settings, asgi, urls) sit on top: they may import any app, and no domain module
imports them. A lower app that must tell a higher one sends a signal, or takes
a registration from the higher app's ``AppConfig.ready()``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RANK = {"neonchat": 0, "accounts": 1, "presence": 1, "chats": 2, "messaging": 3, "notifier": 4}
TRANSPORTS = {"apis", "urls", "admin", "consumers", "routing", "servicer", "server", "commands"}
WIRING = ("neonchat.asgi", "neonchat.urls", "neonchat.settings")


def _is_transport(module: str) -> bool:
    return bool(TRANSPORTS.intersection(module.split("."))) or module.startswith(WIRING)


def _allowed(module: str, target: str) -> bool:
    app, target_app = module.split(".", maxsplit=1)[0], target.split(".", maxsplit=1)[0]
    if module.startswith(WIRING):
        return True
    if _is_transport(module):  # on top: any app's domain, its own app's transports, the ground's helpers
        return not _is_transport(target) or target_app in (app, "neonchat")
    return not _is_transport(target) and (target_app == app or RANK[target_app] < RANK[app])


def _modules() -> Iterator[tuple[str, Path]]:
    for app in RANK:
        for path in sorted((ROOT / app).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "tests" in parts or "migrations" in parts:
                continue
            yield ".".join(p for p in parts if p != "__init__"), path


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """Every absolute import of the file, at any depth (functions and TYPE_CHECKING too)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield from ((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)


def arrows_against_layering(modules: list[tuple[str, Path]]) -> list[str]:
    return sorted(
        {
            f"{module}:{line}: {module} -> {target}"
            for module, path in modules
            for line, target in _imports(path)
            if target.split(".")[0] in RANK and not _allowed(module, target)
        }
    )


def test_imports_point_down_the_layers() -> None:
    assert arrows_against_layering(list(_modules())) == []


@pytest.mark.parametrize(
    ("importer", "source", "arrow"),
    [
        ("chats.services", "from messaging.models import Message", "chats.services -> messaging.models.Message"),
        (
            "neonchat.health",
            "from notifier.client import notifier_client",
            "neonchat.health -> notifier.client.notifier_client",
        ),
        ("presence.store", "import accounts.models", "presence.store -> accounts.models"),
        ("messaging.services", "from messaging import consumers", "messaging.services -> messaging.consumers"),
        (
            "chats.apis",
            "from messaging.consumers import ChatConsumer",
            "chats.apis -> messaging.consumers.ChatConsumer",
        ),
    ],
)
def test_an_arrow_against_the_layers_is_reported(tmp_path: Path, importer: str, source: str, arrow: str) -> None:
    path = tmp_path / "module.py"
    path.write_text(source + "\n")
    assert [w.split(": ", 1)[1] for w in arrows_against_layering([(importer, path)])] == [arrow]


@pytest.mark.parametrize(
    ("importer", "source"),
    [
        ("messaging.services", "from chats.selectors import membership_get"),
        ("chats.apis", "from messaging.selectors import chat_list"),
        ("messaging.routing", "from messaging import consumers"),
        ("neonchat.asgi", "from messaging import routing"),
        ("chats.admin", "from neonchat.adminsite import site"),
    ],
)
def test_an_arrow_down_the_layers_passes(tmp_path: Path, importer: str, source: str) -> None:
    path = tmp_path / "module.py"
    path.write_text(source + "\n")
    assert arrows_against_layering([(importer, path)]) == []
