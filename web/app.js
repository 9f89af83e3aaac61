// NeonChat web demo client: plain ES module, no build step.
// REST under /api/v1, one WebSocket (/ws, all of the user's chats) for events.
// The database and the per-chat `seq` are the truth; WebSocket frames are the
// doorbell: on a gap or a reconnect we refetch with ?after_id=<last seen>.

const API = "/api/v1";
const STORE_KEY = "neonchat.session";
const PAGE = 50;
const TYPING_IDLE_MS = 3000; // stop "typing" this long after the last keystroke
const TYPING_REFRESH_MS = 4000; // server forgets typing after 6 s without a refresh
const PARTNER_TYPING_MS = 7000; // hide the partner's indicator if no refresh came
const ACK_TIMEOUT_MS = 8000; // no message_sent by then: retry over REST (same request_id)

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
};

// ---------------------------------------------------------------- state
const state = {
  session: null, // {token, user:{id,username}, expiresAt}
  chats: new Map(), // chat id -> chat (REST shape plus client fields)
  activeId: null,
  ws: null,
  wsCandidates: [],
  wsIndex: 0,
  attempt: 0,
  reconnectTimer: null,
  pingTimer: null,
  connState: "offline",
  pending: new Map(), // request_id -> {chatId, text, node, timer}
  editing: null, // {chatId, id}
  typingSent: { chatId: null, at: 0, timer: null },
};

// ---------------------------------------------------------------- REST
class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || "http_error";
    this.details = err.details || {};
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (state.session) headers.Authorization = `Bearer ${state.session.token}`;
  const res = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    if (res.status === 401 && state.session && !path.startsWith("/auth/")) signOut(false);
    throw new ApiError(res.status, data);
  }
  return data;
}

// ---------------------------------------------------------------- auth
let authMode = "login";

function setAuthMode(mode) {
  authMode = mode;
  const reg = mode === "register";
  $("auth-title").textContent = reg ? "Create an account" : "Sign in";
  $("auth-submit").textContent = reg ? "Create account" : "Sign in";
  $("auth-switch-text").textContent = reg ? "Already have an account?" : "New here?";
  $("auth-toggle").textContent = reg ? "Sign in instead" : "Create an account";
  $("auth-password").autocomplete = reg ? "new-password" : "current-password";
  $("auth-error").textContent = "";
}

function errorText(err) {
  const details = err.details && typeof err.details === "object" ? Object.values(err.details).flat() : [];
  const extra = details.filter((d) => typeof d === "string").join(" ");
  return extra && !err.message.includes(extra) ? `${err.message} ${extra}` : err.message;
}

async function onAuthSubmit(event) {
  event.preventDefault();
  const username = $("auth-username").value.trim();
  const password = $("auth-password").value;
  const errorBox = $("auth-error");
  errorBox.textContent = "";
  if (username.length < 3 || password.length < 6) {
    errorBox.textContent = "Username needs at least 3 characters, password at least 6.";
    return;
  }
  $("auth-submit").disabled = true;
  try {
    if (authMode === "register") await api("POST", "/auth/register", { username, password });
    const login = await api("POST", "/auth/login", { username, password });
    state.session = { token: login.token, user: login.user, expiresAt: Date.now() + login.expires_in * 1000 };
    localStorage.setItem(STORE_KEY, JSON.stringify(state.session));
    $("auth-password").value = "";
    startApp();
  } catch (err) {
    errorBox.textContent = err instanceof ApiError ? errorText(err) : "Cannot reach the server.";
  } finally {
    $("auth-submit").disabled = false;
  }
}

function loadSession() {
  try {
    const s = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
    if (s && s.token && s.user && s.expiresAt > Date.now() + 60_000) return s;
  } catch { /* ignore a corrupt entry */ }
  localStorage.removeItem(STORE_KEY);
  return null;
}

function signOut(callServer = true) {
  if (callServer && state.session) api("POST", "/auth/logout").catch(() => {});
  localStorage.removeItem(STORE_KEY);
  state.session = null;
  disconnect();
  for (const p of state.pending.values()) clearTimeout(p.timer);
  state.pending.clear();
  state.chats.clear();
  state.activeId = null;
  $("chat-list").replaceChildren();
  chatRows.clear();
  $("messages").replaceChildren();
  $("app-view").hidden = true;
  $("auth-view").hidden = false;
  setAuthMode("login");
  $("auth-username").focus();
}

// ---------------------------------------------------------------- app start
async function startApp() {
  $("auth-view").hidden = true;
  $("app-view").hidden = false;
  $("me-name").textContent = state.session.user.username;
  showPane("list");
  connect();
  await loadChats();
}

async function loadChats() {
  try {
    const data = await api("GET", "/chats?limit=100");
    for (const c of data.chats) upsertChat(c);
    renderChatList();
  } catch (err) {
    console.warn("chat list failed", err);
  }
}

function upsertChat(data) {
  let chat = state.chats.get(data.id);
  if (!chat) {
    chat = {
      ...data,
      loaded: false, // history fetched at least once
      messages: new Map(), // id -> message
      bySeq: new Map(), // seq -> id
      nodes: new Map(), // id -> <li>
      contiguousSeq: 0, // every seq from the oldest loaded one up to this is present
      hasPrevious: false,
      loadingOlder: false,
      syncing: null,
      partnerReadSeq: data.partner_last_read_seq || 0,
      myReadSeq: data.last_read_seq || 0,
      partnerTyping: false,
      typingTimer: null,
      presence: data.partner ? (data.partner.online ? "online" : "offline") : "group",
      names: new Map(), // user id -> username (a group's members)
    };
    state.chats.set(data.id, chat);
  } else {
    Object.assign(chat, { partner: data.partner && { ...chat.partner, ...data.partner }, last_message: data.last_message,
      unread_count: data.unread_count, last_seq: Math.max(chat.last_seq, data.last_seq), updated_at: data.updated_at,
      title: data.title, members_count: data.members_count });
    chat.partnerReadSeq = Math.max(chat.partnerReadSeq, data.partner_last_read_seq || 0);
    if (data.partner) chat.presence = data.partner.online ? (chat.presence === "away" ? "away" : "online") : "offline";
  }
  return chat;
}

// ---------------------------------------------------------------- groups
function isGroup(chat) { return chat.kind === "group"; }
function chatName(chat) { return isGroup(chat) ? chat.title : chat.partner.username; }
function senderName(chat, userId) {
  if (userId === state.session.user.id) return "You";
  if (!isGroup(chat)) return chat.partner.username;
  return chat.names.get(userId) || "someone";
}

async function loadMembers(chat) {
  if (!isGroup(chat)) return;
  const page = await api("GET", `/chats/${chat.id}/members?limit=256`);
  for (const m of page.members) chat.names.set(m.id, m.username);
}

function eventText(chat, m) {
  const e = m.event || {};
  const who = senderName(chat, m.sender_id);
  const names = (e.user_ids || []).map((id) => (id === state.session.user.id ? "you" : senderName(chat, id))).join(", ");
  switch (e.type) {
    case "chat_created": return `${who} created the group “${e.title}”`;
    case "member_added": return `${who} added ${names}`;
    case "member_removed": return `${who} removed ${names}`;
    case "member_left": return `${who} left`;
    case "title_changed": return `${who} renamed the group to “${e.title}”`;
    default: return e.type || "event";
  }
}

async function userIdsByName(text) {
  const names = text.split(",").map((n) => n.trim()).filter(Boolean);
  const ids = [];
  for (const name of names) {
    const found = await api("GET", `/users?search=${encodeURIComponent(name)}&limit=20`);
    const user = found.users.find((u) => u.username.toLowerCase() === name.toLowerCase());
    if (!user) throw new Error(`No user named ${name}`);
    ids.push(user.id);
  }
  return ids;
}

async function onGroupSubmit(event) {
  event.preventDefault();
  try {
    const memberIds = await userIdsByName($("group-members").value);
    const data = await api("POST", "/chats", { title: $("group-title").value, member_ids: memberIds });
    $("group-title").value = "";
    $("group-members").value = "";
    upsertChat(data);
    renderChatList();
    await openChat(data.id);
  } catch (err) {
    announce(errorText(err));
  }
}

async function onAddPeopleSubmit(event) {
  event.preventDefault();
  const chat = state.chats.get(state.activeId);
  if (!chat) return;
  try {
    const userIds = await userIdsByName($("add-people-input").value);
    await api("POST", `/chats/${chat.id}/members`, { user_ids: userIds });
    $("add-people-input").value = "";
  } catch (err) {
    announce(errorText(err));
  }
}

function forgetChat(chatId) {
  state.chats.delete(chatId);
  if (state.activeId === chatId) {
    state.activeId = null;
    $("chat-pane").hidden = true;
    $("no-chat").hidden = false;
    showPane("list");
  }
  renderChatList();
}

// A chat we have not seen yet (the partner just started it): fetch it once.
const chatFetches = new Map();
function fetchChat(chatId) {
  if (!chatFetches.has(chatId)) {
    const p = api("GET", `/chats/${chatId}`).then((data) => { const c = upsertChat(data); renderChatList(); return c; });
    chatFetches.set(chatId, p);
    p.catch(() => {}).finally(() => chatFetches.delete(chatId));
  }
  return chatFetches.get(chatId);
}

// ---------------------------------------------------------------- chat list
function initials(name) { return (name || "?").slice(0, 2).toUpperCase(); }
function hue(name) { let h = 0; for (const ch of name || "") h = (h * 31 + ch.charCodeAt(0)) % 360; return h; }
function avatar(node, name) { node.textContent = initials(name); node.style.setProperty("--h", hue(name)); }

function timeLabel(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return d.toLocaleDateString([], { month: "short", day: "numeric" });
}

function previewText(chat) {
  if (chat.partnerTyping) return "typing…";
  const m = chat.last_message;
  if (!m) return "No messages yet";
  if (m.kind === "event") return eventText(chat, m);
  const who = m.sender_id === state.session.user.id ? "You: " : isGroup(chat) ? `${senderName(chat, m.sender_id)}: ` : "";
  return who + (m.deleted ? "Message deleted" : m.text);
}

// Rows are keyed by chat id and updated in place, so a re-render never swallows a click.
const chatRows = new Map(); // chat id -> <li>

function renderChatList() {
  const list = $("chat-list");
  const chats = [...state.chats.values()].sort((a, b) =>
    (b.last_message?.created_at || b.updated_at).localeCompare(a.last_message?.created_at || a.updated_at));
  for (const [id, row] of chatRows) if (!state.chats.has(id)) { row.remove(); chatRows.delete(id); }
  chats.forEach((chat, index) => {
    let li = chatRows.get(chat.id);
    if (!li) {
      li = el("li");
      const btn = el("button", "chat-item");
      btn.type = "button";
      btn.dataset.chatId = chat.id;
      btn.addEventListener("click", () => openChat(chat.id));
      li.append(btn);
      chatRows.set(chat.id, li);
    }
    const btn = li.firstChild;
    if (chat.id === state.activeId) btn.setAttribute("aria-current", "true");
    else btn.removeAttribute("aria-current");
    const av = el("span", "avatar");
    av.setAttribute("aria-hidden", "true");
    avatar(av, chatName(chat));
    if (!isGroup(chat)) av.append(el("span", `dot ${chat.presence}`));
    const body = el("span", "chat-item-body");
    const top = el("span", "chat-item-top");
    top.append(el("span", "chat-item-name", chatName(chat)),
      el("span", "chat-item-time muted", timeLabel(chat.last_message?.created_at)));
    const bottom = el("span", "chat-item-bottom");
    bottom.append(el("span", `chat-item-preview${chat.partnerTyping ? " is-typing" : ""}`, previewText(chat)));
    const unread = chat.unread_count > 0 && chat.id !== state.activeId;
    if (unread) bottom.append(el("span", "badge", String(chat.unread_count)));
    body.append(top, bottom);
    btn.replaceChildren(av, body);
    const label = `${chatName(chat)}, ${chat.presence}${unread ? `, ${chat.unread_count} unread` : ""}`;
    btn.setAttribute("aria-label", `${label}: ${previewText(chat)}`);
    if (list.children[index] !== li) list.insertBefore(li, list.children[index] || null);
  });
  $("chat-list-empty").hidden = chats.length > 0;
}

// ---------------------------------------------------------------- people search
let searchTimer = null;
let searchSeq = 0;

function onSearchInput() {
  clearTimeout(searchTimer);
  const q = $("search-input").value.trim();
  if (!q) { hideSearch(); return; }
  searchTimer = setTimeout(() => runSearch(q), 250);
}

async function runSearch(q) {
  const mine = ++searchSeq;
  const box = $("search-results");
  try {
    const data = await api("GET", `/users?search=${encodeURIComponent(q)}&limit=8`);
    if (mine !== searchSeq) return;
    const users = data.users.filter((u) => u.id !== state.session.user.id);
    const items = users.map((u) => {
      const li = el("li");
      const btn = el("button", "person");
      btn.type = "button";
      btn.dataset.userId = u.id;
      const av = el("span", "avatar avatar-sm");
      av.setAttribute("aria-hidden", "true");
      avatar(av, u.username);
      av.append(el("span", `dot ${u.online ? "online" : "offline"}`));
      btn.append(av, el("span", "person-name", u.username), el("span", "muted small", u.online ? "online" : "start chat"));
      btn.setAttribute("aria-label", `Start chat with ${u.username}`);
      btn.addEventListener("click", () => startChat(u));
      li.append(btn);
      return li;
    });
    if (!items.length) items.push(el("li", "muted small search-none", `No one named “${q}…”`));
    box.replaceChildren(...items);
    box.hidden = false;
  } catch (err) {
    box.replaceChildren(el("li", "form-error", errorText(err)));
    box.hidden = false;
  }
}

function hideSearch() { $("search-results").hidden = true; $("search-results").replaceChildren(); }

async function startChat(user) {
  try {
    const data = await api("POST", "/chats", { partner_id: user.id });
    upsertChat(data);
    $("search-input").value = "";
    hideSearch();
    renderChatList();
    openChat(data.id);
  } catch (err) {
    alert(errorText(err));
  }
}

// ---------------------------------------------------------------- message search
let msgSearchTimer = null;
let msgSearchSeq = 0;
const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#x27;": "'" };
const JUMP_PAGES = 50; // older pages (of 200) fetched at most to reach a found message

function onMsgSearchInput() {
  clearTimeout(msgSearchTimer);
  const q = $("msg-search-input").value.trim();
  if (!q) { hideMsgSearch(); return; }
  msgSearchTimer = setTimeout(() => runMsgSearch(q), 300);
}

function hideMsgSearch() { $("msg-search-results").hidden = true; $("msg-search-results").replaceChildren(); }

// The server HTML-escapes the text and adds only <mark> tags: build nodes from
// it (text nodes and <mark> elements) rather than trusting innerHTML.
function highlightNodes(highlight) {
  const nodes = [];
  let inMark = false;
  for (const part of highlight.split(/(<mark>|<\/mark>)/)) {
    if (part === "<mark>" || part === "</mark>") { inMark = part === "<mark>"; continue; }
    if (!part) continue;
    const text = part.replace(/&(amp|lt|gt|quot|#x27);/g, (e) => ENTITIES[e]);
    nodes.push(inMark ? el("mark", "", text) : document.createTextNode(text));
  }
  return nodes;
}

function msgHitNode(result) {
  const m = result.message;
  const chat = state.chats.get(m.chat_id);
  const partner = chat ? chatName(chat) : "chat";
  const who = m.sender_id === state.session.user.id ? "You" : partner;
  const li = el("li");
  const btn = el("button", "msg-hit");
  btn.type = "button";
  btn.dataset.messageId = m.id;
  const head = el("span", "msg-hit-head");
  head.append(el("strong", "", chat ? partner : who), el("span", "muted", timeLabel(m.created_at)));
  const text = el("p", "msg-hit-text");
  if (chat && who !== partner) text.append(`${who}: `);
  text.append(...highlightNodes(result.highlight));
  btn.append(head, text);
  btn.setAttribute("aria-label", `Open the message in the chat with ${partner}`);
  btn.addEventListener("click", () => openChatAt(m.chat_id, m.id, m.seq));
  li.append(btn);
  return li;
}

async function runMsgSearch(q, beforeId = null) {
  const mine = ++msgSearchSeq;
  const box = $("msg-search-results");
  try {
    const cursor = beforeId ? `&before_id=${beforeId}` : "";
    const data = await api("GET", `/messages/search?q=${encodeURIComponent(q)}&limit=20${cursor}`);
    if (mine !== msgSearchSeq) return;
    const items = data.results.map(msgHitNode);
    if (beforeId) box.querySelector(".msg-more")?.remove();
    else if (!items.length) items.push(el("li", "muted small search-none", `No messages with “${q}”`));
    if (data.has_more) {
      const more = el("button", "btn-link msg-more", "More results");
      more.type = "button";
      const last = data.results[data.results.length - 1].message.id;
      more.addEventListener("click", () => runMsgSearch(q, last));
      const li = el("li", "msg-more");
      li.append(more);
      items.push(li);
    }
    if (beforeId) box.append(...items);
    else box.replaceChildren(...items);
    box.hidden = false;
  } catch (err) {
    if (mine !== msgSearchSeq) return;
    box.replaceChildren(el("li", "form-error", errorText(err)));
    box.hidden = false;
  }
}

// Open a chat scrolled to one message: older pages are fetched until its seq is loaded.
async function openChatAt(chatId, messageId, seq) {
  const chat = state.chats.get(chatId) || await fetchChat(chatId).catch(() => null);
  if (!chat) return;
  await openChat(chatId);
  for (let page = 0; page < JUMP_PAGES && !chat.bySeq.has(seq) && state.activeId === chatId; page++) {
    while (chat.loadingOlder) await new Promise((resolve) => setTimeout(resolve, 50));
    if (chat.bySeq.has(seq) || !chat.hasPrevious) break;
    await loadOlder(chat, 200);
  }
  const node = chat.nodes.get(messageId);
  if (!node || state.activeId !== chatId) { announce("That message could not be shown."); return; }
  node.scrollIntoView({ block: "center" });
  node.classList.add("found");
  setTimeout(() => node.classList.remove("found"), 4000);
}

// ---------------------------------------------------------------- conversation
function showPane(pane) { $("layout").dataset.pane = pane; }

async function openChat(chatId) {
  const chat = state.chats.get(chatId);
  if (!chat) return;
  if (state.activeId && state.activeId !== chatId) stopTyping();
  cancelEdit();
  state.activeId = chatId;
  $("no-chat").hidden = true;
  $("chat-pane").hidden = false;
  showPane("chat");
  renderHeader();
  if (isGroup(chat) && chat.names.size === 0) await loadMembers(chat).catch(() => {});
  const list = $("messages");
  list.setAttribute("aria-live", "off"); // do not read the whole history aloud
  list.replaceChildren();
  chat.nodes.clear();
  $("jump").hidden = true;
  renderTyping();
  renderChatList();
  if (!chat.loaded) {
    $("history-state").textContent = "Loading…";
    await fetchNewest(chat);
  } else {
    for (const id of orderedIds(chat)) placeNode(chat, chat.messages.get(id), true);
    for (const p of state.pending.values()) if (p.chatId === chatId) list.append(p.node);
    resync(chat);
  }
  if (state.activeId !== chatId) return;
  list.setAttribute("aria-live", "polite");
  updateHistoryState(chat);
  scrollToBottom();
  maybeLoadOlder();
  markRead(chat);
  $("composer-input").focus();
}

function renderHeader() {
  const chat = state.chats.get(state.activeId);
  if (!chat) return;
  $("chat-title").textContent = chatName(chat);
  avatar($("chat-avatar"), chatName(chat));
  $("add-people-form").hidden = !isGroup(chat);
  if (isGroup(chat)) {
    $("chat-sub").textContent = `${chat.members_count} members`;
    return;
  }
  const dot = el("span", `dot ${chat.presence}`);
  $("chat-avatar").append(dot);
  $("chat-sub").textContent = chat.presence;
}

function orderedIds(chat) { return [...chat.bySeq.keys()].sort((a, b) => a - b).map((s) => chat.bySeq.get(s)); }

async function fetchNewest(chat) {
  try {
    const data = await api("GET", `/chats/${chat.id}/messages?limit=${PAGE}`);
    chat.loaded = true;
    chat.hasPrevious = data.has_previous;
    if (data.messages.length) chat.contiguousSeq = data.messages[0].seq - 1;
    for (const m of data.messages) addMessage(chat, m);
    if (chat.last_seq > chat.contiguousSeq) resync(chat); // something arrived while we were loading
  } catch (err) {
    $("history-state").textContent = `Could not load messages: ${errorText(err)}`;
  }
}

function updateHistoryState(chat) {
  const text = chat.loadingOlder ? "Loading earlier messages…"
    : chat.hasPrevious ? "" : chat.messages.size ? "Beginning of the conversation" : "No messages yet. Say hi!";
  $("history-state").textContent = text;
}

async function loadOlder(chat, limit = PAGE) {
  if (chat.loadingOlder || !chat.hasPrevious) return;
  const oldest = orderedIds(chat)[0];
  if (!oldest) return;
  chat.loadingOlder = true;
  updateHistoryState(chat);
  const scroller = $("messages-scroll");
  try {
    const data = await api("GET", `/chats/${chat.id}/messages?limit=${limit}&before_id=${oldest}`);
    chat.hasPrevious = data.has_previous;
    const visible = state.activeId === chat.id;
    const before = scroller.scrollHeight;
    if (visible) $("messages").setAttribute("aria-live", "off");
    for (const m of data.messages) addMessage(chat, m, { silent: true });
    if (visible) {
      $("messages").setAttribute("aria-live", "polite");
      scroller.scrollTop += scroller.scrollHeight - before; // keep the reader's place
    }
  } catch (err) {
    console.warn("older page failed", err);
  } finally {
    chat.loadingOlder = false;
    if (state.activeId === chat.id) updateHistoryState(chat);
  }
  maybeLoadOlder();
}

function maybeLoadOlder() {
  const chat = state.chats.get(state.activeId);
  const scroller = $("messages-scroll");
  if (chat && chat.hasPrevious && scroller.scrollTop < 120) loadOlder(chat);
}

// Insert or update one confirmed message (from REST, ack or event).
function addMessage(chat, m, { silent = false } = {}) {
  const known = chat.messages.get(m.id);
  if (known && known.updated_at > m.updated_at && !m.deleted) return; // stale copy
  chat.messages.set(m.id, { ...known, ...m });
  chat.bySeq.set(m.seq, m.id);
  while (chat.bySeq.has(chat.contiguousSeq + 1)) chat.contiguousSeq += 1;
  if (m.seq > chat.last_seq) chat.last_seq = m.seq;
  const last = chat.last_message;
  if (!last || last.id === m.id || m.seq >= chat.last_seq) {
    chat.last_message = { id: m.id, text: m.text, sender_id: m.sender_id, created_at: m.created_at, deleted: m.deleted,
      kind: m.kind, event: m.event };
  }
  if (m.sender_id === state.session.user.id) chat.myReadSeq = Math.max(chat.myReadSeq, m.seq);
  if (chat.id === state.activeId) {
    placeNode(chat, chat.messages.get(m.id), silent);
    if (!silent) updateHistoryState(chat);
  }
}

function messageNode(chat, m) {
  if (m.kind === "event") { // membership and title changes: a centred line, no actions
    const line = el("li", "event-line", eventText(chat, m));
    line.dataset.id = m.id;
    line.dataset.seq = m.seq;
    return line;
  }
  const mine = m.sender_id === state.session.user.id;
  const li = el("li", `msg ${mine ? "mine" : "theirs"}${m.deleted ? " deleted" : ""}`);
  li.dataset.id = m.id;
  li.dataset.seq = m.seq;
  if (mine && !m.deleted) li.tabIndex = 0; // focus (or tap) reveals Edit/Delete
  const bubble = el("div", "bubble");
  const who = isGroup(chat) && !mine
    ? el("span", "sender", senderName(chat, m.sender_id))
    : el("span", "visually-hidden", mine ? "You: " : `${senderName(chat, m.sender_id)}: `);
  const text = el("p", "text", m.deleted ? "Message deleted" : m.text);
  bubble.append(who, text);
  const meta = el("div", "meta");
  const time = el("time", "", timeLabel(m.created_at));
  time.dateTime = m.created_at;
  meta.append(time);
  if (!m.deleted && m.updated_at !== m.created_at) meta.append(el("span", "edited", "edited"));
  if (mine && !m.deleted) {
    const read = m.seq <= chat.partnerReadSeq;
    const status = el("span", `status ${read ? "read" : "sent"}`, read ? "✓✓ read" : "✓ sent");
    status.dataset.status = read ? "read" : "sent";
    meta.append(status);
  }
  bubble.append(meta);
  li.append(bubble);
  if (mine && !m.deleted) {
    const actions = el("div", "actions");
    const edit = el("button", "btn-icon", "Edit");
    edit.type = "button";
    edit.setAttribute("aria-label", "Edit message");
    edit.addEventListener("click", () => beginEdit(chat.id, m.id));
    const del = el("button", "btn-icon danger", "Delete");
    del.type = "button";
    del.setAttribute("aria-label", "Delete message");
    del.addEventListener("click", () => deleteMessage(chat.id, m.id));
    actions.append(edit, del);
    li.append(actions);
  }
  return li;
}

function placeNode(chat, m, silent = false) {
  const list = $("messages");
  const node = messageNode(chat, m);
  const old = chat.nodes.get(m.id);
  chat.nodes.set(m.id, node);
  if (old && old.isConnected) { old.replaceWith(node); return; }
  const atBottom = isNearBottom();
  let before = null;
  for (const child of list.children) {
    if (child.classList.contains("pending") || Number(child.dataset.seq) > m.seq) { before = child; break; }
  }
  list.insertBefore(node, before);
  if (silent) return;
  if (atBottom || m.sender_id === state.session.user.id) scrollToBottom();
  else $("jump").hidden = false;
}

// The open chat is really on screen (phones show either the list or the chat).
function chatOnScreen(chat) {
  return !!chat && chat.id === state.activeId && $("chat-pane").offsetParent !== null
    && document.visibilityState === "visible";
}

function isNearBottom() {
  const s = $("messages-scroll");
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

function scrollToBottom() {
  const s = $("messages-scroll");
  s.scrollTop = s.scrollHeight;
  $("jump").hidden = true;
}

function refreshStatuses(chat) {
  if (chat.id !== state.activeId) return;
  for (const [id, node] of chat.nodes) {
    const m = chat.messages.get(id);
    const status = node.querySelector(".status");
    if (!m || !status) continue;
    const read = m.seq <= chat.partnerReadSeq;
    status.className = `status ${read ? "read" : "sent"}`;
    status.dataset.status = read ? "read" : "sent";
    status.textContent = read ? "✓✓ read" : "✓ sent";
  }
}

// Send a read mark for the newest message once it is actually on screen.
function markRead(chat) {
  if (!chatOnScreen(chat) || !isNearBottom()) return;
  const ids = orderedIds(chat);
  const newest = ids.length ? chat.messages.get(ids[ids.length - 1]) : null;
  if (!newest || newest.seq <= chat.myReadSeq) {
    if (chat.unread_count) { chat.unread_count = 0; renderChatList(); }
    return;
  }
  chat.myReadSeq = newest.seq;
  chat.unread_count = 0;
  renderChatList();
  if (!sendFrame({ type: "read", chat_id: chat.id, message_id: newest.id })) {
    api("POST", `/chats/${chat.id}/read`, { message_id: newest.id }).catch(() => { chat.myReadSeq = 0; });
  }
}

// Fetch everything after the last contiguous seq; loops until has_next is false.
function resync(chat) {
  if (!chat.loaded) return Promise.resolve();
  if (chat.syncing) { chat.resyncAgain = true; return chat.syncing; }
  chat.syncing = (async () => {
    try {
      for (let guard = 0; guard < 50; guard++) {
        const cursor = chat.bySeq.get(chat.contiguousSeq);
        const path = cursor ? `after_id=${cursor}&limit=200` : `limit=${PAGE}`;
        const data = await api("GET", `/chats/${chat.id}/messages?${path}`);
        if (!cursor && data.messages.length) {
          chat.contiguousSeq = data.messages[0].seq - 1;
          chat.hasPrevious = data.has_previous;
        }
        for (const m of data.messages) addMessage(chat, m);
        if (!data.has_next || !data.messages.length) break;
      }
    } catch (err) {
      console.warn("resync failed", err);
    } finally {
      chat.syncing = null;
    }
    if (chat.resyncAgain) { chat.resyncAgain = false; await resync(chat); }
    if (chat.id === state.activeId) { updateHistoryState(chat); markRead(chat); }
    renderChatList();
  })();
  return chat.syncing;
}

// A seq beyond what we hold: give in-flight frames a moment, then refetch.
function checkGap(chat) {
  const maxSeq = Math.max(0, ...chat.bySeq.keys());
  if (!chat.loaded || maxSeq <= chat.contiguousSeq || chat.gapTimer) return;
  chat.gapTimer = setTimeout(() => {
    chat.gapTimer = null;
    if (Math.max(0, ...chat.bySeq.keys()) > chat.contiguousSeq) resync(chat);
  }, 400);
}

// ---------------------------------------------------------------- sending
function onComposerSubmit(event) {
  event.preventDefault();
  const input = $("composer-input");
  const text = input.value;
  if (!text.trim() || !state.activeId) return;
  if (state.editing) { saveEdit(text); return; }
  const chat = state.chats.get(state.activeId);
  input.value = "";
  autosize();
  stopTyping();
  sendMessage(chat, text, crypto.randomUUID());
}

function sendMessage(chat, text, requestId) {
  const node = el("li", "msg mine pending");
  node.dataset.requestId = requestId;
  const bubble = el("div", "bubble");
  const meta = el("div", "meta");
  const status = el("span", "status", "sending…");
  status.dataset.status = "sending";
  meta.append(status);
  bubble.append(el("span", "visually-hidden", "You: "), el("p", "text", text), meta);
  node.append(bubble);
  const entry = { chatId: chat.id, text, node, timer: null };
  state.pending.set(requestId, entry);
  if (chat.id === state.activeId) { $("messages").append(node); scrollToBottom(); }
  transmit(requestId);
}

function transmit(requestId) {
  const entry = state.pending.get(requestId);
  if (!entry) return;
  clearTimeout(entry.timer);
  const frame = { type: "message", chat_id: entry.chatId, text: entry.text, request_id: requestId };
  if (sendFrame(frame)) {
    entry.timer = setTimeout(() => sendViaRest(requestId), ACK_TIMEOUT_MS);
  } else {
    sendViaRest(requestId);
  }
}

async function sendViaRest(requestId) {
  const entry = state.pending.get(requestId);
  if (!entry) return;
  try {
    const m = await api("POST", `/chats/${entry.chatId}/messages`, { text: entry.text, request_id: requestId });
    confirmSent(requestId, m);
  } catch (err) {
    if (err instanceof ApiError && err.status < 500 && err.status !== 429) failSend(requestId, errorText(err));
    else entry.timer = setTimeout(() => transmit(requestId), 3000); // offline: try again when possible
  }
}

function confirmSent(requestId, m) {
  const entry = state.pending.get(requestId);
  if (!entry) return; // already confirmed by the other path
  clearTimeout(entry.timer);
  state.pending.delete(requestId);
  entry.node.remove();
  const chat = state.chats.get(m.chat_id);
  if (!chat) return;
  if (chat.loaded) { addMessage(chat, m); checkGap(chat); }
  else chat.last_message = { ...m };
  renderChatList();
}

function failSend(requestId, reason) {
  const entry = state.pending.get(requestId);
  if (!entry) return;
  clearTimeout(entry.timer);
  entry.node.classList.add("failed");
  const status = entry.node.querySelector(".status");
  status.textContent = `not sent: ${reason}`;
  status.dataset.status = "failed";
  if (!entry.node.querySelector(".retry")) {
    const retry = el("button", "btn-link retry", "Retry");
    retry.type = "button";
    retry.addEventListener("click", () => {
      entry.node.classList.remove("failed");
      status.textContent = "sending…";
      status.dataset.status = "sending";
      retry.remove();
      transmit(requestId);
    });
    entry.node.querySelector(".meta").append(retry);
  }
}

// ---------------------------------------------------------------- edit / delete
function beginEdit(chatId, id) {
  const chat = state.chats.get(chatId);
  const m = chat?.messages.get(id);
  if (!m || m.deleted) return;
  state.editing = { chatId, id };
  $("edit-bar").hidden = false;
  $("send").textContent = "Save";
  const input = $("composer-input");
  input.value = m.text;
  autosize();
  input.focus();
}

function cancelEdit() {
  if (!state.editing) return;
  state.editing = null;
  $("edit-bar").hidden = true;
  $("send").textContent = "Send";
  $("composer-input").value = "";
  autosize();
}

async function saveEdit(text) {
  const { chatId, id } = state.editing;
  const chat = state.chats.get(chatId);
  try {
    const m = await api("PATCH", `/chats/${chatId}/messages/${id}`, { text });
    cancelEdit();
    addMessage(chat, m, { silent: true });
    renderChatList();
  } catch (err) {
    alert(`Could not edit: ${errorText(err)}`);
  }
}

async function deleteMessage(chatId, id) {
  if (!confirm("Delete this message for everyone?")) return;
  const chat = state.chats.get(chatId);
  try {
    await api("DELETE", `/chats/${chatId}/messages/${id}`);
    applyDeleted(chat, id);
  } catch (err) {
    alert(`Could not delete: ${errorText(err)}`);
  }
}

function applyDeleted(chat, id) {
  const m = chat.messages.get(id);
  if (m) addMessage(chat, { ...m, text: "", deleted: true }, { silent: true });
  if (chat.last_message?.id === id) chat.last_message = { ...chat.last_message, text: "", deleted: true };
  if (state.editing?.id === id) cancelEdit();
  renderChatList();
}

// ---------------------------------------------------------------- typing
function onComposerInput() {
  autosize();
  if (state.editing || !state.activeId) return;
  const t = state.typingSent;
  const now = Date.now();
  if (!$("composer-input").value) { stopTyping(); return; }
  if (t.chatId !== state.activeId || now - t.at > TYPING_REFRESH_MS) {
    if (sendFrame({ type: "typing", chat_id: state.activeId, is_typing: true })) {
      t.chatId = state.activeId;
      t.at = now;
    }
  }
  clearTimeout(t.timer);
  t.timer = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  const t = state.typingSent;
  clearTimeout(t.timer);
  if (t.chatId) sendFrame({ type: "typing", chat_id: t.chatId, is_typing: false });
  t.chatId = null;
  t.at = 0;
}

function setPartnerTyping(chat, on) {
  clearTimeout(chat.typingTimer);
  chat.partnerTyping = on;
  if (on) chat.typingTimer = setTimeout(() => setPartnerTyping(chat, false), PARTNER_TYPING_MS);
  if (chat.id === state.activeId) renderTyping();
  renderChatList();
}

function renderTyping() {
  const chat = state.chats.get(state.activeId);
  $("typing").textContent = chat && chat.partnerTyping ? `${senderName(chat, chat.typingUser)} is typing…` : "";
}

function autosize() {
  const input = $("composer-input");
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
}

// ---------------------------------------------------------------- WebSocket
function wsCandidates() {
  const override = new URLSearchParams(location.search).get("ws") || window.NEONCHAT_WS;
  if (override) return [override];
  // No override (?ws= or the api's PUBLIC_WS_URL): the page's own origin, which serves /ws too.
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return [`${proto}//${location.host}/ws`];
}

function setConn(next, detail = "") {
  state.connState = next;
  const box = $("conn-status");
  box.dataset.state = next;
  $("conn-text").textContent = detail ? `${next} · ${detail}` : next;
}

function connect() {
  if (!state.session) return;
  clearTimeout(state.reconnectTimer);
  if (!state.wsCandidates.length) state.wsCandidates = wsCandidates();
  if (!navigator.onLine) { setConn("offline", "no network"); return; }
  if (state.ws) { const old = state.ws; state.ws = null; old.close(1000); }
  setConn("connecting");
  const base = state.wsCandidates[state.wsIndex];
  const url = `${base}${base.includes("?") ? "&" : "?"}token=${encodeURIComponent(state.session.token)}`;
  let opened = false;
  let ws;
  try { ws = new WebSocket(url); } catch { scheduleReconnect(); return; }
  state.ws = ws;
  ws.onopen = () => {
    opened = true;
    state.attempt = 0;
    setConn("online");
    clearInterval(state.pingTimer);
    state.pingTimer = setInterval(() => sendFrame({ type: "ping" }), 25_000);
    if (document.visibilityState !== "visible") sendFrame({ type: "presence", status: "away" });
    onReconnected();
  };
  ws.onmessage = (event) => {
    let frame;
    try { frame = JSON.parse(event.data); } catch { return; }
    handleFrame(frame);
  };
  ws.onclose = (event) => {
    if (state.ws !== ws) return; // superseded or closed on purpose
    state.ws = null;
    clearInterval(state.pingTimer);
    if (event.code === 4401) { signOut(false); return; } // token expired or revoked
    if (!opened) {
      // Refused before opening: try the next candidate (stack mode's gateway port) at once.
      state.wsIndex = (state.wsIndex + 1) % state.wsCandidates.length;
      if (state.wsIndex !== 0) { connect(); return; }
    }
    scheduleReconnect();
  };
}

function scheduleReconnect() {
  if (!state.session) return;
  const delay = Math.min(30_000, 500 * 2 ** state.attempt) * (0.75 + Math.random() * 0.5);
  state.attempt += 1;
  setConn("offline", `retrying in ${Math.max(1, Math.round(delay / 1000))}s`);
  clearTimeout(state.reconnectTimer);
  state.reconnectTimer = setTimeout(connect, delay);
}

function disconnect() {
  clearTimeout(state.reconnectTimer);
  clearInterval(state.pingTimer);
  const ws = state.ws;
  state.ws = null;
  if (ws) ws.close(1000);
  setConn("offline");
}

function sendFrame(frame) {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
  state.ws.send(JSON.stringify(frame));
  return true;
}

// After (re)connecting: catch up on everything missed, then resend unacknowledged messages.
async function onReconnected() {
  await loadChats();
  await Promise.all([...state.chats.values()].filter((c) => c.loaded).map((c) => resync(c)));
  for (const requestId of state.pending.keys()) transmit(requestId);
}

async function handleFrame(frame) {
  switch (frame.type) {
    case "message_sent":
      confirmSent(frame.request_id, frame.message);
      break;
    case "new_message": {
      const m = frame.message;
      let chat = state.chats.get(m.chat_id);
      let fresh = true;
      if (!chat) {
        chat = await fetchChat(m.chat_id).catch(() => null);
        if (!chat) return;
        fresh = false; // its unread_count already counts this message
      }
      fresh = fresh && !chat.messages.has(m.id);
      if (chat.loaded) { addMessage(chat, m); checkGap(chat); }
      else {
        chat.last_message = { id: m.id, text: m.text, sender_id: m.sender_id, created_at: m.created_at, deleted: false,
          kind: m.kind, event: m.event };
        chat.last_seq = Math.max(chat.last_seq, m.seq);
      }
      if (m.sender_id !== state.session.user.id) {
        if (chat.partnerTyping) setPartnerTyping(chat, false);
        if (fresh && m.kind !== "event" && (!chatOnScreen(chat) || !isNearBottom())) {
          chat.unread_count += 1;
        }
        markRead(chat);
      }
      renderChatList();
      break;
    }
    case "message_updated": {
      const chat = state.chats.get(frame.message.chat_id);
      if (!chat) return;
      if (chat.loaded && chat.messages.has(frame.message.id)) addMessage(chat, frame.message, { silent: true });
      if (chat.last_message?.id === frame.message.id) chat.last_message.text = frame.message.text;
      renderChatList();
      break;
    }
    case "message_deleted": {
      const chat = state.chats.get(frame.chat_id);
      if (chat) applyDeleted(chat, frame.message_id);
      break;
    }
    case "typing": {
      const chat = state.chats.get(frame.chat_id);
      if (chat && frame.user_id !== state.session.user.id) {
        chat.typingUser = frame.user_id;
        setPartnerTyping(chat, !!frame.is_typing);
      }
      break;
    }
    case "read": {
      const chat = state.chats.get(frame.chat_id);
      if (!chat || frame.user_id === state.session.user.id) return;
      chat.partnerReadSeq = Math.max(chat.partnerReadSeq, frame.seq || 0);
      refreshStatuses(chat);
      break;
    }
    case "presence": {
      const status = { user_online: "online", user_away: "away", user_offline: "offline" }[frame.event] || "offline";
      for (const chat of state.chats.values()) {
        if (!chat.partner || chat.partner.id !== frame.user_id) continue;
        chat.presence = status;
        chat.partner.online = status !== "offline";
        if (chat.id === state.activeId) renderHeader();
      }
      renderChatList();
      break;
    }
    case "error":
      if (frame.request_id && state.pending.has(frame.request_id)) failSend(frame.request_id, frame.message);
      else console.warn("server error frame", frame);
      break;
    case "system":
      announce(frame.text);
      break;
    case "chat_created":
    case "chat_updated": {
      const chat = upsertChat(frame.chat);
      await loadMembers(chat).catch(() => {});
      if (chat.id === state.activeId) {
        renderHeader();
        for (const id of orderedIds(chat)) placeNode(chat, chat.messages.get(id), true);
      }
      renderChatList();
      break;
    }
    case "chat_removed":
      forgetChat(frame.chat_id);
      break;
    default:
      break; // pong and future frame types
  }
}

function announce(text) {
  const note = el("div", "toast", text);
  note.setAttribute("role", "status");
  document.body.append(note);
  setTimeout(() => note.remove(), 6000);
}

// ---------------------------------------------------------------- wiring
function wire() {
  $("auth-form").addEventListener("submit", onAuthSubmit);
  $("auth-toggle").addEventListener("click", () => setAuthMode(authMode === "login" ? "register" : "login"));
  $("logout").addEventListener("click", () => signOut(true));
  $("search-input").addEventListener("input", onSearchInput);
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); onSearchInput(); });
  $("search-input").addEventListener("keydown", (e) => { if (e.key === "Escape") { e.target.value = ""; hideSearch(); } });
  $("msg-search-input").addEventListener("input", onMsgSearchInput);
  $("msg-search-form").addEventListener("submit", (e) => { e.preventDefault(); onMsgSearchInput(); });
  $("msg-search-input").addEventListener("keydown", (e) => { if (e.key === "Escape") { e.target.value = ""; hideMsgSearch(); } });
  $("composer").addEventListener("submit", onComposerSubmit);
  $("group-form").addEventListener("submit", onGroupSubmit);
  $("add-people-form").addEventListener("submit", onAddPeopleSubmit);
  $("composer-input").addEventListener("input", onComposerInput);
  $("composer-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("composer").requestSubmit(); }
    if (e.key === "Escape") cancelEdit();
  });
  $("edit-cancel").addEventListener("click", cancelEdit);
  $("back").addEventListener("click", () => {
    stopTyping();
    cancelEdit();
    state.activeId = null;
    showPane("list");
    renderChatList();
  });
  $("jump").addEventListener("click", () => { scrollToBottom(); markRead(state.chats.get(state.activeId)); });
  $("messages-scroll").addEventListener("scroll", () => {
    maybeLoadOlder();
    if (isNearBottom()) { $("jump").hidden = true; markRead(state.chats.get(state.activeId)); }
  }, { passive: true });
  document.addEventListener("visibilitychange", () => {
    const visible = document.visibilityState === "visible";
    sendFrame({ type: "presence", status: visible ? "online" : "away" });
    if (visible) markRead(state.chats.get(state.activeId));
  });
  window.addEventListener("offline", () => { disconnect(); setConn("offline", "no network"); });
  window.addEventListener("online", () => { state.attempt = 0; connect(); });
}

wire();
state.session = loadSession();
if (state.session) startApp();
else { $("auth-view").hidden = false; setAuthMode("login"); }
