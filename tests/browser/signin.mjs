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
import {
  DESKTOP,
  MOBILE,
  assertDark,
  assertFitsWidth,
  launch,
  openPage,
  readSettings,
  run,
  screenshot,
  withProblems,
} from './common.mjs';

function settings() {
  const [authorizeUrl, username, password, screenshotDir, redirectPrefix] = readSettings([
    'SIGNIN_AUTHORIZE_URL',
    'SIGNIN_USERNAME',
    'SIGNIN_PASSWORD',
    'SIGNIN_SCREENSHOT_DIR',
    'SIGNIN_REDIRECT_PREFIX',
  ]);
  return {
    authorizeUrl,
    username,
    password,
    screenshotDir,
    redirectPrefix,
    serverOrigin: new URL(authorizeUrl).origin,
    redirectOrigin: new URL(redirectPrefix).origin,
  };
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
  const browser = await launch();
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
      await assertDark(page, 'dark mode');
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
    throw withProblems(err, problems);
  } finally {
    await browser.close();
  }
}

run('signin.mjs', main);
