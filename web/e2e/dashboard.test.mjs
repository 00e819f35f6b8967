// Browser tests of the vendor dashboard (/vendor/analytics) against the real
// souk binary in demo mode, whose first start records a month of history
// (api/src/demo.rs): Bolt Bikes (v-bolt) with an unread backlog, Lumen Home
// (v-lumen) caught up. The figures shown are compared with what
// GET /api/vendor/analytics answers for the same window; the range picker,
// the phone layout, the empty state of a vendor without conversations and
// the demo operator's sign-in are checked too.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { formatDuration, hourRange, longDate, responseChange } from '../src/components/Dashboard/format.js';
import { DESKTOP, PHONE, screenshotDir, sel, signInDemo, textOf, useSouk } from './harness.mjs';

const app = useSouk();

/** The signed-in session's token (the page keeps it in sessionStorage). */
async function tokenOf(page) {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem('souk.session')).token);
}

async function api(token, { from, to }) {
  const res = await fetch(`${app.souk.baseUrl}/api/vendor/analytics?from=${from}&to=${to}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(res.status, 200);
  return res.json();
}

function previousDate(date, days) {
  return new Date(Date.parse(`${date}T00:00:00Z`) - days * 86_400_000).toISOString().slice(0, 10);
}

function nextDay(date) {
  return previousDate(date, -1);
}

/** The dates (both included) of the range the page shows. */
async function shownRange(page) {
  const label = page.locator(sel('range-label'));
  return { first: await label.getAttribute('data-first'), last: await label.getAttribute('data-last') };
}

/** Waits for the figures of `range` to show, then reads them from the page. */
async function shownFigures(page, range) {
  await page.locator(`${sel('dashboard-figures')}[data-first="${range.first}"][data-last="${range.last}"]`).waitFor();
  const value = async (id) => page.locator(sel(id)).getAttribute('data-value');
  const text = async (id) => (await page.locator(`${sel(id)} .dash-stat-value`).textContent()).trim();
  const table = async (chart) =>
    page.$$eval(`${sel(chart)} [data-testid="chart-table"] tbody tr`, (rows) =>
      rows.map((r) => [...r.children].map((c) => c.textContent.trim())),
    );
  return {
    received: [await value('stat-received'), await text('stat-received')],
    sent: [await value('stat-sent'), await text('stat-sent')],
    conversations: [await value('stat-conversations'), await text('stat-conversations')],
    unread: [await value('stat-unread'), await text('stat-unread')],
    p50: [await value('response-p50'), await text('response-p50')],
    p90: [await value('response-p90'), await text('response-p90')],
    byDay: await table('chart-by-day'),
    byHour: await table('chart-by-hour'),
    busiest: (await page.locator(`${sel('chart-by-hour')} .dash-reading`).textContent()).trim(),
    products: await table('chart-products'),
    trend: await table('chart-response'),
    bars: await page.locator(`${sel('chart-by-day')} .recharts-bar-rectangle`).count(),
    hourBars: await page.locator(`${sel('chart-by-hour')} .recharts-bar-rectangle`).count(),
  };
}

/** Asserts that the page shows exactly the route's figures. */
function assertSame(shown, a, what) {
  const n = (v) => [String(v), String(v)];
  assert.deepEqual(shown.received, n(a.messagesReceived), `${what}: messages received`);
  assert.deepEqual(shown.sent, n(a.messagesSent), `${what}: messages sent`);
  assert.deepEqual(shown.conversations, n(a.conversations), `${what}: conversations`);
  assert.deepEqual(shown.unread, n(a.unreadBacklog), `${what}: unread backlog`);
  const { p50, p90 } = a.firstResponseSeconds;
  assert.deepEqual(shown.p50, [String(p50 ?? ''), formatDuration(p50)], `${what}: p50`);
  assert.deepEqual(shown.p90, [String(p90 ?? ''), formatDuration(p90)], `${what}: p90`);
  assert.deepEqual(
    shown.byDay,
    a.byDay.map((d) => [longDate(d.date), String(d.messagesReceived), String(d.messagesSent)]),
    `${what}: messages by day`,
  );
  // Busiest hours: the 24 UTC hours as the route counts them, and the
  // reading names the hour with the most messages (the earliest of equals).
  assert.equal(a.byHour.length, 24, `${what}: byHour has 24 hours`);
  assert.deepEqual(
    shown.byHour,
    a.byHour.map((h) => [hourRange(h.hour), String(h.messagesReceived), String(h.messagesSent)]),
    `${what}: busiest hours`,
  );
  const top = a.byHour.reduce((best, h) => {
    const total = h.messagesReceived + h.messagesSent;
    return total > (best?.total ?? 0) ? { hour: h.hour, total } : best;
  }, null);
  assert.equal(
    shown.busiest,
    top
      ? `Busiest: ${String(top.hour).padStart(2, '0')}:00–${String((top.hour + 1) % 24).padStart(2, '0')}:00 UTC, ${top.total} ${top.total === 1 ? 'message' : 'messages'}.`
      : 'No messages in this range.',
    `${what}: busiest hour`,
  );
  assert.deepEqual(
    shown.products,
    a.topProducts.map((p) => [p.name, String(p.conversations)]),
    `${what}: top products`,
  );
}

async function shot(page, name) {
  await fs.promises.mkdir(screenshotDir, { recursive: true });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForTimeout(200);
  await page.screenshot({ path: path.join(screenshotDir, name), fullPage: true, animations: 'disabled' });
}

test('desktop: a vendor reads the seeded month, changes the range and sees the figures change', async (t) => {
  const vendor = await app.user(DESKTOP, 'vendor');
  const { page } = vendor;
  let token;
  let month;

  await t.test('the chat header links to the dashboard', async () => {
    await signInDemo(page, 'vendor', 'v-bolt');
    token = await tokenOf(page);
    await page.locator(sel('dashboard-link')).click();
    await page.waitForURL('**/vendor/analytics');
    await page.locator('h1', { hasText: 'Dashboard' }).waitFor();
  });

  await t.test('the default 30 days show the route’s figures for the same window', async () => {
    const range = await shownRange(page);
    const today = new Date().toISOString().slice(0, 10);
    assert.equal(range.last, today);
    const shown = await shownFigures(page, range);
    month = await api(token, { from: range.first, to: nextDay(range.last) });
    assert.equal(month.byDay.length, 30);
    assertSame(shown, month, '30 days');
    // The seeded month has something in every figure.
    assert.ok(month.messagesReceived > 20 && month.messagesSent > 10, JSON.stringify(month));
    assert.ok(month.unreadBacklog > 0 && month.firstResponseSeconds.p50 > 0, JSON.stringify(month));
    assert.ok(month.topProducts.length >= 3, JSON.stringify(month.topProducts));
    assert.ok(shown.bars > 10, `bars drawn: ${shown.bars}`);
    // The seeded month: customers write in the evening, the shop answers in
    // shop hours, so some hours are busy and the night is quiet.
    assert.ok(shown.hourBars > 10, `hour bars drawn: ${shown.hourBars}`);
    assert.ok(month.byHour.some((h) => h.messagesReceived + h.messagesSent === 0), JSON.stringify(month.byHour));
    assert.equal(
      month.byHour.reduce((n, h) => n + h.messagesReceived, 0),
      month.messagesReceived,
      'the hours add up to the month',
    );
    // The trend: a row per bucket (2 + 4 × 7 days), from the route too.
    assert.equal(shown.trend.length, 5);
    assert.match(await textOf(page, sel('chart-response')), /First response time by week/);
    await shot(page, 'dashboard-desktop.png');
  });

  await t.test('7 days: other figures, again the route’s', async () => {
    await page.locator(sel('range-preset', { days: 7 })).click();
    await page.waitForURL(/days=7/);
    const range = await shownRange(page);
    assert.equal(
      Math.round((Date.parse(range.last) - Date.parse(range.first)) / 86_400_000) + 1,
      7,
    );
    const shown = await shownFigures(page, range);
    const week = await api(token, { from: range.first, to: nextDay(range.last) });
    assertSame(shown, week, '7 days');
    assert.equal(shown.byDay.length, 7);
    assert.ok(week.messagesReceived < month.messagesReceived, 'a week has fewer messages than the month');
    assert.equal(shown.trend.length, 7, 'a trend point per day');
    // The median's change is against the 7 days before, from the route too.
    const before = await api(token, { from: previousDate(range.first, 7), to: range.first });
    const change = responseChange(week.firstResponseSeconds.p50, before.firstResponseSeconds.p50);
    const direction = await page.locator(sel('response-change')).getAttribute('data-direction');
    assert.equal(direction, change?.direction ?? 'none', JSON.stringify({ week: week.firstResponseSeconds, before: before.firstResponseSeconds }));
    if (change && change.direction !== 'same') {
      assert.match(await textOf(page, sel('response-change')), new RegExp(`${change.percent}% ${change.direction} than in the previous 7 days`));
    }
    assert.equal(await page.locator(sel('range-preset', { days: 7 })).getAttribute('aria-pressed'), 'true');
  });

  await t.test('while the figures load the page says so, then shows the new range', async () => {
    // The route's answers are held until the loading state has been seen.
    let release;
    const held = new Promise((resolve) => {
      release = resolve;
    });
    const hold = async (route) => {
      await held;
      await route.continue();
    };
    await page.route('**/api/vendor/analytics?*', hold);
    await page.locator(sel('range-preset', { days: 90 })).click();
    await page.locator(sel('dashboard-loading')).waitFor();
    assert.equal(await page.locator('main').getAttribute('aria-busy'), 'true');
    assert.equal(await page.locator(sel('dashboard-figures')).count(), 0, 'no stale figures under a new range');
    release();
    const range = await shownRange(page);
    const shown = await shownFigures(page, range);
    await page.unroute('**/api/vendor/analytics?*', hold);
    assert.equal(shown.byDay.length, 90);
    assertSame(shown, await api(token, { from: range.first, to: nextDay(range.last) }), '90 days');
    assert.equal(await page.locator('main').getAttribute('aria-busy'), 'false');
  });

  await t.test('a custom range, and a wrong one refused before asking', async () => {
    await page.locator(sel('range-custom')).click();
    const first = month.byDay[5].date;
    const last = month.byDay[16].date;
    await page.locator(sel('range-from')).fill(last);
    await page.locator(sel('range-to')).fill(first);
    await page.locator(sel('range-apply')).click();
    assert.match(await textOf(page, sel('range-error')), /start date must not be after the end date/);
    await page.locator(sel('range-from')).fill(first);
    await page.locator(sel('range-to')).fill(last);
    await page.locator(sel('range-apply')).click();
    await page.waitForURL(new RegExp(`from=${first}&to=${last}`));
    const shown = await shownFigures(page, { first, last });
    assertSame(shown, await api(token, { from: first, to: nextDay(last) }), 'custom range');
    assert.equal(shown.byDay.length, 12);
    // A reload keeps the range (it is in the URL).
    await page.reload();
    await shownFigures(page, { first, last });
  });

  await t.test('the back link returns to the conversations', async () => {
    await page.locator(sel('back-to-chat')).click();
    await page.waitForURL('**/vendor/chat');
    await page.locator(sel('connection-status', { state: 'online' })).waitFor();
  });

  await t.test('no script errors', async () => {
    assert.deepEqual(vendor.errors, []);
  });
});

test('phone: the dashboard fits 390 px, one column, charts and tables included', async () => {
  const vendor = await app.user(PHONE, 'phone-vendor');
  const { page } = vendor;
  await signInDemo(page, 'vendor', 'v-lumen');
  await page.goto('/vendor/analytics');
  const range = await shownRange(page);
  const shown = await shownFigures(page, range);
  const a = await api(await tokenOf(page), { from: range.first, to: nextDay(range.last) });
  assertSame(shown, a, 'phone');
  assert.equal(a.unreadBacklog, 0, 'Lumen Home is caught up');
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no sideways scrolling (${width} px)`);
  // One column: the cards are stacked, each as wide as the others.
  const boxes = await page.$$eval('.dash-grid > .dash-card', (els) => els.map((e) => e.getBoundingClientRect().toJSON()));
  assert.equal(boxes.length, 5);
  for (let i = 1; i < boxes.length; i += 1) {
    assert.equal(Math.round(boxes[i].left), Math.round(boxes[0].left));
    assert.ok(boxes[i].top >= boxes[i - 1].bottom, 'stacked');
  }
  // The table alternatives open.
  for (const chart of ['chart-products', 'chart-by-hour']) {
    await page.locator(`${sel(chart)} summary`).tap();
    await page.locator(`${sel(chart)} ${sel('chart-table')}`).waitFor();
    await page.locator(`${sel(chart)} summary`).tap();
  }
  // The hour axis labels do not overlap at phone width.
  // (The axis labels drawn lowest: those of the hours, not of the counts.)
  const labels = await page.$$eval(`${sel('chart-by-hour')} .recharts-cartesian-axis-tick-value`, (els) =>
    els.map((e) => ({ text: e.textContent, ...e.getBoundingClientRect().toJSON() })),
  );
  const lowest = Math.max(...labels.map((l) => Math.round(l.top)));
  const ticks = labels.filter((l) => Math.round(l.top) === lowest).sort((a, b) => a.left - b.left);
  assert.ok(ticks.every((l) => /^\d\d$/.test(l.text)), JSON.stringify(ticks.map((l) => l.text)));
  assert.ok(ticks.length >= 4, `hour ticks: ${ticks.length}`);
  for (let i = 1; i < ticks.length; i += 1) {
    assert.ok(ticks[i].left >= ticks[i - 1].right, 'hour labels apart');
  }
  await shot(page, 'dashboard-phone.png');
  assert.deepEqual(vendor.errors, []);
});

test('a vendor without conversations sees the empty state; other roles are sent to their page', async () => {
  const u = await app.user(DESKTOP, 'new-vendor');
  const { page } = u;
  const token = await app.souk.token('v-fresh', 'vendor', 'Fresh Flowers');
  await page.goto(`/?token=${encodeURIComponent(token)}`);
  await page.waitForURL('**/vendor/chat');
  await page.goto('/vendor/analytics');
  await page.locator(sel('dashboard-empty')).waitFor();
  assert.match(await textOf(page, sel('dashboard-empty')), /No conversations in this range/);
  assert.equal(await page.locator(sel('dashboard-figures')).count(), 0);
  const a = await api(token, { from: '2026-01-01', to: '2026-02-01' });
  assert.equal(a.conversations, 0);

  const customer = await app.user(DESKTOP, 'customer');
  await signInDemo(customer.page, 'customer', 'c-chen');
  assert.equal(await customer.page.locator(sel('dashboard-link')).count(), 0, 'customers have no dashboard link');
  await customer.page.goto('/vendor/analytics');
  await customer.page.waitForURL('**/chat');
  assert.deepEqual([...u.errors, ...customer.errors], []);
});

test('demo sign-in: the support operator lands on the operator page', async () => {
  const u = await app.user(DESKTOP, 'operator');
  const { page } = u;
  await page.goto('/');
  const sam = page.locator(sel('demo-operator', { 'user-id': 'o-sam' }));
  await sam.waitFor();
  assert.match(await sam.textContent(), /Sam Reyes, support/);
  await sam.click();
  await page.waitForURL('**/operator');
  const session = await page.evaluate(() => JSON.parse(sessionStorage.getItem('souk.session')));
  assert.deepEqual(session.user, { id: 'o-sam', role: 'operator', name: 'Sam Reyes, support' });
  assert.deepEqual(u.errors, []);
});
