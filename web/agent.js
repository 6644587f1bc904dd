// The agent workspace: an agent works a shift here with nothing else installed. Its chats, each with the SLA
// countdown (DUE gives the round's absolute deadline, business hours included), the buyer's messages live, answers
// (Chinese, emoji, line breaks), canned replies (sent auto=1: they are no human answer), notes, transfer with a
// reason, hold, close and handover at the end of the shift.
import { clock, el, loginForm, onNextFrame } from "/static/kefu.js";

const app = document.getElementById("app");
/** Redraws once per frame however many lines came. */
const render = onNextFrame(() => draw());
const chats = new Map();
let selected = null;
let connection = null;
let presence = "offline";
const CANNED = JSON.parse(localStorage.getItem("kefu.canned") || "null") || [
  "亲,在的,请问有什么可以帮您?",
  "亲,请稍等,我帮您查一下~",
  "感谢您的耐心等待,祝您购物愉快!",
];

function chat(id) {
  if (!chats.has(id)) chats.set(id, { id, customer: "", skill: "", messages: [], unread: 0, dueAt: null, warned: false, closed: null });
  return chats.get(id);
}

function onEvent(event) {
  const f = event.fields;
  switch (event.name) {
    case "ASSIGNED": {
      const c = chat(f.conv);
      Object.assign(c, { customer: f.customer, skill: f.skill, closed: null });
      if (f.resumed === "1") loadHistory(c);
      else c.messages.push({ from: "customer", text: event.text });
      c.unread += 1;
      refreshDue(c);
      notice(`新会话 New chat ${f.conv}`);
      break;
    }
    case "MSG": {
      const c = chat(f.conv);
      c.messages.push({ from: f.from, text: event.text, auto: f.auto === "1" });
      if (f.from === "customer") {
        if (selected !== c.id) c.unread += 1;
        refreshDue(c);
        notice(`新消息 ${c.customer || f.conv}`);
      }
      break;
    }
    case "NOTE":
      chat(f.conv).messages.push({ from: "note", text: `备注 ${f.author}: ${event.text}` });
      break;
    case "SLA-WARN": {
      const c = chat(f.conv);
      c.warned = true;
      c.dueAt = Date.now() + Number(f.left_ms);
      notice(`即将超时 ${f.conv}`);
      break;
    }
    case "REVOKED":
      chats.delete(f.conv);
      if (selected === f.conv) selected = null;
      break;
    case "CLOSED":
      chat(f.conv).closed = f.by;
      break;
    case "PRESENCE":
      presence = event.positional[0] || presence;
      break;
  }
  render();
}

/** A new chat or message makes itself noticed: the title, and a beep if the agent turned sound on. */
function notice(text) {
  if (document.hasFocus() && selected) return;
  document.title = `● ${text} · Kefu`;
  if (document.getElementById("sound")?.checked) {
    const audio = new AudioContext();
    const beep = audio.createOscillator();
    beep.connect(audio.destination);
    beep.start();
    beep.stop(audio.currentTime + 0.15);
  }
}

async function refreshDue(c) {
  try {
    const { fields } = await connection.send(`DUE ${c.id}`);
    c.dueAt = fields.due_in_ms === "-" ? null : Date.now() + Number(fields.due_in_ms);
    c.warned = fields.warned === "1";
    c.held = fields.held === "1";
  } catch {
    /* the chat moved on meanwhile */
  }
  render();
}

async function loadHistory(c) {
  try {
    const { lines } = await connection.send(`HISTORY ${c.id}`);
    c.messages = lines.map((l) => ({ from: l.fields.from, text: l.text, auto: l.fields.auto === "1" }));
  } catch {
    /* not ours any more */
  }
  render();
}


function countdown(c) {
  const node = el("span", { class: "countdown", "data-conv": c.id });
  paint(node, c);
  return node;
}

/** The countdown's text and colour now: amber once warned, red past the deadline. */
function paint(node, c) {
  let text;
  let state = "";
  if (c.closed) text = `已结束 closed by ${c.closed}`;
  else if (c.dueAt === null) text = "已回复 answered";
  else {
    const left = c.dueAt - Date.now();
    state = left <= 0 ? "red" : c.warned ? "amber" : "";
    text = left <= 0 ? `超时 late ${clock(-left)}` : `剩余 ${clock(left)}`;
    node.dataset.leftMs = String(left);
  }
  node.textContent = text;
  node.className = `countdown ${state}`;
}

/** Every second: the countdowns only (the rest is redrawn when something happens, never under the agent's cursor). */
function tick() {
  for (const node of document.querySelectorAll(".countdown[data-conv]")) {
    const c = chats.get(node.dataset.conv);
    if (c) paint(node, c);
  }
}

function draw() {
  const root = document.getElementById("workspace");
  if (!root) return;
  document.getElementById("presence").textContent = presence;
  const list = document.getElementById("chats") || el("ul", { class: "chats", id: "chats" });
  drawList(list);
  const current = selected ? chats.get(selected) : null;
  const pane = document.getElementById("conversation");
  if (current && pane && pane.dataset.conv === current.id) {
    // The same chat: its messages and countdown change, the composer (and what the agent is typing) stays.
    document.getElementById("messages").replaceChildren(...messages(current));
    if (!list.isConnected) root.replaceChildren(list, pane);
    tick();
  } else {
    root.replaceChildren(list, current ? conversation(current) : el("div", { class: "chat" }, el("p", {}, "选择一个会话 Pick a chat")));
  }
  const box = document.getElementById("messages");
  if (box) box.scrollTop = box.scrollHeight;
}

/** The chat list, changed in place (an item under the agent's pointer is never replaced). */
function drawList(list) {
  const items = new Map([...list.children].map((item) => [item.dataset.conv, item]));
  for (const [id, item] of items) if (!chats.has(id)) item.remove();
  for (const c of chats.values()) {
    let item = items.get(c.id);
    if (!item) {
      item = el("li", { "data-conv": c.id, onclick: () => select(c.id) }, el("div", { class: "who" }), countdown(c));
      list.append(item);
    }
    item.className = `${selected === c.id ? "selected" : ""} ${c.unread ? "unread" : ""}`;
    item.querySelector(".who").textContent = `${c.customer} · ${c.skill}`;
  }
}

function messages(c) {
  return c.messages.map((m) => el("div", { class: `message from-${m.from} ${m.from === "note" ? "note" : ""}` }, m.auto ? `[自动] ${m.text}` : m.text));
}

function select(id) {
  selected = id;
  const c = chats.get(id);
  if (c) c.unread = 0;
  document.title = "Kefu · 客服工作台";
  render();
}

function conversation(c) {
  const text = el("textarea", { id: "answer", placeholder: "回复 Answer — Enter 发送, Shift+Enter 换行" });
  const send = async (body, automatic) => {
    if (!body.trim()) return;
    await act(`SEND ${c.id}${automatic ? " auto=1" : ""}`, body);
    c.messages.push({ from: "agent", text: body, auto: automatic });
    if (!automatic) c.dueAt = null;
    text.value = "";
    render();
  };
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send(text.value, false);
    }
  });
  const reason = el("input", { id: "action-text", placeholder: "备注/原因 note or reason" });
  const target = el("input", { id: "transfer-to", placeholder: "agent 或 skill:<技能>" });
  return el("div", { class: "chat", id: "conversation", "data-conv": c.id },
    el("div", {}, el("strong", {}, `${c.customer} · ${c.skill} · #${c.id} `), countdown(c)),
    el("div", { class: "messages", id: "messages" }, ...messages(c)),
    el("div", { class: "composer" },
      text,
      el("div", { class: "actions" },
        el("button", { class: "primary", id: "send", onclick: () => send(text.value, false) }, "发送 Send"),
        ...CANNED.map((canned, index) => el("button", { "data-canned": String(index), onclick: () => send(canned, true) }, canned.slice(0, 12)))),
      el("div", { class: "actions" }, reason, target,
        el("button", { id: "note", onclick: () => act(`NOTE ${c.id}`, reason.value) }, "备注 Note"),
        el("button", { id: "transfer", onclick: () => act(`TRANSFER ${c.id} ${target.value.startsWith("skill:") ? `skill=${target.value.slice(6)}` : `agent=${target.value}`}`, reason.value || "转接") }, "转接 Transfer"),
        el("button", { id: "hold", onclick: () => act(`HOLD ${c.id}`, reason.value || "查询中").then(() => refreshDue(c)) }, "挂起 Hold"),
        el("button", { id: "close", onclick: () => act(`CLOSE ${c.id}`).then(() => { chats.delete(c.id); selected = null; render(); }) }, "结束 Close")),
      el("p", { class: "error", id: "action-error" })));
}

async function act(command, text) {
  const error = document.getElementById("action-error");
  if (error) error.textContent = "";
  try {
    return await connection.send(command, text);
  } catch (failure) {
    if (error) error.textContent = failure.message;
    throw failure;
  }
}

async function setPresence(value) {
  const { fields } = await connection.send(`PRESENCE ${value}`);
  presence = fields.presence;
  render();
}

async function start() {
  const { connection: opened, reply } = await loginForm(app, "agent", onEvent, () => {
    document.getElementById("presence").textContent = "连接已断开 disconnected";
  });
  connection = opened;
  presence = reply.fields.presence || "online";
  const handoverNote = el("input", { id: "handover-note", placeholder: "交接备注 handover note" });
  app.append(
    el("header", {},
      el("h1", {}, "客服工作台 · Kefu"),
      el("span", {}, "状态 ", el("strong", { id: "presence" }, presence)),
      el("button", { id: "online", onclick: () => setPresence("online") }, "在线 Online"),
      el("button", { id: "away", onclick: () => setPresence("away") }, "离开 Away"),
      el("button", { id: "offline", onclick: () => setPresence("offline") }, "离线 Offline"),
      handoverNote,
      el("button", { id: "handover", onclick: () => connection.send("HANDOVER", handoverNote.value || undefined).then(() => { chats.clear(); selected = null; presence = "offline"; render(); }) }, "交接 Handover"),
      el("label", {}, el("input", { type: "checkbox", id: "sound" }), " 提示音 sound")),
    el("main", { class: "workspace", id: "workspace" }));
  setInterval(tick, 1000);
  render();
}

start();
