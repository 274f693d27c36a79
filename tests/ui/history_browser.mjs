// The history browser in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by
// playwright-core, inside Airflow's UI, signed in with a JWT in the UI's session cookie.
//
// node tests/ui/history_browser.mjs <airflow url> <admin jwt> <read-only jwt> <output dir> <dag id> <search> <repo path>
// From the Backups nav page (the DAG <dag id>): *find a notebook*, type <search> (results while typing), open <repo path>,
// its versions, the diff of its two oldest versions (side by side, then unified), and "Restore this
// version" of the oldest one. Then the same restore as the read-only user, from the DAG's Backups tab. Saves screenshots
// (history-search.png, history-versions.png, history-diff.png, history-refused.png) and prints what it
// found as one JSON line, with page errors and Content-Security-Policy violations.
import { launch, signedIn as signInto } from "./browser.mjs";

const [url, token, readerToken, out, dagId, search, repoPath] = process.argv.slice(2);
const browser = await launch();
const errors = [];

const signedIn = (jwt) => signInto(browser, url, jwt, errors);

const viewOf = (page) => page.frames().find((f) => f !== page.mainFrame() && f.url().includes("/gitsync/"));
const texts = (locator) => locator.evaluateAll((cells) => cells.map((c) => c.textContent));

// Click something that makes the view's frame load a new page; its answer's status.
async function navigating(page, locator) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().includes("/gitsync/") && r.request().resourceType() === "document"),
    locator.click(),
  ]);
  await viewOf(page).waitForLoadState();
  return response.status();
}

try {
  const page = await signedIn(token);
  const found = {};
  await page.goto(`${url}/plugin/backups`); // the nav entry: the default backup DAG, the page's width
  const view = page.frameLocator('iframe[title="Backups"]');
  await view.locator('a[href="find"]').waitFor({ timeout: 90_000 });
  await navigating(page, view.locator('a[href="find"]'));

  // results while typing: the page's script fetches them, the form is never submitted
  await view.locator("#q").pressSequentially(search, { delay: 60 });
  await view.locator("#results tbody tr").first().waitFor({ timeout: 30_000 });
  await page.waitForTimeout(500); // the last keystroke's answer
  found.search = {
    address: viewOf(page).url(),
    rows: await view.locator("#results tbody tr").evaluateAll((rows) =>
      rows.map((r) => ({
        path: r.querySelector("a").textContent,
        deleted: r.querySelector(".deleted") !== null,
        note: r.cells[1].textContent,
      })),
    ),
    images: await view.locator("img").count(), // a name's markup is text, never an element
    scripts: await view.locator("script").count(),
  };
  await page.screenshot({ path: `${out}/history-search.png` });

  await navigating(page, view.locator("#results a").getByText(repoPath, { exact: true }));
  await view.locator("#versions tbody tr").first().waitFor();
  const versions = (frame) =>
    frame.locator("#versions tbody tr").evaluateAll((rows) =>
      rows.map((r) => ({
        backup: r.cells[0].textContent,
        change: r.cells[1].textContent,
        size: r.cells[2].textContent,
        diff: r.querySelector('a[href^="diff?"]') !== null,
        restore: r.querySelector("form button") !== null,
        target: r.querySelector('input[name="target_root"]')?.value ?? null,
      })),
    );
  found.versions = { title: await view.locator("h1").textContent(), rows: await versions(view) };
  await page.screenshot({ path: `${out}/history-versions.png` });

  // the oldest change (the last row with a diff link): side by side, then unified
  await navigating(page, view.locator('#versions a[href^="diff?"]').last());
  await view.locator("table.diff").waitFor();
  found.diff = {
    title: await view.locator("h1").textContent(),
    counts: await view.locator("p.muted").first().textContent(),
    removed: await texts(view.locator("table.split td.del")),
    added: await texts(view.locator("table.split td.add")),
  };
  await page.screenshot({ path: `${out}/history-diff.png` });
  await navigating(page, view.getByRole("link", { name: "unified" }));
  await view.locator("table.unified").waitFor();
  found.diff.unified = {
    removed: await texts(view.locator("table.unified tr.del td:last-child")),
    added: await texts(view.locator("table.unified tr.add td:last-child")),
  };

  // restore the oldest version from its row
  await navigating(page, view.getByRole("link", { name: "versions" }));
  const oldest = view.locator("#versions tbody tr").last();
  found.restore = { status: await navigating(page, oldest.getByRole("button", { name: "Restore this version" })) };
  await view.locator("#run").waitFor();
  found.restore.runId = await view.locator("#run").textContent();
  found.restore.href = await view.locator("#run").getAttribute("href");
  found.restore.text = await view.locator("body").innerText();

  // the same, as a user who may read the runs but not trigger the restore DAG
  const reader = await signedIn(readerToken);
  await reader.goto(`${url}/dags/${dagId}/plugin/dag-backups`);
  const readerView = reader.frameLocator('iframe[title="Backups"]');
  await readerView.locator('a[href="find"]').waitFor({ timeout: 90_000 });
  await viewOf(reader).goto(`${url}/gitsync/dags/${dagId}/notebook?path=${encodeURIComponent(repoPath)}`);
  await readerView.locator("#versions tbody tr").first().waitFor();
  found.refused = {
    rows: (await versions(readerView)).length,
    status: await navigating(
      reader,
      readerView.locator("#versions tbody tr").last().getByRole("button", { name: "Restore this version" }),
    ),
  };
  await readerView.locator("h1").waitFor();
  found.refused.text = await readerView.locator("body").innerText();
  await reader.screenshot({ path: `${out}/history-refused.png` });

  found.errors = errors;
  console.log(JSON.stringify(found));
} finally {
  await browser.close();
}
