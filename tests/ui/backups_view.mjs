// The Backups view in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by
// playwright-core, logged in to a running Airflow with a JWT in the UI's session cookie.
//
// node tests/ui/backups_view.mjs <airflow url> <jwt> <output dir> <dag id> <run id> <other dag id> <its run id>
// Opens Airflow's UI at the Backups nav page and at a run's "Backup summary" tab, waits for the
// plugin's iframe, saves a screenshot of each and prints what it found as one JSON line: with page
// errors and Content-Security-Policy violations, and whether the pages' stylesheet applied. Then the
// two tabs on a DAG that is not a backup, and the Backups page in Airflow's dark theme (Airflow's
// default theme follows the system's; the view follows it through prefers-color-scheme).
import { launch, signedIn } from "./browser.mjs";

const [url, token, out, dagId, runId, otherDag, otherRunId] = process.argv.slice(2);
const browser = await launch();
const errors = [];
try {
  const viewport = { width: 1440, height: 1100 };
  const page = await signedIn(browser, url, token, errors, { viewport });

  await page.goto(`${url}/plugin/backups`);
  const view = page.frameLocator('iframe[title="Backups"]');
  await view.locator("#history tbody tr").first().waitFor({ timeout: 90_000 });
  const count = (selector) => view.locator(selector).count();
  const found = {
    nav: await page.locator('a[href$="/plugin/backups"]').count(),
    days: await view.locator("#history tr[data-state]").evaluateAll((rows) => rows.map((r) => r.dataset.day)),
    olderRows: await view.locator('a[href^="table?before="]').count(),
    complete: await count('#history tr[data-state="complete"]'),
    missing: await count('#history tr[data-state="missing"]'),
    backfill: await view.locator("code.backfill").allTextContents(),
    charts: await count("svg.chart"),
    styled: await view.locator("#history").evaluate((table) => getComputedStyle(table).borderCollapse),
    points: await view.locator("svg.chart").evaluateAll((charts) =>
      charts.map((c) => [c.getAttribute("aria-label"), c.querySelectorAll(".point").length]),
    ),
  };
  await page.screenshot({ path: `${out}/backups.png` });
  const frame = page.frames().find((f) => f !== page.mainFrame() && f.url().includes("/gitsync/"));
  await frame.evaluate(() => window.scrollTo(0, document.querySelector("#history").offsetTop - 20));
  await page.screenshot({ path: `${out}/backups-table.png` });

  await page.goto(`${url}/dags/${dagId}/runs/${encodeURIComponent(runId)}/plugin/backup-summary`);
  const summary = page.frameLocator('iframe[title="Backup summary"]');
  await summary.locator(".summary table").first().waitFor({ timeout: 90_000 });
  found.summary = {
    title: await summary.locator("h1").textContent(),
    tables: await summary.locator(".summary table").count(),
    styled: await summary.locator(".summary table").first().evaluate((t) => getComputedStyle(t).borderCollapse),
    gridLink: await summary.locator('a[target="_top"]').first().getAttribute("href"),
    // the run panel is narrow: a wide table scrolls inside the page instead of being clipped
    fits: await summary.locator("html").evaluate((html) => html.scrollWidth <= html.clientWidth),
  };
  await page.screenshot({ path: `${out}/summary.png` });

  const tab = async (path, title) => {
    await page.goto(`${url}${path}`);
    const frame = page.frameLocator(`iframe[title="${title}"]`);
    await frame.locator("h1").waitFor({ timeout: 90_000 });
    return frame.locator("body").innerText();
  };
  found.other = {
    dag: await tab(`/dags/${otherDag}/plugin/dag-backups`, "Backups"),
    run: await tab(`/dags/${otherDag}/runs/${encodeURIComponent(otherRunId)}/plugin/backup-summary`, "Backup summary"),
  };

  const darkPage = await signedIn(browser, url, token, errors, { viewport, colorScheme: "dark" });
  await darkPage.goto(`${url}/plugin/backups`);
  const darkView = darkPage.frameLocator('iframe[title="Backups"]');
  await darkView.locator("#history tbody tr").first().waitFor({ timeout: 90_000 });
  found.dark = {
    airflow: await darkPage.evaluate(() => document.documentElement.style.colorScheme),
    background: await darkView.locator("body").evaluate((body) => getComputedStyle(body).backgroundColor),
  };
  await darkPage.screenshot({ path: `${out}/backups-dark.png` });
  found.errors = errors;
  console.log(JSON.stringify(found));
} finally {
  await browser.close();
}
