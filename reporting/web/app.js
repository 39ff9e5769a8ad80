// Tidemark dashboard: plain JS, no build step, no external resources.
// It only reads the documented API (/v1/views, /v1/views/{name}), so what it
// shows is exactly what any client gets. Answers are revalidated with their
// ETag (fetch cache "no-cache"), so an unchanged view costs a 304.
"use strict";

const $ = (id) => document.getElementById(id);
const TIME_NAME = /(^|_)(day|date|hour|month|year|week|time|ts)($|_)|_at$/i;
const TIME_TYPE = /^(date|datetime|timestamp)/i;
const NUM_TYPE = /^(tinyint|smallint|mediumint|int|bigint|decimal|float|double|year)/i;
const PAGE_ROWS = 500;

const state = { views: [], view: null, order: [], timer: null, busy: false, again: false };

function token() { return localStorage.getItem("tidemark.token") || ""; }

async function api(path) {
  const headers = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = "Bearer " + t;
  const res = await fetch(path, { headers, cache: "no-cache" });
  const text = await res.text();
  let body;
  try { body = JSON.parse(text); } catch (e) { throw new Error(`${res.status} ${res.statusText}: ${text.slice(0, 200)}`); }
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return body;
}

function showError(err) {
  const box = $("error");
  if (!err) { box.hidden = true; box.textContent = ""; return; }
  box.hidden = false;
  box.textContent = String(err.message || err);
}

function isNumeric(col) { return NUM_TYPE.test(col.type); }

// The chart's x axis: the first key that looks like time, by type or name.
function timeKey(view) {
  const keys = view.columns.filter((c) => c.key);
  return keys.find((c) => TIME_TYPE.test(c.type)) || keys.find((c) => TIME_NAME.test(c.name)) || null;
}

async function loadViews() {
  const body = await api("/v1/views");
  state.views = body.views.filter((v) => v.kind === "aggregate");
  const sel = $("view");
  sel.replaceChildren(...state.views.map((v) => new Option(v.name, v.name)));
  const want = new URLSearchParams(location.hash.slice(1)).get("view");
  if (want && state.views.some((v) => v.name === want)) sel.value = want;
  selectView(sel.value, true);
}

function selectView(name, fromHash) {
  state.view = state.views.find((v) => v.name === name) || null;
  state.order = [];
  buildControls(fromHash ? new URLSearchParams(location.hash.slice(1)) : new URLSearchParams());
  refresh();
}

function buildControls(saved) {
  const view = state.view;
  const form = $("filters");
  const gb = $("groupby");
  form.replaceChildren();
  gb.replaceChildren();
  if (!view) return;
  const tk = timeKey(view);
  for (const c of view.columns.filter((c) => c.key)) {
    const wrap = document.createElement("label");
    wrap.className = "filter";
    const title = document.createElement("span");
    title.textContent = `${c.name} (${c.type})`;
    wrap.append(title);
    if (tk && c.name === tk.name) {
      const range = document.createElement("span");
      range.className = "range";
      for (const end of ["from", "to"]) {
        const inp = document.createElement("input");
        inp.name = `${c.name}.${end}`;
        inp.placeholder = end;
        inp.value = saved.get(inp.name) || "";
        range.append(inp);
      }
      wrap.append(range);
    } else {
      const inp = document.createElement("input");
      inp.name = c.name;
      inp.placeholder = "any (a, b, … for several)";
      inp.value = saved.getAll(c.name).join(", ");
      wrap.append(inp);
    }
    form.append(wrap);
  }
  const label = document.createElement("span");
  label.className = "k";
  label.textContent = "GROUP BY";
  gb.append(label);
  const savedGB = saved.has("group_by") ? saved.get("group_by").split(",").filter(Boolean) : null;
  for (const c of view.columns.filter((c) => c.key)) {
    const l = document.createElement("label");
    const cb = document.createElement("input");
    cb.type = "checkbox";
    cb.value = c.name;
    cb.checked = savedGB ? savedGB.includes(c.name) : true;
    l.append(cb, " " + c.name);
    gb.append(l);
  }
  const msel = $("measure");
  const measures = view.columns.filter((c) => !c.key && isNumeric(c));
  msel.replaceChildren(...measures.map((c) => new Option(c.name, c.name)));
  // Prefer a sum of money or amounts over a plain count for the picture.
  const sum = measures.find((c) => /^(decimal|double|float)/i.test(c.type));
  if (sum) msel.value = sum.name;
}

// The table's query: filters, the group_by subset (all keys checked means
// the view's own groups), order and a page of rows.
function filterParams() {
  const p = new URLSearchParams();
  for (const inp of $("filters").querySelectorAll("input")) {
    const v = inp.value.trim();
    if (!v) continue;
    if (inp.name.endsWith(".from") || inp.name.endsWith(".to")) p.append(inp.name, v);
    else for (const part of v.split(",")) if (part.trim()) p.append(inp.name, part.trim());
  }
  return p;
}

function tableQuery() {
  const view = state.view;
  const p = filterParams();
  const boxes = [...$("groupby").querySelectorAll("input[type=checkbox]")];
  const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
  if (chosen.length !== boxes.length) p.set("group_by", chosen.join(","));
  if (state.order.length) p.set("order", state.order.join(","));
  p.set("limit", String(PAGE_ROWS));
  return `/v1/views/${encodeURIComponent(view.name)}?${p}`;
}

// chartKey is what the chart is drawn over: the time key (a series in
// time order), else the first key (its top groups by the measure).
function chartKey(view) {
  const tk = timeKey(view);
  if (tk) return { col: tk, top: false };
  const k = view.columns.find((c) => c.key);
  return k ? { col: k, top: true } : null;
}

const TOP_GROUPS = 20;

function chartQuery(ck) {
  const p = filterParams();
  p.set("group_by", ck.col.name);
  if (ck.top) {
    p.set("order", `-${$("measure").value},${ck.col.name}`);
    p.set("limit", String(TOP_GROUPS));
  } else {
    p.set("order", ck.col.name);
    p.set("limit", "2000");
  }
  return `/v1/views/${encodeURIComponent(state.view.name)}?${p}`;
}

async function refresh() {
  if (!state.view) return;
  if (state.busy) {
    state.again = true; // controls changed mid-request: ask again after it
    return;
  }
  state.busy = true;
  state.again = false;
  try {
    const tq = tableQuery();
    const ck = $("measure").value ? chartKey(state.view) : null;
    const [table, chart] = await Promise.all([api(tq), ck ? api(chartQuery(ck)) : null]);
    renderFreshness(table.freshness);
    refreshWarehouse();
    renderTable(table, tq);
    renderChart(chart, ck);
    showError(null);
    const hash = new URLSearchParams(tq.split("?")[1]);
    hash.delete("limit");
    hash.set("view", state.view.name);
    history.replaceState(null, "", "#" + hash);
  } catch (err) {
    showError(err);
  } finally {
    state.busy = false;
    if (state.again) refresh();
  }
}

const LAG_SOURCES = {
  heartbeat_us: ["heartbeat, µs", "measured from the heartbeat row's microsecond time"],
  commit_time_us: ["commit, µs", "measured from MySQL's microsecond commit timestamp"],
  receive: ["received", "caught up: measured from when Tidemark received the commit"],
  commit_time_s: ["commit second, ±1 s", "behind: the binlog stamps commits in whole seconds, so this over-states the lag by up to 1 s"],
};

function renderFreshness(f) {
  const box = $("freshness");
  box.dataset.generation = String(f.generation);
  box.dataset.speedPosition = f.speed_position || "";
  $("f-generation").textContent = String(f.generation);
  const lag = $("f-lag");
  if (f.lag_ms === null || f.lag_ms === undefined) {
    lag.textContent = "unknown";
    lag.className = "v";
  } else {
    lag.textContent = f.lag_ms < 1000 ? `${f.lag_ms} ms` : `${(f.lag_ms / 1000).toFixed(1)} s`;
    lag.className = "v " + (f.lag_ms < 10000 ? "ok" : f.lag_ms < 60000 ? "warn" : "bad");
  }
  lag.dataset.ms = String(f.lag_ms);
  // How lag_ms was measured (docs/api.md): its precision, said beside it.
  const src = $("f-lagsrc");
  const how = LAG_SOURCES[f.lag_source];
  src.textContent = how ? how[0] : "";
  src.title = how ? how[1] : "";
  src.dataset.source = f.lag_source || "";
  showPosition($("f-speed"), f.speed_position, f.lag_ms === null || f.lag_ms === undefined ? null : new Date(Date.now() - f.lag_ms));
  showPosition($("f-cut"), f.cut, f.cut_time ? new Date(f.cut_time) : null);
  $("f-cuttime").textContent = f.cut_time ? new Date(f.cut_time).toLocaleString() : "–";
  $("f-updated").textContent = new Date().toLocaleTimeString();
}

// refreshWarehouse shows a line per warehouse target (GET /v1/warehouse):
// the generation it holds beside the lake's newest (Redis's is the
// freshness generation above), and its latest load. Hidden when no target
// is configured or the route is not allowed.
async function refreshWarehouse() {
  const box = $("warehouse");
  let body;
  try { body = await api("/v1/warehouse"); } catch (e) { box.hidden = true; return; }
  const hel = (name, cls, text) => {
    const e = document.createElement(name);
    e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  box.replaceChildren();
  for (const t of body.targets || []) {
    const held = t.current ? `generation ${t.current.generation}` : (t.current_error ? "unreachable" : "none");
    const line = hel("div", "wh " + (t.phase === "failed" ? "bad" : t.behind ? "warn" : "ok"));
    line.append(hel("span", "k", `warehouse ${t.target} (${t.kind})`),
      hel("span", "v", `${held} · lake ${t.lake_generation} · ${t.phase}${t.error ? ": " + t.error : ""}`));
    box.append(line);
  }
  box.hidden = box.childElementCount === 0;
}

// showPosition shows a binlog position as a person reads it: the GTID when
// the server has one, else file:offset without the sort key's zero
// padding, with the commit time; the hover title has every part.
// (Positions are "file:offset:row[@gtid]", zero-padded so they sort.)
function showPosition(node, pos, when) {
  if (!pos) { node.textContent = "–"; node.title = ""; return; }
  const [coords, gtid] = pos.split("@");
  const [file, offset, row] = coords.split(":");
  const off = String(Number(offset));
  const at = when ? when.toLocaleTimeString(undefined, { hour12: false }) : "";
  node.textContent = (gtid ? `GTID ${gtid}` : `${file}:${off}`) + (at ? ` · ${at}` : "");
  node.title = [`${file} at offset ${off}` + (Number(row) ? `, row ${Number(row)}` : ""), gtid ? `GTID ${gtid}` : "",
    when ? `committed ${when.toLocaleString()}` : "", `raw ${pos}`].filter(Boolean).join("\n");
}

// cellText is how a value is shown: exactly its JSON value (DECIMALs are
// strings and stay exact), NULL as "NULL". dashboard-check compares it.
function cellText(v) { return v === null || v === undefined ? "NULL" : String(v); }

function renderTable(body, query) {
  const table = $("rows");
  table.dataset.query = query;
  table.dataset.renders = String(Number(table.dataset.renders || 0) + 1);
  const cols = body.columns;
  const tr = document.createElement("tr");
  for (const c of cols) {
    const th = document.createElement("th");
    const i = state.order.indexOf(c.name), j = state.order.indexOf("-" + c.name);
    th.textContent = c.name + (i >= 0 ? " ▲" : j >= 0 ? " ▼" : "");
    th.title = c.type;
    th.className = (c.key ? "key " : "") + (isNumeric(c) ? "num" : "");
    th.addEventListener("click", () => {
      state.order = i >= 0 ? ["-" + c.name] : j >= 0 ? [] : [c.name];
      refresh();
    });
    tr.append(th);
  }
  table.tHead.replaceChildren(tr);
  const rows = body.rows.map((r) => {
    const row = document.createElement("tr");
    for (const c of cols) {
      const td = document.createElement("td");
      const v = r[c.name];
      td.textContent = cellText(v);
      if (v === null) td.className = "null";
      else if (isNumeric(c)) td.className = "num";
      row.append(td);
    }
    return row;
  });
  table.tBodies[0].replaceChildren(...rows);
  $("row-count").textContent = `${body.rows.length} row${body.rows.length === 1 ? "" : "s"}` + (body.rows.length === PAGE_ROWS ? ` (first ${PAGE_ROWS})` : "");
  const link = $("query-link");
  link.href = query;
  link.textContent = "JSON";
}

const SVG = "http://www.w3.org/2000/svg";
function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function renderChart(body, ck) {
  const svg = $("chart");
  svg.replaceChildren();
  const measure = $("measure").value;
  if (!body || !ck || !measure) {
    $("chart-title").textContent = "no key to chart";
    delete svg.dataset.query;
    return;
  }
  const tk = ck.col;
  svg.dataset.query = chartQuery(ck);
  svg.dataset.measure = measure;
  $("chart-title").textContent = ck.top ? `top ${TOP_GROUPS} ${tk.name} by ${measure}` : `${measure} by ${tk.name}`;
  const W = svg.clientWidth || 900, H = svg.clientHeight || 260;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const pad = { l: 64, r: 12, t: 10, b: 28 };
  const pts = body.rows.map((r) => ({ x: cellText(r[tk.name]), raw: r[measure], y: r[measure] === null ? 0 : Number(r[measure]) }));
  if (!pts.length) {
    svg.append(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no rows"));
    return;
  }
  const ymax = Math.max(0, ...pts.map((p) => p.y)), ymin = Math.min(0, ...pts.map((p) => p.y));
  const span = ymax - ymin || 1;
  const iw = W - pad.l - pad.r, ih = H - pad.t - pad.b;
  const Y = (v) => pad.t + ih - ((v - ymin) / span) * ih;
  for (let k = 0; k <= 4; k++) {
    const v = ymin + (span * k) / 4;
    svg.append(el("line", { class: "grid", x1: pad.l, x2: W - pad.r, y1: Y(v), y2: Y(v) }));
    svg.append(el("text", { x: pad.l - 6, y: Y(v) + 4, "text-anchor": "end" }, fmtNum(v)));
  }
  svg.append(el("line", { class: "axis", x1: pad.l, x2: W - pad.r, y1: Y(0), y2: Y(0) }));
  const step = iw / pts.length;
  const bars = pts.length <= 120;
  const path = [];
  pts.forEach((p, i) => {
    const cx = pad.l + step * (i + 0.5);
    if (bars) {
      const bar = el("rect", { class: "bar", x: cx - Math.max(step * 0.35, 0.5), width: Math.max(step * 0.7, 1),
        y: Math.min(Y(p.y), Y(0)), height: Math.abs(Y(p.y) - Y(0)) });
      bar.dataset.x = p.x;
      bar.dataset.y = cellText(p.raw);
      bar.append(el("title", {}, `${p.x}: ${cellText(p.raw)}`));
      svg.append(bar);
    } else {
      path.push(`${i ? "L" : "M"}${cx},${Y(p.y)}`);
    }
  });
  if (!bars) svg.append(el("path", { class: "line", d: path.join(" ") }));
  const every = Math.ceil(pts.length / Math.max(1, Math.floor(iw / 90)));
  pts.forEach((p, i) => {
    if (i % every) return;
    svg.append(el("text", { x: pad.l + step * (i + 0.5), y: H - 8, "text-anchor": "middle" }, p.x));
  });
}

function fmtNum(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(1) + "G";
  if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (a >= 1e4) return (v / 1e3).toFixed(1) + "k";
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

function schedule() {
  clearInterval(state.timer);
  const s = Number($("refresh").value);
  if (s > 0) state.timer = setInterval(refresh, s * 1000);
}

function main() {
  $("token").value = token();
  $("token").addEventListener("change", (e) => {
    localStorage.setItem("tidemark.token", e.target.value.trim());
    loadViews().catch(showError);
  });
  $("view").addEventListener("change", (e) => selectView(e.target.value, false));
  $("refresh").addEventListener("change", schedule);
  $("measure").addEventListener("change", refresh);
  $("apply").addEventListener("click", refresh);
  $("reset").addEventListener("click", () => { state.order = []; buildControls(new URLSearchParams()); refresh(); });
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); refresh(); });
  $("filters").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); refresh(); } });
  $("groupby").addEventListener("change", refresh);
  schedule();
  loadViews().catch(showError);
}

main();
