// chat-memory console: a read-only view of one tenant's memory (deletions after a confirmation), through the same
// public API as any client. The key lives in this tab's sessionStorage only; nothing read is put in a URL, in
// storage or in a log. Every text from the API is set with textContent, never parsed as HTML.
"use strict";

const KEY_STORAGE = "chat-memory-console-key";
const API_ROOT = new URL("api/v2/", document.baseURI);
const SESSIONS_PAGE = 20; // sessions shown per page (the list is read whole, then sorted newest first)
const SESSIONS_READ_LIMIT = 1000; // the API's largest page
const SESSIONS_READ_PAGES = 20; // at most 20,000 sessions read for the list
const HISTORY_PAGE = 50;
const USERS_PAGE = 20;
const SEARCH_LIMIT = 10;

const $ = (id) => document.getElementById(id);
const state = {
  sessions: [], sessionsPage: 0, sessionsCapped: false,
  session: null, historyPage: 1, historyPages: 1,
  users: { tokens: [""], index: 0, next: null },
  user: null,
};

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}
class KeyRefused extends ApiError {}

// --- the API --------------------------------------------------------------------------------------------------

function apiKey() { return sessionStorage.getItem(KEY_STORAGE); }

function seg(id) { return encodeURIComponent(id); }

async function api(method, path, { query = {}, body } = {}) {
  const url = new URL(path, API_ROOT);
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
  }
  const init = { method, headers: { Authorization: `Bearer ${apiKey() || ""}` }, cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new ApiError(0, `the API could not be reached (${err.message})`);
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!response.ok) {
    const message = data && typeof data.message === "string" ? data.message : `${response.status} ${response.statusText}`;
    if (response.status === 401) throw new KeyRefused(401, message);
    throw new ApiError(response.status, message);
  }
  return { data, headers: response.headers };
}

// --- showing things -------------------------------------------------------------------------------------------

const VIEWS = ["login", "sessions-view", "session-view", "users-view", "user-view"];

function show(view) {
  for (const id of VIEWS) $(id).hidden = id !== view;
  $("nav").hidden = view === "login";
  $("nav-sessions").setAttribute("aria-current", view.startsWith("session") ? "page" : "false");
  $("nav-users").setAttribute("aria-current", view.startsWith("user") ? "page" : "false");
  document.body.dataset.view = view;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function askForKey(message) {
  sessionStorage.removeItem(KEY_STORAGE);
  $("api-key").value = "";
  $("login-error").textContent = message || "";
  $("login-error").hidden = !message;
  showError("");
  show("login");
  $("api-key").focus();
}

// Runs an action; an API error shows the API's message, a refused key asks for the key again. While any runs,
// <body data-pending> counts them (what a test waits on, with the view it expects).
let pending = 0;
function setPending(delta) { pending += delta; document.body.dataset.pending = String(pending); }

async function run(action) {
  showError("");
  setPending(1);
  try {
    await action();
  } catch (err) {
    if (err instanceof KeyRefused) askForKey(`The API refused the key: ${err.message}`);
    else if (err instanceof ApiError) showError(err.message);
    else { showError(`console error: ${err.message}`); throw err; }
  } finally {
    setPending(-1);
  }
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function tokens(n) { return `${n} token${n === 1 ? "" : "s"}`; }

function when(timestamp) { return timestamp ? timestamp.replace("T", " ").replace(/\.\d+/, "") : ""; }

function facts(dl, pairs) {
  dl.replaceChildren();
  for (const [name, value] of pairs) {
    if (value === undefined || value === null || value === "") continue;
    dl.append(el("dt", "", name), el("dd", "", typeof value === "string" ? value : JSON.stringify(value)));
  }
}

function emptyRow(list, text) { list.replaceChildren(el("li", "empty", text)); }

function linkRow(li, open) {
  li.classList.add("link");
  li.tabIndex = 0;
  li.addEventListener("click", open);
  li.addEventListener("keydown", (event) => { if (event.key === "Enter") open(); });
  return li;
}

function messageRow(message, number) {
  const li = el("li", "message");
  const head = el("div", "head");
  if (number !== undefined) head.append(el("span", "number", `#${number}`));
  head.append(el("span", "who", message.role || "(no role)"), el("span", "role-type", message.role_type));
  head.append(el("span", "tokens", tokens(message.token_count)), el("span", "time", when(message.created_at)));
  li.dataset.uuid = message.uuid;
  li.append(head, el("div", "content", message.content));
  return li;
}

function sessionRow(session) {
  const li = el("li", "session");
  li.dataset.sessionId = session.session_id;
  const head = el("div", "head");
  head.append(el("span", "who id", session.session_id));
  if (session.user_id) head.append(el("span", "user", `user ${session.user_id}`));
  head.append(el("span", "time", `created ${when(session.created_at)}`));
  li.append(head);
  return linkRow(li, () => run(() => openSession(session.session_id)));
}

// --- sessions -------------------------------------------------------------------------------------------------

async function loadSessions() {
  const all = [];
  let token = "";
  let pages = 0;
  do {
    const { data, headers } = await api("GET", "sessions", { query: { limit: SESSIONS_READ_LIMIT, page_token: token } });
    all.push(...data);
    token = headers.get("X-Next-Page-Token");
    pages += 1;
  } while (token && pages < SESSIONS_READ_PAGES);
  all.sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0));
  state.sessions = all;
  state.sessionsCapped = Boolean(token);
  state.sessionsPage = 0;
  renderSessions();
}

function filteredSessions() {
  const byId = $("filter-session").value.trim().toLowerCase();
  const byUser = $("filter-user").value.trim().toLowerCase();
  return state.sessions.filter((s) =>
    (!byId || s.session_id.toLowerCase().includes(byId)) && (!byUser || (s.user_id || "").toLowerCase().includes(byUser)));
}

function renderSessions() {
  const shown = filteredSessions();
  const pages = Math.max(1, Math.ceil(shown.length / SESSIONS_PAGE));
  state.sessionsPage = Math.min(state.sessionsPage, pages - 1);
  const start = state.sessionsPage * SESSIONS_PAGE;
  const list = $("sessions-list");
  list.replaceChildren(...shown.slice(start, start + SESSIONS_PAGE).map(sessionRow));
  if (!shown.length) emptyRow(list, state.sessions.length ? "No session matches the filter." : "No sessions yet.");
  const capped = state.sessionsCapped ? ` (the first ${state.sessions.length} the API lists)` : "";
  $("sessions-count").textContent = `${shown.length} of ${state.sessions.length}${capped}, newest first`;
  $("sessions-page").textContent = `page ${state.sessionsPage + 1} of ${pages}`;
  $("sessions-prev").disabled = state.sessionsPage === 0;
  $("sessions-next").disabled = state.sessionsPage >= pages - 1;
}

async function showSessions() {
  show("sessions-view");
  await loadSessions();
}

// --- one session ----------------------------------------------------------------------------------------------

async function openSession(sessionId) {
  const { data: session } = await api("GET", `sessions/${seg(sessionId)}`);
  state.session = session;
  $("session-id").textContent = session.session_id;
  facts($("session-facts"), [
    ["user", session.user_id], ["created", when(session.created_at)], ["updated", when(session.updated_at)],
    ["metadata", Object.keys(session.metadata || {}).length ? session.metadata : ""],
  ]);
  $("search-results").replaceChildren();
  $("search-text").value = "";
  show("session-view");
  await loadMemory();
  await loadHistory(1);
}

function maxTokens() { return Number($("max-tokens").value) || 0; }

async function loadMemory() {
  const budget = maxTokens();
  const query = { memoryType: $("memory-type").value };
  if (budget) query.max_tokens = budget;
  const { data: memory, headers } = await api("GET", `sessions/${seg(state.session.session_id)}/memory`, { query });
  const summary = memory.summary;
  const box = $("memory-summary");
  box.hidden = !summary;
  box.replaceChildren();
  if (summary) {
    const head = el("div", "head");
    head.append(el("strong", "", "Summary"), el("span", "tokens", ` · ${tokens(summary.token_count)}`));
    head.append(el("span", "covers", ` · covers the messages up to ${summary.recent_message_uuid}`));
    box.append(head, el("div", "content", summary.content));
  }
  const list = $("memory-messages");
  list.replaceChildren(...memory.messages.map((m) => messageRow(m)));
  if (!memory.messages.length) emptyRow(list, "No message in this memory.");
  const messageTokens = memory.messages.reduce((sum, m) => sum + m.token_count, 0);
  const summaryTokens = summary ? summary.token_count : 0;
  let total = `Total ${tokens(summaryTokens + messageTokens)}: ${memory.messages.length} messages, ${tokens(messageTokens)}`;
  if (summary) total += `; summary ${tokens(summaryTokens)}`;
  if (budget) {
    const sent = headers.get("X-Memory-Tokens");
    const cut = headers.get("X-Memory-Truncated") === "true";
    total += ` (budget ${budget}: ${sent === null ? "?" : sent} sent${cut ? ", cut to fit" : ""})`;
  }
  $("memory-total").textContent = total;
}

async function loadHistory(page) {
  const { data } = await api("GET", `sessions/${seg(state.session.session_id)}/messages`, {
    query: { limit: HISTORY_PAGE, cursor: page },
  });
  state.historyPage = page;
  state.historyPages = Math.max(1, Math.ceil(data.total_count / HISTORY_PAGE));
  const first = (page - 1) * HISTORY_PAGE + 1;
  const list = $("history-messages");
  list.replaceChildren(...data.messages.map((m, i) => messageRow(m, first + i)));
  if (!data.messages.length) emptyRow(list, "No messages.");
  const last = first + data.messages.length - 1;
  $("history-count").textContent = data.messages.length
    ? `messages ${first}–${last} of ${data.total_count}` : `${data.total_count} messages`;
  $("history-page").textContent = `page ${page} of ${state.historyPages}`;
  $("history-prev").disabled = page <= 1;
  $("history-next").disabled = page >= state.historyPages;
}

async function search() {
  const body = { text: $("search-text").value, search_scope: $("search-scope").value, search_type: $("search-type").value };
  const { data: results } = await api("POST", `sessions/${seg(state.session.session_id)}/search`, {
    query: { limit: SEARCH_LIMIT }, body,
  });
  const list = $("search-results");
  list.replaceChildren(...results.map((result) => {
    const li = result.message ? messageRow(result.message) : el("li", "message");
    if (!result.message && result.summary) {
      const head = el("div", "head");
      head.append(el("span", "who", "summary"), el("span", "tokens", tokens(result.summary.token_count)));
      li.append(head, el("div", "content", result.summary.content));
    }
    li.querySelector(".head").prepend(el("span", "score", `score ${Number(result.score).toFixed(3)}`));
    return li;
  }));
  if (!results.length) emptyRow(list, "Nothing found.");
}

async function deleteSession() {
  const id = state.session.session_id;
  if (!window.confirm(`Delete session ${id}, its messages and summaries? This cannot be undone.`)) return;
  await api("DELETE", `sessions/${seg(id)}/memory`);
  state.session = null;
  await showSessions();
}

// --- users ----------------------------------------------------------------------------------------------------

async function loadUsers(index) {
  const users = state.users;
  const { data, headers } = await api("GET", "users", { query: { limit: USERS_PAGE, page_token: users.tokens[index] } });
  users.index = index;
  users.next = headers.get("X-Next-Page-Token");
  users.tokens.length = index + 1;
  if (users.next) users.tokens.push(users.next);
  const list = $("users-list");
  list.replaceChildren(...data.map((user) => {
    const li = el("li", "user");
    li.dataset.userId = user.user_id;
    const head = el("div", "head");
    const name = [user.first_name, user.last_name].filter(Boolean).join(" ");
    head.append(el("span", "who id", user.user_id));
    if (name) head.append(el("span", "", name));
    if (user.email) head.append(el("span", "", user.email));
    head.append(el("span", "time", `created ${when(user.created_at)}`));
    li.append(head);
    return linkRow(li, () => run(() => openUser(user.user_id)));
  }));
  if (!data.length) emptyRow(list, "No users yet.");
  $("users-page").textContent = `page ${index + 1}`;
  $("users-prev").disabled = index === 0;
  $("users-next").disabled = !users.next;
}

async function showUsers() {
  show("users-view");
  state.users = { tokens: [""], index: 0, next: null };
  await loadUsers(0);
}

async function openUser(userId) {
  const { data: user } = await api("GET", `users/${seg(userId)}`);
  state.user = user;
  $("user-id").textContent = user.user_id;
  facts($("user-facts"), [
    ["name", [user.first_name, user.last_name].filter(Boolean).join(" ")], ["email", user.email],
    ["created", when(user.created_at)], ["updated", when(user.updated_at)],
    ["metadata", Object.keys(user.metadata || {}).length ? user.metadata : ""],
  ]);
  const { data: sessions } = await api("GET", `users/${seg(userId)}/sessions`);
  const list = $("user-sessions");
  list.replaceChildren(...sessions.slice().reverse().map(sessionRow));
  if (!sessions.length) emptyRow(list, "No sessions.");
  show("user-view");
}

async function deleteUser() {
  const id = state.user.user_id;
  if (!window.confirm(`Delete user ${id}, all their sessions and those sessions' memory? This cannot be undone.`)) return;
  await api("DELETE", `users/${seg(id)}`);
  state.user = null;
  await showUsers();
}

// --- wiring ---------------------------------------------------------------------------------------------------

function on(id, type, handler) { $(id).addEventListener(type, handler); }

function start() {
  setPending(0);
  on("login-form", "submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
    $("api-key").value = "";
    $("login-error").hidden = true;
    run(showSessions);
  });
  on("forget-key", "click", () => askForKey(""));
  on("nav-sessions", "click", () => run(showSessions));
  on("nav-users", "click", () => run(showUsers));
  on("session-back", "click", () => run(showSessions));
  on("user-back", "click", () => run(showUsers));
  on("sessions-reload", "click", () => run(loadSessions));
  for (const id of ["filter-session", "filter-user"]) on(id, "input", () => { state.sessionsPage = 0; renderSessions(); });
  on("sessions-prev", "click", () => { state.sessionsPage -= 1; renderSessions(); });
  on("sessions-next", "click", () => { state.sessionsPage += 1; renderSessions(); });
  on("memory-type", "change", () => run(loadMemory));
  on("max-tokens", "input", () => { $("max-tokens-value").textContent = maxTokens() ? String(maxTokens()) : "off"; });
  on("max-tokens", "change", () => run(loadMemory));
  on("history-prev", "click", () => run(() => loadHistory(state.historyPage - 1)));
  on("history-next", "click", () => run(() => loadHistory(state.historyPage + 1)));
  on("search-form", "submit", (event) => { event.preventDefault(); run(search); });
  on("session-delete", "click", () => run(deleteSession));
  on("users-prev", "click", () => run(() => loadUsers(state.users.index - 1)));
  on("users-next", "click", () => run(() => loadUsers(state.users.index + 1)));
  on("user-delete", "click", () => run(deleteUser));
  if (apiKey()) run(showSessions);
  else askForKey("");
}

start();
