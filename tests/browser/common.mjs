// What the real-browser scripts share: launching Debian's Chromium (nothing is downloaded),
// pages in fresh contexts with JavaScript off that record every problem we assert on, and
// screenshot and layout helpers.

import path from 'node:path';
import { chromium } from 'playwright-core';

export const MOBILE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };
export const ACTION_TIMEOUT_MS = 15_000;

/** Headless Chromium: /usr/bin/chromium unless PORTCULLIS_CHROMIUM names another. */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.PORTCULLIS_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
    ],
  });
}

/**
 * A page in a fresh context (its own cookies) that records into `problems`: console
 * errors (a CSP violation is one), page errors, requests to any origin other than
 * `cfg.serverOrigin` and `cfg.redirectOrigin`, failed requests, and server pages without
 * a restrictive Content-Security-Policy. Set `expecting.loginRejection` before submitting
 * a wrong password on purpose: Chromium logs that 401 as a console error.
 */
export async function openPage(browser, cfg, problems, label, contextOptions) {
  const context = await browser.newContext({ javaScriptEnabled: false, ...contextOptions });
  const page = await context.newPage();
  page.setDefaultTimeout(ACTION_TIMEOUT_MS);
  const expecting = { loginRejection: false };
  page.on('console', (msg) => {
    const url = msg.location().url;
    const rejected = msg.text().includes('status of 401')
      && (url === `${cfg.serverOrigin}/login` || url === `${cfg.serverOrigin}/account/login`);
    if (msg.type() === 'error' && !(expecting.loginRejection && rejected)) {
      problems.push(`${label}: console error: ${msg.text()} (${url || page.url()})`);
    }
  });
  page.on('pageerror', (err) => problems.push(`${label}: page error: ${err.message}`));
  page.on('request', (req) => {
    const url = req.url();
    if (url.startsWith('data:') || url.startsWith('about:')) return;
    const origin = new URL(url).origin;
    if (origin !== cfg.serverOrigin && origin !== cfg.redirectOrigin) {
      problems.push(`${label}: request to a foreign origin: ${req.method()} ${url}`);
    }
  });
  page.on('requestfailed', (req) => {
    // Aborted: superseded by a navigation or cut off by closing the context, not an error.
    if (req.failure()?.errorText === 'net::ERR_ABORTED') return;
    problems.push(`${label}: request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText}`);
  });
  page.on('response', (resp) => {
    const req = resp.request();
    const fromServer = new URL(resp.url()).origin === cfg.serverOrigin;
    const redirect = resp.status() >= 300 && resp.status() < 400;
    if (fromServer && req.resourceType() === 'document' && !redirect) {
      const csp = resp.headers()['content-security-policy'];
      if (!csp || !csp.includes("default-src 'none'")) {
        problems.push(`${label}: ${resp.url()} has no restrictive Content-Security-Policy (got ${csp})`);
      }
    }
  });
  return { context, page, expecting };
}

export async function screenshot(page, cfg, name) {
  await page.screenshot({ path: path.join(cfg.screenshotDir, `${name}.png`), fullPage: true });
}

/** Fails when the page scrolls sideways at `width`. */
export async function assertFitsWidth(page, width, what) {
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  if (scrollWidth > width) {
    throw new Error(`${what} is ${scrollWidth}px wide at a ${width}px viewport (horizontal scrolling)`);
  }
}

/** Fails unless the page background is dark (the dark palette really applies). */
export async function assertDark(page, what) {
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const channels = (background.match(/\d+/g) ?? []).slice(0, 3).map(Number);
  if (channels.length !== 3 || channels.some((c) => c > 80)) {
    throw new Error(`${what}: the page background is ${background}, not dark`);
  }
}

/** Reads the named settings from the environment or, in order, the positional arguments. */
export function readSettings(names) {
  const argv = process.argv.slice(2);
  const values = names.map((name, i) => process.env[name] ?? argv[i]);
  const missing = names.filter((_, i) => !values[i]);
  if (missing.length > 0) {
    throw new Error(`missing ${missing.join(', ')} (environment variables or positional arguments)`);
  }
  return values;
}

/** Runs `main`, reporting a failure (with the problems the pages saw) on stderr. */
export function run(name, main) {
  main().catch((err) => {
    process.stderr.write(`${name}: ${err?.stack ?? err}\n`);
    process.exitCode = 1;
  });
}

/** Adds what the pages reported to an error; it often explains the failure. */
export function withProblems(err, problems) {
  if (problems.length > 0 && err instanceof Error && !err.message.includes(problems[0])) {
    err.message += `\nalso seen:\n${problems.join('\n')}`;
  }
  return err;
}
