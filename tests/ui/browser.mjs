// What the browser scripts launch: Debian's Chromium (/usr/bin/chromium), headless, driven by
// playwright-core, with nothing of its own reaching the network.
import { chromium } from "playwright-core";

export function launch() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    chromiumSandbox: false,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

// A page of a new context signed in with `jwt` (the UI's session cookie) on `url`; page errors and
// Content-Security-Policy violations go to `errors`. `options`: the context's (viewport, colorScheme).
export async function signedIn(browser, url, jwt, errors, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 760 }, ...options });
  await context.addCookies([{ name: "_token", value: jwt, url }]);
  const page = await context.newPage();
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => {
    if (message.text().includes("Content Security Policy")) errors.push(message.text());
  });
  return page;
}
