// Test harness of the browser tests: the real souk binary on free ports with
// a temporary data directory, Debian's Chromium driven by playwright-core, and
// a few polling helpers.
//
// Environment:
//   SOUK_BIN       the souk binary (default ../target/release/souk from web/)
//   CHROMIUM_PATH  the browser (default /usr/bin/chromium)
//   E2E_HEADFUL=1  show the browser (needs a display)

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const webDir = path.resolve(here, '..');
export const repoDir = path.resolve(webDir, '..');
export const distDir = path.join(webDir, 'dist');
export const screenshotDir = path.join(repoDir, 'docs', 'screenshots');
export const soukBin = path.resolve(webDir, process.env.SOUK_BIN ?? '../target/release/souk');

const READY_TIMEOUT_MS = 30_000;

/**
 * Starts `souk serve --demo` on 127.0.0.1:0 for both listeners and waits for
 * its `{"event":"listening",...}` line. Returns the base URL, the data
 * directory, a `token()` helper (the `souk token` command) and `stop()`.
 */
export async function startSouk() {
  if (!fs.existsSync(soukBin)) {
    throw new Error(
      `the souk binary is missing at ${soukBin}: run \`cargo build --release -p souk-api\` at the repository root, or set SOUK_BIN`,
    );
  }
  if (!fs.existsSync(path.join(distDir, 'index.html'))) {
    throw new Error(`the web app is not built (${distDir}): run \`npm run build\` in web/`);
  }
  const dataDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'souk-e2e-'));
  const args = [
    'serve',
    '--demo',
    '--data-dir',
    dataDir,
    '--http-addr',
    '127.0.0.1:0',
    '--socket-addr',
    '127.0.0.1:0',
    '--web-dir',
    distDir,
  ];
  const child = spawn(soukBin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const listening = await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(
      () => reject(new Error(`souk did not report listening within ${READY_TIMEOUT_MS} ms\n${stderr.slice(-4000)}`)),
      READY_TIMEOUT_MS,
    );
    child.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        try {
          const msg = JSON.parse(line);
          if (msg.event === 'listening') {
            clearTimeout(timer);
            resolve(msg);
          }
        } catch {
          // not the line we wait for
        }
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`souk exited before listening (code ${code}, signal ${signal})\n${stderr.slice(-4000)}`));
    });
  });

  const baseUrl = `http://${listening.http}`;
  return {
    baseUrl,
    socketAddr: listening.socket,
    dataDir,
    stderr: () => stderr,
    /** A token minted by `souk token` with the server's secret. */
    async token(user, role, name) {
      const a = ['token', '--data-dir', dataDir, '--user', user, '--role', role];
      if (name) a.push('--name', name);
      const { stdout } = await promisify(execFile)(soukBin, a);
      return stdout.trim().split('\n').pop().trim();
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      }
      await fs.promises.rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: process.env.E2E_HEADFUL !== '1',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ].filter((a) => a !== '--headless' || process.env.E2E_HEADFUL !== '1'),
  });
}

export const DESKTOP = { viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 };
export const PHONE = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
  userAgent:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1',
};

/** A browser context for one user; page errors are collected for a final check. */
export async function openUser(browser, baseUrl, device, label) {
  const context = await browser.newContext({ ...device, baseURL: baseUrl, locale: 'en-GB', timezoneId: 'UTC' });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(`${label}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${label} console: ${m.text()}`);
  });
  return { context, page, errors, label };
}

/** Polls `fn` until it returns a truthy value; fails with `what` and the last value seen. */
export async function eventually(fn, what, { timeout = 10_000, interval = 100 } = {}) {
  const until = Date.now() + timeout;
  let last;
  let lastError;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > until) {
      const seen = lastError ? `error: ${lastError.message}` : `last value: ${JSON.stringify(last)}`;
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (${seen})`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Holds `fn` false for `ms` (used to prove that something did NOT happen). */
export async function never(fn, what, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await fn()) throw new Error(`unexpected: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function sel(testId, attrs = {}) {
  const extra = Object.entries(attrs)
    .map(([k, v]) => `[data-${k}="${v}"]`)
    .join('');
  return `[data-testid="${testId}"]${extra}`;
}

/** Signs in through the demo picker of the sign-in page. */
export async function signInDemo(page, role, userId) {
  await page.goto('/');
  await page.locator(sel(`demo-${role}`, { 'user-id': userId })).click();
  await page.waitForURL(role === 'vendor' ? '**/vendor/chat' : '**/chat');
  await page.locator(sel('connection-status', { state: 'online' })).waitFor();
}

/** The messages of the open conversation as shown: seq, text, mine, status. */
export function messagesOf(page) {
  return page.$$eval('[data-testid="message"]', (els) =>
    els.map((el) => ({
      id: el.dataset.messageId,
      seq: el.dataset.seq ? Number(el.dataset.seq) : null,
      mine: el.dataset.mine === 'true',
      status: el.dataset.status,
      text: el.querySelector('[data-testid="message-text"]')?.textContent ?? null,
      product: el.querySelector('[data-testid="message-product"] [data-testid="product-name"]')?.textContent ?? null,
      price: el.querySelector('[data-testid="message-product"] [data-testid="product-price"]')?.textContent ?? null,
    })),
  );
}

export async function textOf(page, selector) {
  const el = await page.$(selector);
  return el ? (await el.textContent())?.trim() : null;
}

export async function totalUnread(page) {
  const el = await page.$(sel('total-unread'));
  return el ? Number(await el.getAttribute('data-count')) : null;
}

/** The unread badge of a conversation in the list (0 when none shows). */
export async function rowUnread(page, conversationId) {
  const row = await page.$(sel('conversation-item', { 'conversation-id': conversationId }));
  if (!row) return null;
  const badge = await row.$(sel('unread-badge'));
  return badge ? Number((await badge.textContent()).trim()) : 0;
}

export async function isVisible(page, selector) {
  const el = await page.$(selector);
  return el ? el.isVisible() : false;
}

export async function send(page, text) {
  const input = page.locator(sel('composer-input'));
  await input.fill(text);
  await input.press('Enter');
}

export async function screenshot(page, name) {
  await fs.promises.mkdir(screenshotDir, { recursive: true });
  await page.waitForTimeout(250); // let the last bubble's entry animation settle
  await page.screenshot({ path: path.join(screenshotDir, name), animations: 'disabled' });
}

/** Runs dependent steps in order; a step after a failed one fails as blocked. */
export function stepper(t) {
  let broken = null;
  return async (name, fn) =>
    t.test(name, async () => {
      if (broken) {
        const e = new Error(`blocked: the earlier step "${broken}" failed`);
        e.stack = e.message;
        throw e;
      }
      try {
        await fn();
      } catch (e) {
        broken = name;
        throw e;
      }
    });
}

/**
 * One souk and one browser for the tests of a file: started before them,
 * stopped after them with every page opened through `user`. `app.souk` and
 * `app.browser` are set once the file's `before` ran.
 */
export function useSouk() {
  const app = {
    souk: null,
    browser: null,
    users: [],
    /** A new browser context and page of `device`, named `label` in errors. */
    user: async (device, label) => {
      const u = await openUser(app.browser, app.souk.baseUrl, device, label);
      app.users.push(u);
      return u;
    },
  };
  before(async () => {
    app.souk = await startSouk();
    app.browser = await launchBrowser();
  });
  after(async () => {
    for (const u of app.users) await u.context.close().catch(() => {});
    await app.browser?.close();
    await app.souk?.stop();
  });
  return app;
}
