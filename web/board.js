// The supervisor board: everything on it comes from BOARD's lines, pushed by kefud when they change (never polled),
// and WATCH's copies of events for the feed. Numbers lead to conversations (QUEUE), a conversation to its history
// and EXPLAIN, and from there a supervisor can ASSIGN it.
import { clock, el, loginForm, onNextFrame } from "/static/kefu.js";

const app = document.getElementById("app");
/** Redraws once per frame however many lines came. */
const render = onNextFrame(() => draw());
const board = { shop: null, skills: new Map(), stores: new Map(), agents: new Map(), hours: [] };
const feed = [];
let connection = null;

function onEvent(event, raw) {
  if (event.name.startsWith("BOARD-")) {
    const kind = event.name.slice("BOARD-".length);
    const f = event.fields;
    if (kind === "SHOP") board.shop = f;
    else if (kind === "SKILL") board.skills.set(f.skill, f);
    else if (kind === "STORE") board.stores.set(f.store, f);
    else if (kind === "AGENT") board.agents.set(f.agent, f);
    else if (kind === "HOURS") board.hours = (f.arrivals || "").split(",").map(Number);
  } else if (event.name === "ESCALATED") {
    note("breach", `会话 ${event.fields.conv} 超时升级 breach: ${event.fields.reason}, agent ${event.fields.agent}, waited ${clock(+event.fields.waited_ms)}, level ${event.fields.level}`, event.fields.conv);
  } else if (event.name === "AGENT-AWAY") {
    note("away", `坐席 ${event.fields.agent} 被设为离开 set away: ${event.fields.breaches} breaches`);
  } else if (event.name === "WATCHED" && event.fields.event === "SLA-WARN") {
    note("warning", `会话 ${event.fields.conv} 即将超时 warning (${event.fields.to}): ${clock(+event.fields.left_ms)} left`, event.fields.conv);
  }
  render();
}

function note(kind, text, conversation) {
  feed.unshift({ kind, text, conversation, at: new Date() });
  if (feed.length > 200) feed.pop();
}


/** amber from the warning, red past the limit. */
function level(ms, limit) {
  const shop = board.shop;
  if (!shop || ms === "-" || ms === undefined) return "";
  const wait = Number(ms);
  const warnAt = limit - Number(shop.warn_before_ms);
  return wait >= limit ? "red" : wait >= warnAt ? "amber" : "";
}

function tile(id, label, value, sub, classes, onclick) {
  return el("div", { class: `tile ${classes || ""}`, id, onclick }, el("div", { class: "label" }, label), el("div", { class: "value" }, value), el("div", { class: "sub" }, sub || ""));
}

function percent(rate) {
  return rate === "-" || rate === undefined ? "–" : `${(Number(rate) * 100).toFixed(1)}%`;
}

function wait(ms) {
  return ms === "-" || ms === undefined ? "–" : clock(Number(ms));
}

function draw() {
  const shop = board.shop;
  const main = document.getElementById("board");
  if (!main || !shop) return;
  const firstLimit = Number(shop.first_response_limit_ms);
  const unansweredLimit = Math.min(firstLimit, Number(shop.response_limit_ms));
  const tiles = el(
    "div",
    { class: "tiles" },
    tile("tile-waiting", "排队 Waiting", shop.waiting, `最久 longest ${wait(shop.oldest_wait_ms)}`, level(shop.oldest_wait_ms, firstLimit), showQueue),
    tile("tile-unanswered", "未回复 Unanswered", shop.unanswered, `最久 oldest ${wait(shop.oldest_unanswered_ms)}`, level(shop.oldest_unanswered_ms, unansweredLimit), () => showChats("unanswered=1", "未回复 Unanswered")),
    tile("tile-rate", "今日响应率 Rate today", percent(shop.rate_today), `${shop.met_today} met / ${shop.breached_today} breached`),
    tile("tile-first-response", "首响 First response", shop.first_response_p50_ms === "-" ? "–" : clock(+shop.first_response_p50_ms), `p90 ${shop.first_response_p90_ms === "-" ? "–" : clock(+shop.first_response_p90_ms)}`),
    tile("tile-agents", "坐席 Agents", `${shop.online} 在线`, `${shop.away} 离开 · ${shop.offline} 离线 · ${shop.disconnected} 断线`),
    tile("tile-seats", "接待量 Seats", `${shop.seats_used}/${shop.seats}`, "used / capacity"),
    tile("tile-csat", "满意度 CSAT", shop.csat_today === "-" ? "–" : shop.csat_today, `${shop.ratings_today} ratings · ${shop.good_today} 好评 · ${shop.bad_today} 差评`),
  );
  const skills = table(["技能 Skill", "排队", "最久等待", "未回复", "最久未回复", "接待中"], [...board.skills.values()].map((s) => [s.skill, s.waiting, wait(s.oldest_wait_ms), s.unanswered, wait(s.oldest_unanswered_ms), s.active]), (row) => showChats(`skill=${row[0]}`, `技能 ${row[0]}`));
  const stores = table(["店铺 Store", "排队", "最久等待", "未回复", "响应率", "满意度"], [...board.stores.values()].map((s) => [s.store, s.waiting, wait(s.oldest_wait_ms), s.unanswered, percent(s.rate_today), s.csat_today]), (row) => showChats(`store=${row[0]}`, `店铺 ${row[0]}`));
  const agents = el("table", { id: "agents" },
    el("thead", {}, el("tr", {}, ...["坐席 Agent", "状态 State", "时长", "接待", "未回复", "最久", "轮次", "响应率", "超时", "满意度"].map((h) => el("th", {}, h)))),
    el("tbody", {}, ...[...board.agents.values()].map((a) => el("tr", { "data-agent": a.agent, onclick: () => showChats(`agent=${a.agent}`, `坐席 ${a.name || a.agent}`) },
      el("td", {}, `${a.name || a.agent}`), el("td", { class: `state-${a.state}` }, a.state), el("td", { class: "num" }, wait(a.since_ms)),
      el("td", { class: "num" }, `${a.held}/${a.max}`), el("td", { class: "num" }, a.unanswered), el("td", { class: `num ${level(a.oldest_unanswered_ms, unansweredLimit)}` }, wait(a.oldest_unanswered_ms)),
      el("td", { class: "num" }, a.rounds_today), el("td", { class: "num" }, percent(a.rate_today)), el("td", { class: "num" }, a.breached_today), el("td", { class: "num" }, a.csat_today)))));
  const feedList = el("ul", { class: "feed", id: "feed" }, ...feed.map((item) => el("li", { class: item.kind, onclick: item.conversation ? () => showConversation(item.conversation) : undefined }, `${item.at.toLocaleTimeString()} ${item.text}`)));
  main.replaceChildren(
    tiles,
    el("div", { class: "columns" },
      el("div", {}, el("section", {}, el("h2", {}, "坐席 Agents"), el("div", { class: "scroll" }, agents)), el("section", {}, el("h2", {}, "技能 Skills"), skills), el("section", {}, el("h2", {}, "店铺 Stores"), stores)),
      el("div", {}, el("section", {}, el("h2", {}, "动态 Feed"), feedList), el("section", {}, el("h2", {}, "今日进线 Arrivals per hour"), chart(board.hours)))),
    document.getElementById("detail") || el("div", { id: "detail" }),
  );
}

function table(header, rows, onRow) {
  return el("table", {}, el("thead", {}, el("tr", {}, ...header.map((h) => el("th", {}, h)))), el("tbody", {}, ...rows.map((row) => el("tr", { onclick: onRow ? () => onRow(row) : undefined }, ...row.map((cell) => el("td", {}, cell))))));
}

/** The open conversations behind a number (an agent's, a skill's, a store's, the unanswered ones): CHATS. */
async function showChats(filter, title) {
  const detail = document.getElementById("detail");
  try {
    const { lines } = await connection.send(`CHATS ${filter}`);
    detail.replaceChildren(el("div", { class: "panel", id: "chats" }, el("h2", {}, `${title} · 会话 conversations`),
      table(["会话", "状态", "坐席", "技能", "买家", "等待", "未回复"], lines.map((l) => [el("a", { href: "#", onclick: (e) => { e.preventDefault(); showConversation(l.fields.conv); } }, l.fields.conv), l.fields.state, l.fields.agent, l.fields.skill, l.fields.customer, wait(l.fields.waited_ms), wait(l.fields.unanswered_ms)]))));
  } catch (failure) {
    detail.replaceChildren(el("p", { class: "error" }, failure.message));
  }
}

/** Arrivals per hour as SVG bars. */
function chart(hours) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 240 110");
  svg.setAttribute("id", "arrivals");
  svg.setAttribute("role", "img");
  const top = Math.max(1, ...hours);
  hours.forEach((count, hour) => {
    const height = (count / top) * 90;
    const bar = document.createElementNS(ns, "rect");
    bar.setAttribute("x", String(hour * 10 + 1));
    bar.setAttribute("y", String(95 - height));
    bar.setAttribute("width", "8");
    bar.setAttribute("height", String(height));
    bar.setAttribute("fill", "#0969da");
    bar.setAttribute("data-hour", String(hour));
    bar.setAttribute("data-count", String(count));
    const title = document.createElementNS(ns, "title");
    title.textContent = `${hour}:00 ${count}`;
    bar.append(title);
    svg.append(bar);
    if (hour % 6 === 0) {
      const label = document.createElementNS(ns, "text");
      label.setAttribute("x", String(hour * 10));
      label.setAttribute("y", "108");
      label.setAttribute("font-size", "8");
      label.textContent = String(hour);
      svg.append(label);
    }
  });
  return svg;
}

async function showQueue() {
  const detail = document.getElementById("detail");
  try {
    const { lines } = await connection.send("QUEUE limit=200");
    detail.replaceChildren(el("div", { class: "panel", id: "queue" }, el("h2", {}, "排队会话 Waiting conversations"),
      table(["会话", "技能", "买家", "等待", "店铺"], lines.map((l) => [el("a", { href: "#", onclick: (e) => { e.preventDefault(); showConversation(l.fields.conv); } }, l.fields.conv), l.fields.skill, l.fields.customer, wait(l.fields.waited_ms), l.fields.store || ""]))));
  } catch (failure) {
    detail.replaceChildren(el("p", { class: "error" }, failure.message));
  }
}

async function showConversation(id) {
  const detail = document.getElementById("detail");
  const [history, explanation] = await Promise.allSettled([connection.send(`HISTORY ${id}`), connection.send(`EXPLAIN ${id}`)]);
  const agent = el("select", { id: "assign-agent" }, ...[...board.agents.keys()].map((a) => el("option", { value: a }, a)));
  const result = el("p", { id: "assign-result" });
  const assign = el("form", { class: "actions" }, "指派给 Assign to ", agent, el("button", { type: "submit", class: "primary" }, "ASSIGN"), result);
  assign.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await connection.send(`ASSIGN ${id} ${agent.value}`);
      result.textContent = `assigned to ${agent.value}`;
    } catch (failure) {
      result.textContent = failure.message;
    }
  });
  detail.replaceChildren(el("div", { class: "panel", id: "conversation" }, el("h2", {}, `会话 Conversation ${id}`),
    history.status === "fulfilled" ? el("div", { class: "messages" }, ...history.value.lines.map((l) => el("div", { class: `message from-${l.fields.from}` }, l.text))) : el("p", { class: "error" }, history.reason.message),
    el("h2", {}, "分配原因 EXPLAIN"),
    explanation.status === "fulfilled" ? el("ul", {}, ...explanation.value.lines.map((l) => el("li", {}, `${l.name === "EXPLAIN" ? "→" : ""} ${l.fields.agent || l.fields.skill || ""} ${l.fields.verdict || ""} ${l.text || ""}`))) : el("p", {}, explanation.reason.message),
    assign));
}

async function start() {
  const { connection: opened } = await loginForm(app, "supervisor", onEvent, () => {
    const banner = document.getElementById("status");
    if (banner) banner.textContent = "连接已断开 disconnected — reload the page";
  });
  connection = opened;
  app.append(el("header", {}, el("h1", {}, "客服主管看板 · Kefu board"), el("span", { id: "status" }, "live")), el("main", { id: "board" }));
  await connection.send("WATCH");
  await connection.send("BOARD");
  render();
}

start();
