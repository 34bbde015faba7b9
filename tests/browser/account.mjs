// The account page in headless Chromium, the way a person uses it (JavaScript off, fields
// by their labels, buttons by their role and name): sign in to an app through the login
// and consent pages, open the account page, sign in twice more elsewhere (a phone, a dark
// desktop), revoke the app, decline a logout request it cannot verify, then sign out
// everywhere.
//
// Run by tests/e2e/browser_account.rs; by hand:
//
//   ACCOUNT_AUTHORIZE_URL='http://127.0.0.1:PORT/authorize?...' ACCOUNT_USERNAME=alice \
//   ACCOUNT_PASSWORD='...' ACCOUNT_SCREENSHOT_DIR=target/browser-screenshots \
//   ACCOUNT_REDIRECT_PREFIX='http://127.0.0.1:OTHER/cb' node tests/browser/account.mjs
//
// (or the same five values as positional arguments, in that order). The app must be named
// "Example App". Takes account-{desktop,mobile,dark}.png, account-revoked-desktop.png,
// logout-confirm.png and signed-out.png, and prints one line of JSON on stdout:
// {"sessions_before": 3, "app_listed": true, "revoked": true, "others_signed_out": true}.
// Fails like signin.mjs does on console errors, foreign requests, missing CSP headers or
// a page wider than the phone.

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

const APP = 'Example App';

function settings() {
  const [authorizeUrl, username, password, screenshotDir, redirectPrefix] = readSettings([
    'ACCOUNT_AUTHORIZE_URL',
    'ACCOUNT_USERNAME',
    'ACCOUNT_PASSWORD',
    'ACCOUNT_SCREENSHOT_DIR',
    'ACCOUNT_REDIRECT_PREFIX',
  ]);
  const serverOrigin = new URL(authorizeUrl).origin;
  return {
    authorizeUrl,
    username,
    password,
    screenshotDir,
    redirectPrefix,
    serverOrigin,
    redirectOrigin: new URL(redirectPrefix).origin,
    accountUrl: `${serverOrigin}/account`,
  };
}

/** Fills a login form by its labels and submits it. */
async function submitLogin(page, cfg) {
  await page.getByLabel('Username', { exact: true }).fill(cfg.username);
  await page.getByLabel('Password', { exact: true }).fill(cfg.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** Opens the account page without a session: its own login form, then the page itself. */
async function signInToAccount(page, cfg, what) {
  const response = await page.goto(cfg.accountUrl);
  if (!response || response.status() !== 200) {
    throw new Error(`${what}: GET /account answered ${response?.status()}`);
  }
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.getByText('to manage your account').waitFor();
  await submitLogin(page, cfg);
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
}

async function sessionCount(page) {
  return page.locator('form[action="/account/sessions/end"]').count();
}

async function main() {
  const cfg = settings();
  await mkdir(cfg.screenshotDir, { recursive: true });
  const browser = await launch();
  const problems = [];
  try {
    // Desktop, light: sign in to the app through login and consent, landing on the app.
    const desktop = await openPage(browser, cfg, problems, 'desktop', {
      viewport: DESKTOP,
      colorScheme: 'light',
    });
    await desktop.page.goto(cfg.authorizeUrl);
    await desktop.page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await submitLogin(desktop.page, cfg);
    await desktop.page.getByRole('button', { name: 'Allow', exact: true }).click();
    await desktop.page.waitForURL(cfg.redirectPrefix + '**');

    // The account page of that session: the app is listed with what it may do.
    await desktop.page.goto(cfg.accountUrl);
    await desktop.page.getByRole('heading', { name: 'Your account' }).waitFor();
    await desktop.page.getByRole('heading', { name: APP }).waitFor();
    await desktop.page.getByText('See your email address').waitFor();
    await desktop.page.getByText('This browser').waitFor();
    const appListed = await desktop.page.getByRole('button', { name: `Revoke access for ${APP}` }).isVisible();

    // Phone, light: a second session, through the account page's own login.
    const mobile = await openPage(browser, cfg, problems, 'mobile', {
      viewport: MOBILE,
      isMobile: true,
      hasTouch: true,
      colorScheme: 'light',
    });
    await signInToAccount(mobile.page, cfg, 'mobile');
    await assertFitsWidth(mobile.page, MOBILE.width, 'the account page');
    await screenshot(mobile.page, cfg, 'account-mobile');

    // Desktop, dark: a third session, and the dark palette really applies.
    const dark = await openPage(browser, cfg, problems, 'dark', {
      viewport: DESKTOP,
      colorScheme: 'dark',
    });
    await signInToAccount(dark.page, cfg, 'dark');
    await assertDark(dark.page, 'the dark account page');
    await screenshot(dark.page, cfg, 'account-dark');

    // Back on the first desktop: three sessions now; revoke the app.
    await desktop.page.reload();
    await desktop.page.getByRole('heading', { name: 'Your account' }).waitFor();
    const sessionsBefore = await sessionCount(desktop.page);
    await screenshot(desktop.page, cfg, 'account-desktop');
    await desktop.page.getByRole('button', { name: `Revoke access for ${APP}` }).click();
    await desktop.page.getByRole('status').filter({ hasText: 'Access revoked.' }).waitFor();
    await desktop.page.getByText('No app has access to your account.').waitFor();
    const revoked = (await desktop.page.getByRole('heading', { name: APP }).count()) === 0;
    await screenshot(desktop.page, cfg, 'account-revoked-desktop');

    // An unverifiable logout request (only a client_id) asks first; staying changes nothing.
    const clientId = new URL(cfg.authorizeUrl).searchParams.get('client_id');
    await desktop.page.goto(`${cfg.serverOrigin}/logout?client_id=${encodeURIComponent(clientId)}`);
    await desktop.page.getByRole('heading', { name: 'Sign out of Portcullis?' }).waitFor();
    await screenshot(desktop.page, cfg, 'logout-confirm');
    await desktop.page.getByRole('link', { name: 'Stay signed in', exact: true }).click();
    await desktop.page.getByRole('heading', { name: 'Your account' }).waitFor();

    // Sign out everywhere: this browser lands on the signed-out page, the others are out.
    await desktop.page.getByRole('button', { name: 'Sign out everywhere', exact: true }).click();
    await desktop.page.getByRole('heading', { name: 'You are signed out' }).waitFor();
    await screenshot(desktop.page, cfg, 'signed-out');
    await mobile.page.reload();
    await mobile.page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await dark.page.reload();
    await dark.page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const othersSignedOut = true;

    for (const p of [desktop, mobile, dark]) await p.context.close();
    if (problems.length > 0) throw new Error(problems.join('\n'));
    process.stdout.write(
      JSON.stringify({
        sessions_before: sessionsBefore,
        app_listed: appListed,
        revoked,
        others_signed_out: othersSignedOut,
      }) + '\n',
    );
  } catch (err) {
    throw withProblems(err, problems);
  } finally {
    await browser.close();
  }
}

run('account.mjs', main);
