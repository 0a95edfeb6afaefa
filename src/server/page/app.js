// The status page: reads /status and /history, draws them, and does it again every few
// seconds. No library and nothing fetched from elsewhere: it must work on an offline server.
"use strict";

const REFRESH_MS = 5000;

// Uncaught errors are shown on the page (and counted for the browser test), not only in the
// console where nobody looks.
window.addEventListener("error", (e) => reportScriptError(e.message));
window.addEventListener("unhandledrejection", (e) => reportScriptError(String(e.reason)));

function reportScriptError(message) {
  const n = Number(document.body.dataset.scriptErrors || 0) + 1;
  document.body.dataset.scriptErrors = String(n);
  const li = document.createElement("li");
  li.textContent = "page error: " + message;
  document.getElementById("errors").prepend(li);
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return node;
}

function svgEl(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

// Quantities are decimal strings; the page only compares and plots them.
const num = (s) => (s === null || s === undefined ? NaN : Number(s));

// More than one lot apart: what the engine would trade on.
function drifting(sym) {
  const lot = num(sym.lot);
  const gap = Math.abs(num(sym.target_qty) - num(sym.position_qty));
  return lot > 0 ? gap >= lot : gap > 0;
}

function driftText(sym) {
  const d = num(sym.target_qty) - num(sym.position_qty);
  const lot = num(sym.lot);
  if (!(lot > 0)) return String(d);
  return (d / lot).toFixed(0) + " lots";
}

function lastOrderText(o) {
  if (!o) return "—";
  return `${o.side} ${o.qty} ${o.status}`;
}

function symbolRow(account, sym) {
  const drift = drifting(sym);
  return el(
    "tr",
    {
      class: drift ? "drift" : "",
      "data-account": account.name,
      "data-symbol": sym.symbol,
      "data-target": sym.target_qty,
      "data-position": sym.position_qty,
    },
    el("td", {}, sym.symbol + (sym.native_symbol !== sym.symbol ? ` (${sym.native_symbol})` : "")),
    el("td", {}, sym.target_depth),
    el("td", {}, sym.target_qty),
    el("td", {}, sym.position_qty),
    el("td", { class: "drift-cell" }, drift ? driftText(sym) : "—"),
    el("td", { class: "text" }, lastOrderText(sym.last_order)),
    el("td", { class: "text" }, sym.cooldown ? `opening held until ${sym.cooldown.until}: ${sym.cooldown.reason}` : sym.last_error || ""),
  );
}

function accountBlock(account, history) {
  const head = el(
    "h2",
    {},
    account.name + " ",
    el("span", { class: "muted" }, account.venue + (account.dry_run ? ", dry run" : "") + (account.enabled ? "" : ", disabled") + " "),
    el("span", { class: "state state-" + account.state, "data-state": account.state }, account.state),
  );
  const value = el("p", {}, "Account value: " + (account.account_value ?? "unknown"));
  const reason = account.reason ? el("p", { class: "muted" }, account.reason) : "";
  const table = el(
    "table",
    {},
    el(
      "thead",
      {},
      el("tr", {}, ...["Symbol", "Depth", "Target", "Position", "Drift", "Last order", "Note"].map((h) => el("th", {}, h))),
    ),
    el("tbody", {}, ...account.symbols.map((s) => symbolRow(account, s))),
  );
  const charts = el("div", { class: "charts" });
  for (const series of history.filter((h) => h.account === account.name)) {
    charts.append(chart(series));
  }
  const flatten = controlEnabled
    ? el("p", {}, el("button", { type: "button", class: "control", "data-action": "flatten", onclick: () => control("flatten", account.name) }, "Flatten " + account.name))
    : "";
  return el("div", { class: "account", "data-account": account.name }, head, value, reason, flatten, table, charts);
}

// Target (blue) and position (orange) of one symbol over the kept hours, as steps.
function chart(series) {
  const W = 320, H = 120, PAD = 22;
  const svg = svgEl("svg", { class: "chart", width: W, height: H, viewBox: `0 0 ${W} ${H}` });
  const pts = series.points.map((p) => ({ t: Date.parse(p.t), target: num(p.target_qty), pos: num(p.position_qty) }));
  const title = svgEl("text", { x: 4, y: 12 });
  title.textContent = series.symbol;
  svg.append(title);
  if (pts.length === 0) return svg;
  const t0 = pts[0].t, t1 = Math.max(pts[pts.length - 1].t, t0 + 1);
  const values = pts.flatMap((p) => [p.target, p.pos, 0]);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi === lo) hi = lo + 1;
  const x = (t) => PAD + ((t - t0) / (t1 - t0)) * (W - 2 * PAD);
  const y = (v) => H - PAD + 6 - ((v - lo) / (hi - lo)) * (H - 2 * PAD);
  const path = (key) =>
    pts.map((p, i) => (i === 0 ? `M${x(p.t)},${y(p[key])}` : `H${x(p.t)}V${y(p[key])}`)).join("");
  svg.append(svgEl("line", { x1: PAD, x2: W - PAD, y1: y(0), y2: y(0), stroke: "#ccc" }));
  svg.append(svgEl("path", { class: "line-target", d: path("target") }));
  svg.append(svgEl("path", { class: "line-position", d: path("pos") }));
  const hiLabel = svgEl("text", { x: W - PAD, y: 12, "text-anchor": "end" });
  hiLabel.textContent = `${hi}`;
  const loLabel = svgEl("text", { x: W - PAD, y: H - 4, "text-anchor": "end" });
  loLabel.textContent = `${lo}  since ${new Date(t0).toLocaleTimeString()}`;
  svg.append(hiLabel, loLabel);
  return svg;
}

function ageText(secs) {
  if (secs === null || secs === undefined) return "—";
  if (secs < 120) return `${Math.round(secs)} s`;
  if (secs < 7200) return `${Math.round(secs / 60)} min`;
  return `${(secs / 3600).toFixed(1)} h`;
}

// Only polled sources know when they are stale; files and webhooks show their age alone.
function freshnessText(src) {
  if (src.stale === true) return "stale: depths count as 0";
  if (src.stale === false) return "fresh";
  return "—";
}

function sourceRow(src) {
  return el("tr", { "data-source": src.name, "data-stale": String(src.stale), class: src.stale ? "drift" : "" },
    el("td", {}, src.name),
    el("td", { class: "text" }, src.kind),
    el("td", { "data-symbols": String(src.symbols) }, String(src.symbols)),
    el("td", {}, src.last_signal ? new Date(src.last_signal).toLocaleString() : "—"),
    el("td", { "data-age": String(src.age_secs) }, ageText(src.age_secs)),
    el("td", { class: "text drift-cell" }, freshnessText(src)));
}

// Control actions appear only when /status says a control token is configured. The token is
// asked for on each action and kept nowhere: the page stays read-only for whoever lacks it.
let controlEnabled = false;

async function control(action, account) {
  const what = account ? `${action} ${account}` : action;
  const token = window.prompt(`Control token to ${what}:`);
  if (!token) return;
  const path = "/control/" + action + (account ? "?account=" + encodeURIComponent(account) : "");
  try {
    const r = await fetch(path, { method: "POST", headers: { "X-Control-Token": token }, cache: "no-store" });
    const text = r.status === 403 ? "wrong control token" : `HTTP ${r.status}`;
    document.getElementById("control-result").textContent = `${what}: ${r.ok ? "done" : text}`;
  } catch (e) {
    document.getElementById("control-result").textContent = `${what}: the daemon did not answer`;
  }
}

function renderControls(enabled) {
  controlEnabled = Boolean(enabled);
  document.getElementById("controls").hidden = !controlEnabled;
}

function render(status, history) {
  renderControls(status.control);
  const c = status.cycle;
  document.getElementById("cycle").textContent =
    `cycle ${c.number}` + (c.last_started ? `, started ${new Date(c.last_started).toLocaleString()}` : "") +
    (c.last_duration_ms !== null && c.last_duration_ms !== undefined ? `, took ${c.last_duration_ms} ms` : "");
  document.body.dataset.cycle = String(c.number);
  const accounts = document.getElementById("accounts");
  accounts.replaceChildren(...status.accounts.map((a) => accountBlock(a, history)));
  const sources = status.sources || [];
  document.querySelector("#sources tbody").replaceChildren(...(sources.length
    ? sources.map(sourceRow)
    : [el("tr", {}, el("td", { class: "muted", colSpan: 6 }, "none"))]));
  const errors = [];
  for (const a of status.accounts) {
    if (a.last_error) errors.push(`${a.name}: ${a.last_error}`);
    for (const s of a.symbols) if (s.last_error) errors.push(`${a.name} ${s.symbol}: ${s.last_error}`);
  }
  const list = document.getElementById("errors");
  list.replaceChildren(...(errors.length ? errors.map((e) => el("li", {}, e)) : [el("li", { class: "muted" }, "none")]));
}

async function getJson(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

async function refresh() {
  try {
    const [status, history] = await Promise.all([getJson("/status"), getJson("/history")]);
    render(status, history);
    document.getElementById("stale").hidden = true;
  } catch (e) {
    // The daemon restarting or the network dropping is not a page error: say so and retry.
    document.getElementById("stale").hidden = false;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

document.getElementById("halt").addEventListener("click", () => control("halt"));
document.getElementById("resume").addEventListener("click", () => control("resume"));
refresh();
