// Headless check of the Tidemark dashboard: loads it in Chromium, checks
// that every number the page shows equals the API's answer to the same
// query (table and chart, before and after using the filter and group-by
// controls), and saves a screenshot. Run by scripts/dashboard-check.sh.
//
// Usage: node dashboard-check.cjs URL OUT.png   (env: PLAYWRIGHT_CORE = path
// of the playwright-core package, CHROMIUM, TIDEMARK_TOKEN)
"use strict";

const { chromium } = require(process.env.PLAYWRIGHT_CORE || "playwright-core");

const [base, out] = process.argv.slice(2);
if (!base || !out) {
  console.error("usage: node dashboard-check.cjs URL OUT.png");
  process.exit(2);
}
const token = process.env.TIDEMARK_TOKEN || "";

async function api(path) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  const res = await fetch(new URL(path, base), { headers });
  if (!res.ok) throw new Error(`API ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

const cellText = (v) => (v === null || v === undefined ? "NULL" : String(v));

// readPage returns what the page shows: the table's query, header, cells,
// the freshness, and the chart's query and bars.
async function readPage(page) {
  return page.evaluate(() => {
    const table = document.getElementById("rows");
    const svg = document.getElementById("chart");
    return {
      query: table.dataset.query,
      header: [...table.tHead.querySelectorAll("th")].map((th) => th.textContent.replace(/ [▲▼]$/, "")),
      cells: [...table.tBodies[0].rows].map((tr) => [...tr.cells].map((td) => td.textContent)),
      generation: document.getElementById("freshness").dataset.generation,
      speed: document.getElementById("freshness").dataset.speedPosition,
      shownGeneration: document.getElementById("f-generation").textContent,
      lag: document.getElementById("f-lag").textContent,
      lagSource: document.getElementById("f-lagsrc").dataset.source || "",
      chartQuery: svg.dataset.query,
      measure: svg.dataset.measure,
      bars: [...svg.querySelectorAll("rect.bar")].map((r) => [r.dataset.x, r.dataset.y]),
      error: document.getElementById("error").hidden ? "" : document.getElementById("error").textContent,
    };
  });
}

// compare checks the page against the API; it returns a list of
// differences, or null when the API has moved on since the page read it
// (the caller waits for the next refresh and tries again).
async function compare(shown) {
  const ans = await api(shown.query);
  if ((ans.freshness.speed_position || "") !== shown.speed || String(ans.freshness.generation) !== shown.generation) {
    return null;
  }
  const diffs = [];
  const names = ans.columns.map((c) => c.name);
  if (JSON.stringify(names) !== JSON.stringify(shown.header)) diffs.push(`header ${shown.header} != ${names}`);
  if (ans.rows.length !== shown.cells.length) diffs.push(`${shown.cells.length} rows shown, API has ${ans.rows.length}`);
  ans.rows.forEach((row, i) => {
    names.forEach((n, j) => {
      const want = cellText(row[n]);
      const got = shown.cells[i] && shown.cells[i][j];
      if (got !== want) diffs.push(`row ${i} ${n}: page ${got}, API ${want}`);
    });
  });
  if (shown.shownGeneration !== String(ans.freshness.generation)) diffs.push(`generation shown ${shown.shownGeneration}, API ${ans.freshness.generation}`);
  if (shown.lagSource !== (ans.freshness.lag_source || "")) diffs.push(`lag source shown ${shown.lagSource}, API ${ans.freshness.lag_source}`);
  if (shown.chartQuery) {
    const chart = await api(shown.chartQuery);
    if ((chart.freshness.speed_position || "") !== shown.speed) return null;
    const key = chart.columns.find((c) => c.key).name;
    const want = chart.rows.map((r) => [cellText(r[key]), cellText(r[shown.measure])]);
    if (JSON.stringify(want) !== JSON.stringify(shown.bars)) diffs.push(`chart ${JSON.stringify(shown.bars)} != API ${JSON.stringify(want)}`);
  }
  return diffs;
}

async function check(page, label) {
  for (let attempt = 0; attempt < 20; attempt++) {
    await page.waitForFunction(() => document.getElementById("rows").dataset.query && document.getElementById("freshness").dataset.generation);
    const shown = await readPage(page);
    if (shown.error) throw new Error(`${label}: the page shows an error: ${shown.error}`);
    const diffs = await compare(shown);
    if (diffs === null) {
      // The view moved on since the page read it: have the page read it
      // again now (as its auto-refresh would) and compare once more.
      const renders = await page.evaluate(() => document.getElementById("rows").dataset.renders);
      await page.click("#apply");
      await page.waitForFunction((n) => document.getElementById("rows").dataset.renders !== n, renders, { timeout: 15000 });
      continue;
    }
    if (diffs.length) throw new Error(`${label}: page and API differ:\n  ${diffs.slice(0, 20).join("\n  ")}`);
    console.log(`ok   ${label}: ${shown.cells.length} rows, ${shown.bars.length} chart points, generation ${shown.generation}, lag ${shown.lag} (${shown.lagSource}), ${shown.query}`);
    return shown;
  }
  throw new Error(`${label}: the API kept moving ahead of the page`);
}

// settle waits until the page shows the answer to its current controls.
async function settle(page, before) {
  await page.waitForFunction((q) => document.getElementById("rows").dataset.query !== q, before, { timeout: 15000 });
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
    page.on("request", (r) => {
      const u = new URL(r.url());
      if (u.origin !== new URL(base).origin) problems.push(`external request: ${r.url()}`);
    });
    if (token) await page.addInitScript((t) => localStorage.setItem("tidemark.token", t), token);
    await page.goto(base, { waitUntil: "load" });
    await page.waitForSelector("#rows tbody tr", { timeout: 20000 });
    await check(page, "initial view");

    // Filter: the first non-time key gets one value taken from the table.
    let q = await page.evaluate(() => document.getElementById("rows").dataset.query);
    const filterInput = await page.$("#filters input:not([name$='.from']):not([name$='.to'])");
    if (filterInput) {
      const name = await filterInput.getAttribute("name");
      const col = (await readPage(page)).header.indexOf(name);
      const value = (await readPage(page)).cells[0][col];
      await filterInput.fill(value);
      await page.click("#apply");
      await settle(page, q);
      await check(page, `filter ${name}=${value}`);
      await filterInput.fill("");
    }
    // Re-aggregate: keep only the first group key (views with two or more).
    q = await page.evaluate(() => document.getElementById("rows").dataset.query);
    const boxes = await page.$$("#groupby input[type=checkbox]");
    let regrouped;
    if (boxes.length >= 2) {
      for (const b of boxes.slice(1)) await b.uncheck();
      await settle(page, q);
      regrouped = await check(page, "group_by first key");
      if (!regrouped.query.includes("group_by=")) throw new Error("unchecking keys did not re-aggregate");
    } else {
      regrouped = await check(page, "single-key view (no re-aggregation to test)");
    }
    // Order by a measure, descending (click the header twice).
    q = regrouped.query;
    const measureHeader = `#rows th:nth-child(${regrouped.header.length})`;
    await page.click(measureHeader);
    await settle(page, q);
    q = await page.evaluate(() => document.getElementById("rows").dataset.query);
    await page.click(measureHeader);
    await settle(page, q);
    await check(page, "ordered by the last measure, descending");

    // Back to the view's own groups for the picture.
    q = await page.evaluate(() => document.getElementById("rows").dataset.query);
    await page.click("#reset");
    await settle(page, q);
    await check(page, "reset");
    if (problems.length) throw new Error(problems.join("\n"));
    await page.screenshot({ path: out, fullPage: false });
    console.log(`ok   screenshot ${out}`);
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error("FAIL " + (e && e.stack ? e.stack : e));
  process.exit(1);
});
