// Kefu's line protocol over GET /ws: one line per WebSocket text frame, the same verbs, errors and login as on TCP
// (protocol/PROTOCOL.md). The board and the workspace are clients like any other; so can yours be.

/** A server line taken apart: `* NAME k=v ... :text` (an event or data line) or `TAG OK|ERR ...` (a completion). */
export function parseLine(line) {
  let text = null;
  let head = line;
  const colon = line.indexOf(" :");
  if (colon >= 0) {
    head = line.slice(0, colon);
    text = unescapeText(line.slice(colon + 2));
  }
  const words = head.split(" ").filter((w) => w.length > 0);
  const fields = {};
  const positional = [];
  for (const word of words.slice(1)) {
    const eq = word.indexOf("=");
    if (eq > 0) fields[word.slice(0, eq)] = word.slice(eq + 1);
    else positional.push(word);
  }
  if (words[0] === "*") return { star: true, name: positional.shift() || "", positional, fields, text };
  return { star: false, tag: words[0], status: positional.shift() || "", positional, fields, text };
}

/** Text as the protocol carries it: a line break is `\n`, a backslash `\\`. */
export function escapeText(text) {
  return text.replace(/\\/g, "\\\\").replace(/\r?\n/g, "\\n");
}

export function unescapeText(text) {
  return text.replace(/\\(\\|n)/g, (_, c) => (c === "n" ? "\n" : "\\"));
}

/** Data lines that belong to the answer of the command whose completion follows them. */
const DATA = new Set(["WAITING", "AGENT", "HISTORY", "EXPLAIN", "CANDIDATE", "OTHERS", "CHAT"]);

export class KefuConnection {
  constructor({ onEvent, onClose }) {
    this.onEvent = onEvent || (() => {});
    this.onClose = onClose || (() => {});
    this.pending = new Map();
    this.data = [];
    this.nextTag = 1;
    this.ws = null;
  }

  /** Opens the WebSocket on this page's host. */
  open() {
    return new Promise((resolve, reject) => {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(`${scheme}//${location.host}/ws`);
      this.ws = ws;
      ws.onopen = () => {
        // The protocol closes a silent connection (idle_timeout_s): a page that only listens says PING.
        this.keepAlive = setInterval(() => this.send("PING").catch(() => {}), 30000);
        resolve();
      };
      ws.onerror = () => reject(new Error("cannot reach kefud"));
      ws.onclose = () => {
        clearInterval(this.keepAlive);
        for (const { reject: fail } of this.pending.values()) fail(new Error("connection closed"));
        this.pending.clear();
        this.onClose();
      };
      ws.onmessage = (message) => this.receive(String(message.data));
    });
  }

  receive(line) {
    const parsed = parseLine(line);
    if (parsed.star) {
      if (DATA.has(parsed.name) && this.pending.size > 0) this.data.push(parsed);
      else this.onEvent(parsed, line);
      return;
    }
    const waiting = this.pending.get(parsed.tag);
    if (!waiting) return;
    this.pending.delete(parsed.tag);
    const lines = this.data;
    this.data = [];
    if (parsed.status === "OK") waiting.resolve({ fields: parsed.fields, lines });
    else waiting.reject(Object.assign(new Error(parsed.text || parsed.positional[0] || "error"), { code: parsed.positional[0] }));
  }

  /** Sends `VERB args` (and `:text`, escaped) and resolves with the completion's fields and the data lines. */
  send(command, text) {
    const tag = `w${this.nextTag++}`;
    const line = `${tag} ${command}` + (text === undefined ? "" : ` :${escapeText(text)}`);
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return reject(new Error("not connected"));
      this.pending.set(tag, { resolve, reject });
      this.ws.send(line);
    });
  }

  login(role, id, token, shop) {
    return this.send(`LOGIN ${role} ${id} ${token}` + (shop ? ` shop=${shop}` : ""));
  }
}

/** `draw` at the next animation frame, once however often it is asked for before then. */
export function onNextFrame(draw) {
  let scheduled = false;
  return () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      draw();
    });
  };
}

/** `mm:ss` (or `h:mm:ss`) of milliseconds. */
export function clock(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${two(m)}:${two(s)}`;
}

/** An element with attributes and children (text or elements). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The login form both pages start with; resolves with the logged-in connection. */
export function loginForm(root, role, onEvent, onClose) {
  return new Promise((resolve) => {
    const error = el("p", { class: "error", id: "login-error" });
    const id = el("input", { id: "login-id", required: true, autocomplete: "username" });
    const token = el("input", { id: "login-token", type: "password", required: true, autocomplete: "current-password" });
    const shop = el("input", { id: "login-shop", placeholder: "default" });
    const form = el(
      "form",
      { class: "login", id: "login-form" },
      el("h1", {}, role === "supervisor" ? "客服主管看板 · Supervisor board" : "客服工作台 · Agent workspace"),
      el("label", {}, "ID ", id),
      el("label", {}, "Token ", token),
      el("label", {}, "Shop ", shop),
      el("button", { type: "submit", id: "login-button" }, "登录 Log in"),
      error,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      const connection = new KefuConnection({ onEvent, onClose });
      try {
        await connection.open();
        const reply = await connection.login(role, id.value.trim(), token.value, shop.value.trim());
        form.remove();
        resolve({ connection, reply });
      } catch (failure) {
        error.textContent = failure.message;
      }
    });
    root.append(form);
    id.focus();
  });
}
