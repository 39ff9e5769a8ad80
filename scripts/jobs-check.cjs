// Headless check of the dashboard's Jobs page: loads it in Chromium with an
// admin token, checks that it lists every job the admin API lists, shows a
// succeeded run in a job's timeline, and that its Trigger button queues a
// run the orchestrator then records (trigger "manual"); saves a screenshot.
//
// Usage: node jobs-check.cjs URL JOB OUT.png   (env: PLAYWRIGHT_CORE,
// CHROMIUM, TIDEMARK_TOKEN = an admin-scope token)
"use strict";

const { chromium } = require(process.env.PLAYWRIGHT_CORE || "playwright-core");

const [base, job, out] = process.argv.slice(2);
if (!base || !job || !out) {
  console.error("usage: node jobs-check.cjs URL JOB OUT.png");
  process.exit(2);
}
const token = process.env.TIDEMARK_TOKEN || "";

async function api(path) {
  const res = await fetch(new URL(path, base), { headers: { Accept: "application/json", Authorization: "Bearer " + token } });
  if (!res.ok) throw new Error(`API ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await (await browser.newContext({ viewport: { width: 1360, height: 800 } })).newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
    await page.addInitScript((t) => localStorage.setItem("tidemark.token", t), token);
    await page.goto(new URL("/assets/jobs.html", base).href, { waitUntil: "load" });
    await page.waitForSelector("#jobs tbody tr", { timeout: 20000 });

    const want = (await api("/v1/admin/jobs")).map((j) => j.job).sort();
    const shown = (await page.$$eval("#jobs tbody tr", (rows) => rows.map((r) => r.dataset.job))).sort();
    if (JSON.stringify(want) !== JSON.stringify(shown)) throw new Error(`page lists jobs ${shown}, the API ${want}`);
    console.log(`jobs listed: ${shown.join(", ")}`);

    const row = `#jobs tbody tr[data-job="${job}"]`;
    await page.waitForSelector(`${row} .run[data-outcome="succeeded"]`, { timeout: 60000 });
    const title = await page.$eval(`${row} .run[data-outcome="succeeded"]`, (e) => e.title);
    if (!/generation \d+/.test(title)) throw new Error(`a succeeded run's tooltip lacks its generation: ${title}`);
    console.log(`succeeded run shown: ${title.split("\n").join(" | ")}`);
    const gens = await page.$$eval("#gens tbody tr", (rows) => rows.length);
    if (gens === 0) throw new Error("no generation in the generations table");

    const before = new Date();
    await page.click(`${row} button[data-action="trigger"]`);
    const deadline = Date.now() + 90000;
    for (;;) {
      const h = await api(`/v1/admin/jobs/${job}/history?n=50`);
      const r = h.find((r) => r.trigger === "manual" && new Date(r.scheduled) >= new Date(before.getTime() - 1000));
      if (r && r.outcome !== "running") {
        console.log(`triggered from the page: run ${r.run} ${r.outcome}`);
        if (r.outcome !== "succeeded") throw new Error(`the triggered run ${r.outcome}: ${r.error}`);
        break;
      }
      if (Date.now() > deadline) throw new Error("the Trigger button's run never finished");
      await new Promise((s) => setTimeout(s, 300));
    }
    await page.waitForSelector(`${row} .run[data-run$="-manual"]`, { timeout: 20000 });
    await page.screenshot({ path: out, fullPage: true });
    if (problems.length) throw new Error(problems.join("\n"));
    console.log("jobs page ok");
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
