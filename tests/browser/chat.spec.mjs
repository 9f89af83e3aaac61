// End-to-end test of the NeonChat web client: two browser contexts, two fresh users.
//   NEONCHAT_URL=http://127.0.0.1:8100 node chat.spec.mjs   (or ./run.sh, which starts a server)
// Drives Debian's Chromium (/usr/bin/chromium, override with CHROMIUM_PATH) through playwright-core.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const BASE = (process.env.NEONCHAT_URL || "http://127.0.0.1:8100").replace(/\/$/, "");
// Stack mode: the page comes from the api, the WebSocket goes to the gateway (the client's ?ws= override).
const WS = process.env.NEONCHAT_WS || "";
const HOME = WS ? `${BASE}/?ws=${encodeURIComponent(WS)}` : `${BASE}/`;
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const SHOTS = process.env.SCREENSHOT_DIR
  ? process.env.SCREENSHOT_DIR.replace(/\/?$/, "/")
  : fileURLToPath(new URL("./screenshots/", import.meta.url));
const TIMEOUT = 15_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const rand = () => Math.random().toString(36).slice(2, 8);
const started = Date.now();
const step = (text) => console.log(`• [${((Date.now() - started) / 1000).toFixed(1)}s] ${text}`);

async function launch() {
  // Playwright gives every launch a fresh temporary user-data-dir (and rejects --user-data-dir in args).
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

// One user in one browser context, with the WebSocket frames it received.
async function openUser(browser, name, viewport) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  const user = { name, context, page, frames: [], errors: [] };
  page.on("pageerror", (err) => user.errors.push(String(err)));
  page.on("websocket", (ws) => ws.on("framereceived", ({ payload }) => {
    try { user.frames.push(JSON.parse(payload)); } catch { /* binary or junk */ }
  }));
  return user;
}

async function register(user, password) {
  const { page } = user;
  await page.goto(HOME);
  await page.getByRole("button", { name: "Create an account", exact: true }).click();
  await page.getByLabel("Username", { exact: true }).fill(user.name);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Create account", exact: true }).click();
  await page.locator("#me-name", { hasText: user.name }).waitFor({ state: "attached" });
  await online(page);
}

const online = (page) => page.locator('#conn-status[data-state="online"]').waitFor();
// The <li> of the message whose text is exactly `text` ("mine" or "theirs" when `who` is given).
const bubble = (page, text, who = "") => page.locator(`#messages li.msg${who ? `.${who}` : ""}`)
  .filter({ has: page.locator("p.text").getByText(text, { exact: true }) });

async function send(page, text) {
  const box = page.getByLabel("Message", { exact: true });
  await box.fill(text);
  await box.press("Enter");
}

async function waitFor(predicate, what, timeout = TIMEOUT) {
  const until = Date.now() + timeout;
  while (Date.now() < until) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function main() {
  mkdirSync(SHOTS, { recursive: true });
  const browser = await launch();
  const a = await openUser(browser, `ana_${rand()}`, { width: 1100, height: 680 });
  const b = await openUser(browser, `ben_${rand()}`, { width: 390, height: 740 }); // a phone
  const extra = []; // the group scenario's third user
  try {
    step(`register ${a.name} and ${b.name} through the UI`);
    await register(a, `neon-pass-${rand()}`);
    await register(b, `neon-pass-${rand()}`);

    step("A finds B by username prefix and starts a chat");
    await a.page.getByLabel("Find people by username").fill(b.name.slice(0, 7));
    await a.page.getByRole("button", { name: `Start chat with ${b.name}` }).click();
    await a.page.locator("#chat-title", { hasText: b.name }).waitFor();
    await a.page.locator("#history-state", { hasText: "No messages yet" }).waitFor();

    step("A sends; the optimistic bubble is confirmed by message_sent");
    const hello = `Hello from ${a.name}, привет!`;
    await send(a.page, hello);
    await bubble(a.page, hello, "mine").locator('[data-status="sent"], [data-status="read"]').waitFor();
    const ack = a.frames.find((f) => f.type === "message_sent" && f.message?.text === hello);
    assert.ok(ack, "A got a message_sent frame over the WebSocket");
    assert.match(ack.request_id, UUID);
    assert.equal(await a.page.locator("#messages li.pending").count(), 0, "no optimistic bubble left behind");

    step("B sees the new chat in realtime with an unread badge, opens it and reads");
    const itemOfA = b.page.locator(".chat-item", { hasText: a.name });
    await itemOfA.locator(".badge", { hasText: "1" }).waitFor();
    await itemOfA.locator(".dot.online").waitFor();
    await itemOfA.click();
    await bubble(b.page, hello, "theirs").waitFor();
    await b.page.locator("#chat-sub", { hasText: "online" }).waitFor();

    step("A sees the read mark");
    await bubble(a.page, hello, "mine").locator('[data-status="read"]').waitFor();

    step("B types; A sees the typing indicator");
    const reply = `Hi ${a.name}, realtime works — ура!`;
    const box = b.page.getByLabel("Message", { exact: true });
    await box.pressSequentially(reply, { delay: 15 });
    await a.page.locator("#typing", { hasText: `${b.name} is typing` }).waitFor();
    await a.page.locator(".chat-item-preview.is-typing").waitFor();
    await a.page.screenshot({ path: `${SHOTS}desktop-typing.png` });

    step("B sends the reply; A receives it and the indicator clears");
    await box.press("Enter");
    await bubble(a.page, reply, "theirs").waitFor();
    await waitFor(async () => (await a.page.locator("#typing").textContent()) === "", "typing indicator to clear");
    assert.ok(a.frames.some((f) => f.type === "new_message" && f.message.text === reply));

    step("A edits its message; B sees the edit");
    const edited = `${hello} (edited)`;
    await bubble(a.page, hello, "mine").hover();
    await bubble(a.page, hello, "mine").getByRole("button", { name: "Edit message" }).click();
    await a.page.locator("#edit-bar").waitFor();
    await send(a.page, edited);
    await bubble(b.page, edited, "theirs").locator(".edited").waitFor();

    step("A deletes it; B sees a tombstone");
    a.page.once("dialog", (dialog) => dialog.accept());
    await bubble(a.page, edited, "mine").hover();
    await bubble(a.page, edited, "mine").getByRole("button", { name: "Delete message" }).click();
    await b.page.locator("#messages li.msg.deleted", { hasText: "Message deleted" }).waitFor();
    assert.equal(await bubble(b.page, edited).count(), 0, "deleted text is gone");

    step("A loses the network: B sees A go offline and keeps talking");
    await a.context.setOffline(true);
    await a.page.locator('#conn-status[data-state="offline"]').waitFor();
    await b.page.locator("#chat-sub", { hasText: "offline" }).waitFor();
    const missed = `Sent while ${a.name} was offline`;
    await send(b.page, missed);
    await bubble(b.page, missed, "mine").locator('[data-status="sent"]').waitFor();
    await a.page.waitForTimeout(800);
    assert.equal(await bubble(a.page, missed).count(), 0, "A cannot have it before reconnecting");

    step("A reconnects and resyncs the chat from its last seen seq");
    await a.context.setOffline(false);
    await online(a.page);
    await bubble(a.page, missed, "theirs").waitFor();
    await b.page.locator("#chat-sub", { hasText: "online" }).waitFor();
    await b.page.screenshot({ path: `${SHOTS}phone-chat.png` });

    step("history pages upward (before_id) after a reload; the session survives in localStorage");
    await b.page.evaluate(async ({ chatId, count, wsBase }) => {
      // 60 more messages from B over a second socket, paced under the WS rate limit.
      const { token } = JSON.parse(localStorage.getItem("neonchat.session"));
      const ws = new WebSocket(`${wsBase || `${location.origin.replace(/^http/, "ws")}/ws`}?token=${token}`);
      await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
      let acks = 0;
      const done = new Promise((resolve) => { ws.onmessage = (e) => { if (JSON.parse(e.data).type === "message_sent" && ++acks === count) resolve(); }; });
      for (let i = 1; i <= count; i++) {
        ws.send(JSON.stringify({ type: "message", chat_id: chatId, text: `bulk ${i}`, request_id: crypto.randomUUID() }));
        await new Promise((r) => setTimeout(r, 70));
      }
      await done;
      ws.close();
    }, { chatId: await a.page.locator(".chat-item[aria-current]").getAttribute("data-chat-id"), count: 60, wsBase: WS });
    await bubble(a.page, "bulk 60", "theirs").waitFor();
    // From here on A's socket runs through a proxy that can swallow one new_message frame.
    let swallowNext = false;
    await a.page.routeWebSocket(/\/ws(\?|$)/, (ws) => {
      const server = ws.connectToServer();
      server.onMessage((msg) => {
        if (swallowNext && JSON.parse(String(msg)).type === "new_message") { swallowNext = false; return; }
        ws.send(msg);
      });
    });
    await a.page.reload();
    await online(a.page);
    await a.page.locator(".chat-item", { hasText: b.name }).click();
    await bubble(a.page, "bulk 60").waitFor();
    assert.equal(await a.page.locator("#messages li.msg").count(), 50, "the newest page only");
    await a.page.locator("#messages-scroll").evaluate((s) => { s.scrollTop = 0; });
    await bubble(a.page, "Message deleted").waitFor();
    await a.page.locator("#history-state", { hasText: "Beginning of the conversation" }).waitFor();
    assert.equal(await a.page.locator("#messages li.msg").count(), 63, "all messages after paging up");
    const seqs = await a.page.locator("#messages li.msg").evaluateAll((ns) => ns.map((n) => Number(n.dataset.seq)));
    assert.deepEqual(seqs, Array.from({ length: 63 }, (_, i) => i + 1), "in seq order, no gaps, no duplicates");

    step("a lost new_message frame leaves a seq gap; A notices it on the next one and refetches");
    swallowNext = true;
    await send(b.page, "gap one");
    await bubble(b.page, "gap one", "mine").locator('[data-status="sent"]').waitFor();
    await send(b.page, "gap two");
    await bubble(a.page, "gap two", "theirs").waitFor();
    await bubble(a.page, "gap one", "theirs").waitFor();
    assert.equal(swallowNext, false, "the proxy did drop a frame");
    const after = await a.page.locator("#messages li.msg").evaluateAll((ns) => ns.map((n) => Number(n.dataset.seq)));
    assert.deepEqual(after, Array.from({ length: 65 }, (_, i) => i + 1), "the gap is filled in order");

    step("A searches its messages; the result opens the chat at that message, beyond the newest page");
    await a.page.reload();
    await online(a.page);
    await a.page.getByLabel("Search my messages").fill("Realtime УР");
    const hit = a.page.locator(".msg-hit", { hasText: "realtime works" });
    await hit.waitFor();
    assert.deepEqual(await hit.locator("mark").allTextContents(), ["realtime", "ура"]);
    await hit.click();
    await a.page.locator("#chat-title", { hasText: b.name }).waitFor();
    const target = a.page.locator("#messages li.msg.found", { hasText: "realtime works" });
    await target.waitFor();
    const shown = await target.evaluate((n) => {
      const box = n.getBoundingClientRect();
      const view = document.getElementById("messages-scroll").getBoundingClientRect();
      return box.top >= view.top && box.bottom <= view.bottom;
    });
    assert.ok(shown, "the found message is scrolled into view");
    await a.page.screenshot({ path: `${SHOTS}desktop-search.png` });

    step("a three-person group: A creates it with B, adds C; names on bubbles, events as centred lines");
    const c = await openUser(browser, `cleo_${rand()}`, { width: 1000, height: 680 });
    extra.push(c);
    await register(c, `neon-pass-${rand()}`);
    const title = `Trio ${rand()}`;
    await a.page.getByLabel("Group title").fill(title);
    await a.page.getByLabel("Members (usernames, comma-separated)").fill(b.name);
    await a.page.getByRole("button", { name: "Create group" }).click();
    await a.page.locator("#chat-title", { hasText: title }).waitFor();
    await a.page.locator("#messages li.event-line", { hasText: `You created the group “${title}”` }).waitFor();
    await b.page.getByRole("button", { name: "Back to chats" }).click();
    await b.page.locator(".chat-item", { hasText: title }).click();
    await b.page.locator("#messages li.event-line", { hasText: `${a.name} created the group` }).waitFor();
    assert.ok(b.frames.some((f) => f.type === "chat_created" && f.chat?.title === title), "B got chat_created");
    await a.page.getByLabel("Add people (usernames, comma-separated)").fill(c.name);
    await a.page.getByRole("button", { name: "Add", exact: true }).click();
    await a.page.locator("#messages li.event-line", { hasText: `You added ${c.name}` }).waitFor();
    await a.page.locator("#chat-sub", { hasText: "3 members" }).waitFor();
    await c.page.locator(".chat-item", { hasText: title }).click();
    await c.page.locator("#messages li.event-line", { hasText: `${a.name} added you` }).waitFor();
    const toAll = `Hello group from ${b.name}`;
    await send(b.page, toAll);
    for (const viewer of [a, c]) {
      const got = bubble(viewer.page, toAll, "theirs");
      await got.waitFor();
      assert.equal(await got.locator(".sender").textContent(), b.name, "the sender's name is on the bubble");
    }
    await a.page.screenshot({ path: `${SHOTS}desktop-group.png` });

    step("sign-in screen");
    await b.page.getByRole("button", { name: "Back to chats" }).click();
    await b.page.getByRole("button", { name: "Log out" }).click();
    await b.page.getByRole("heading", { name: "Sign in" }).waitFor();
    await b.page.screenshot({ path: `${SHOTS}phone-sign-in.png` });

    assert.deepEqual([...a.errors, ...b.errors, ...extra.flatMap((u) => u.errors)], [], "no uncaught errors in the pages");
    console.log("PASS");
  } catch (err) {
    for (const u of [a, b]) await u.page.screenshot({ path: `${SHOTS}failure-${u === a ? "a" : "b"}.png` }).catch(() => {});
    throw err;
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  console.error("FAIL:", err);
  process.exitCode = 1;
});
