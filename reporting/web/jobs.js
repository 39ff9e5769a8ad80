// Tidemark Jobs page: plain JS over the admin API (/v1/admin/jobs...), so
// it needs an admin-scope token (stored like the dashboard's, in
// localStorage). Each job: its state, next tick, its last runs as a
// timeline coloured by outcome (hover for times, durations, generation and
// error), and trigger / pause / resume buttons; below, the generations the
// runs produced.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { timer: null, busy: false };
const HISTORY = 40;

function token() { return localStorage.getItem("tidemark.token") || ""; }

async function api(method, path) {
  const headers = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = "Bearer " + t;
  const res = await fetch(path, { method, headers, cache: "no-store" });
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

function fmtTime(s) {
  if (!s) return "–";
  const d = new Date(s);
  return d.toLocaleString(undefined, { hour12: false });
}

function fmtDur(ms) {
  if (ms === null || ms === undefined || isNaN(ms)) return "–";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60000)} min`;
}

function took(r) { return r.start && r.end ? new Date(r.end) - new Date(r.start) : null; }

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
  }
  e.append(...kids.filter((k) => k !== null && k !== undefined));
  return e;
}

function runTitle(r) {
  const lines = [`${r.outcome}${r.count > 1 ? " ×" + r.count : ""} · ${r.trigger}`, `scheduled ${fmtTime(r.scheduled)}`];
  if (r.start) lines.push(`started ${fmtTime(r.start)}`);
  if (took(r) !== null) lines.push(`took ${fmtDur(took(r))}`);
  if (r.attempt) lines.push(`attempt ${r.attempt}`);
  if (r.generation !== undefined) lines.push(`generation ${r.generation}`);
  if (r.holder) lines.push(`on ${r.holder}`);
  if (r.error) lines.push(r.error);
  return lines.join("\n");
}

async function action(job, what, button) {
  button.disabled = true;
  try {
    await api("POST", `/v1/admin/jobs/${encodeURIComponent(job)}/${what}`);
    showError(null);
    await refresh();
  } catch (e) { showError(e); } finally { button.disabled = false; }
}

async function refresh() {
  if (state.busy) return;
  state.busy = true;
  try {
    const jobs = await api("GET", "/v1/admin/jobs");
    const histories = await Promise.all(jobs.map((j) => api("GET", `/v1/admin/jobs/${encodeURIComponent(j.job)}/history?n=${HISTORY}`)));
    const body = $("jobs").tBodies[0];
    const gens = [];
    body.replaceChildren(...jobs.map((j, i) => {
      const h = histories[i] || [];
      const timeline = el("div", { class: "timeline" }, ...h.slice().reverse().map((r) =>
        el("span", { class: `run o-${r.outcome}`, title: runTitle(r), "data-outcome": r.outcome, "data-run": r.run })));
      for (const r of h) if (r.outcome === "succeeded" && r.generation !== undefined) gens.push({ job: j.job, r });
      const last = h.find((r) => r.outcome !== "running" && took(r) !== null);
      let stateText = j.paused ? `paused: ${j.paused.reason}` : "active";
      if (j.holder) stateText += ` · running on ${j.holder}`;
      const buttons = el("div", { class: "actions" },
        el("button", { type: "button", textContent: "Trigger", onclick: (ev) => action(j.job, "trigger", ev.target), "data-action": "trigger" }),
        j.paused
          ? el("button", { type: "button", class: "secondary", textContent: "Resume", onclick: (ev) => action(j.job, "resume", ev.target), "data-action": "resume" })
          : el("button", { type: "button", class: "secondary", textContent: "Pause", onclick: (ev) => action(j.job, "pause", ev.target), "data-action": "pause" }));
      return el("tr", { "data-job": j.job, "data-state": j.paused ? "paused" : "active" },
        el("td", { class: "mono", textContent: j.job }),
        el("td", { class: "mono", textContent: j.schedule || "after / trigger" }),
        el("td", { class: j.paused ? "paused" : "", textContent: stateText }),
        el("td", { textContent: fmtTime(j.next_tick) }),
        el("td", {}, timeline),
        el("td", { class: "num", textContent: last ? fmtDur(took(last)) : "–" }),
        el("td", {}, buttons));
    }));
    gens.sort((a, b) => b.r.generation - a.r.generation);
    $("gens").tBodies[0].replaceChildren(...gens.slice(0, 50).map(({ job, r }) =>
      el("tr", { "data-generation": r.generation },
        el("td", { class: "num", textContent: r.generation }),
        el("td", { class: "mono", textContent: job }),
        el("td", { class: "mono", textContent: r.cut || "–", title: r.cut || "" }),
        el("td", { textContent: fmtTime(r.cut_time) }),
        el("td", { class: "num", textContent: (r.rows || 0).toLocaleString() }),
        el("td", { class: "num", textContent: (r.bytes || 0).toLocaleString() }),
        el("td", { class: "num", textContent: fmtDur(took(r)) }),
        el("td", { textContent: fmtTime(r.end) }))));
    $("jobs").dataset.loaded = String(Date.now());
    showError(null);
  } catch (e) {
    showError(e);
  } finally {
    state.busy = false;
  }
}

function schedule() {
  clearInterval(state.timer);
  const s = Number($("refresh").value);
  if (s > 0) state.timer = setInterval(refresh, s * 1000);
}

$("token").value = token();
$("token").addEventListener("change", () => { localStorage.setItem("tidemark.token", $("token").value); refresh(); });
$("refresh").addEventListener("change", schedule);
schedule();
refresh();
