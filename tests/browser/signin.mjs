// Signs in through Portcullis's real login and consent pages in headless Chromium, the way
// a person would: fields found by their labels, buttons by their role and name, and
// JavaScript switched off (our pages have none and must work without it).
//
// Run by tests/e2e/browser_ui.rs; by hand:
//
//   SIGNIN_AUTHORIZE_URL='http://127.0.0.1:PORT/authorize?...' SIGNIN_USERNAME=alice \
//   SIGNIN_PASSWORD='...' SIGNIN_SCREENSHOT_DIR=target/browser-screenshots \
//   SIGNIN_REDIRECT_PREFIX='http://127.0.0.1:OTHER/cb' node tests/browser/signin.mjs
//
// (or the same five values as positional arguments, in that order). Chromium is
// /usr/bin/chromium unless PORTCULLIS_CHROMIUM names another; nothing is downloaded.
//
// Takes login-{mobile,desktop,dark}.png, consent-{mobile,desktop,dark}.png and
// login-error-desktop.png (after a wrong password), approves on the phone-sized page,
// waits until the browser has landed on the redirect target and prints one line of JSON,
// {"final_url": "..."}, on stdout. On any failure: the error on
// stderr and a non-zero exit status. Also fails on a console error (a CSP violation is
// one), a request to any origin other than the server's and the redirect target's, a
// server page without a Content-Security-Policy header, or a page wider than the phone.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';

const MOBILE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const ACTION_TIMEOUT_MS = 15_000;

function settings() {
  const names = [
    'SIGNIN_AUTHORIZE_URL',
    'SIGNIN_USERNAME',
    'SIGNIN_PASSWORD',
    'SIGNIN_SCREENSHOT_DIR',
    'SIGNIN_REDIRECT_PREFIX',
  ];
  const argv = process.argv.slice(2);
  const values = names.map((name, i) => process.env[name] ?? argv[i]);
  const missing = names.filter((_, i) => !values[i]);
  if (missing.length > 0) {
    throw new Error(`missing ${missing.join(', ')} (environment variables or positional arguments)`);
  }
  const [authorizeUrl, username, password, screenshotDir, redirectPrefix] = values;
  return {
    authorizeUrl,
    username,
    password,
    screenshotDir,
    redirectPrefix,
    serverOrigin: new URL(authorizeUrl).origin,
    redirectOrigin: new URL(redirectPrefix).origin,
    chromium: process.env.PORTCULLIS_CHROMIUM || '/usr/bin/chromium',
  };
}

/** A page in a fresh context (its own cookies) that records everything we assert on. */
async function openPage(browser, cfg, problems, label, contextOptions) {
  const context = await browser.newContext({ javaScriptEnabled: false, ...contextOptions });
  const page = await context.newPage();
  page.setDefaultTimeout(ACTION_TIMEOUT_MS);
  // Set once a wrong password is submitted on purpose: Chromium logs that 401 as an error.
  const expecting = { loginRejection: false };
  page.on('console', (msg) => {
    const rejected = msg.text().includes('status of 401') && msg.location().url === `${cfg.serverOrigin}/login`;
    if (msg.type() === 'error' && !(expecting.loginRejection && rejected)) {
      problems.push(`${label}: console error: ${msg.text()} (${msg.location().url || page.url()})`);
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

async function screenshot(page, cfg, name) {
  await page.screenshot({ path: path.join(cfg.screenshotDir, `${name}.png`), fullPage: true });
}

/** Fails when the page scrolls sideways at `width`. */
async function assertFitsWidth(page, width, what) {
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  if (scrollWidth > width) {
    throw new Error(`${what} is ${scrollWidth}px wide at a ${width}px viewport (horizontal scrolling)`);
  }
}

/** Opens the authorization URL: the login page, whose response must carry a CSP. */
async function openLogin(page, cfg, what) {
  const response = await page.goto(cfg.authorizeUrl);
  if (!response || response.status() !== 200) {
    throw new Error(`${what}: GET authorize answered ${response?.status()}`);
  }
  const csp = response.headers()['content-security-policy'];
  if (!csp) throw new Error(`${what}: the login page has no Content-Security-Policy header`);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
}

/** Fills the login form by its labels and submits it; resolves on the consent page. */
async function signIn(page, cfg) {
  await page.getByLabel('Username', { exact: true }).fill(cfg.username);
  await page.getByLabel('Password', { exact: true }).fill(cfg.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('button', { name: 'Allow', exact: true }).waitFor();
}

async function main() {
  const cfg = settings();
  await mkdir(cfg.screenshotDir, { recursive: true });
  const browser = await chromium.launch({
    executablePath: cfg.chromium,
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
  const problems = [];
  try {
    // Desktop, light: login and consent, no decision.
    {
      const { context, page, expecting } = await openPage(browser, cfg, problems, 'desktop', {
        viewport: DESKTOP,
        colorScheme: 'light',
      });
      await openLogin(page, cfg, 'desktop');
      await screenshot(page, cfg, 'login-desktop');
      // A wrong password first: the form comes back with the message announced as an alert.
      await page.getByLabel('Username', { exact: true }).fill(cfg.username);
      await page.getByLabel('Password', { exact: true }).fill(`${cfg.password} (wrong)`);
      expecting.loginRejection = true;
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.getByRole('alert').filter({ hasText: 'Incorrect username or password.' }).waitFor();
      // (Left set: the log line may come late, and a later rejection fails signIn anyway.)
      await screenshot(page, cfg, 'login-error-desktop');
      await signIn(page, cfg);
      await screenshot(page, cfg, 'consent-desktop');
      await context.close();
    }

    // Phone, dark: login and consent, and the dark palette really applies.
    {
      const { context, page } = await openPage(browser, cfg, problems, 'dark', {
        viewport: MOBILE,
        isMobile: true,
        hasTouch: true,
        colorScheme: 'dark',
      });
      await openLogin(page, cfg, 'dark');
      const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      const channels = (background.match(/\d+/g) ?? []).slice(0, 3).map(Number);
      if (channels.length !== 3 || channels.some((c) => c > 80)) {
        throw new Error(`dark mode: the page background is ${background}, not dark`);
      }
      await screenshot(page, cfg, 'login-dark');
      await assertFitsWidth(page, MOBILE.width, 'the dark login page');
      await signIn(page, cfg);
      await screenshot(page, cfg, 'consent-dark');
      await context.close();
    }

    // Phone, light: the whole way, through "Allow" to the client's redirect URI.
    let finalUrl;
    {
      const { context, page } = await openPage(browser, cfg, problems, 'mobile', {
        viewport: MOBILE,
        isMobile: true,
        hasTouch: true,
        colorScheme: 'light',
      });
      await openLogin(page, cfg, 'mobile');
      await assertFitsWidth(page, MOBILE.width, 'the login page');
      await screenshot(page, cfg, 'login-mobile');
      await signIn(page, cfg);
      await assertFitsWidth(page, MOBILE.width, 'the consent page');
      await screenshot(page, cfg, 'consent-mobile');
      await page.getByRole('button', { name: 'Allow', exact: true }).click();
      await page.waitForURL(cfg.redirectPrefix + '**');
      finalUrl = page.url();
      await context.close();
    }

    if (problems.length > 0) throw new Error(problems.join('\n'));
    process.stdout.write(JSON.stringify({ final_url: finalUrl }) + '\n');
  } catch (err) {
    // What the pages reported often explains the failure: give it along.
    if (problems.length > 0 && err instanceof Error && !err.message.includes(problems[0])) {
      err.message += `\nalso seen:\n${problems.join('\n')}`;
    }
    throw err;
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  process.stderr.write(`signin.mjs: ${err?.stack ?? err}\n`);
  process.exitCode = 1;
});
