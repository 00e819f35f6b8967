// Browser tests of the replay console and the operator page against the real
// souk binary (demo mode): a customer and a vendor chat and the vendor reads;
// the customer walks the conversation's history in the replay console (a
// message read at event k shows unread just before k and read at k, with each
// side's unread figure), opens a deep link, downloads the transcript; the
// support operator o-sam finds the conversation by participant, gives a
// reason and opens it; the customer's timeline then shows that access.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import {
  DESKTOP,
  eventually,
  messagesOf,
  PHONE,
  screenshot,
  sel,
  send,
  signInDemo,
  stepper,
  textOf,
  useSouk,
} from './harness.mjs';

const app = useSouk();

async function user(device, label) {
  const u = await app.user(device, label);
  // A failed request's console line names no URL: say which it was.
  u.page.on('response', (r) => {
    if (r.status() >= 400) u.errors.push(`${label}: ${r.status()} ${r.request().method()} ${r.url()}`);
  });
  return u;
}

/** GET on souk's REST routes with a token, as JSON. */
async function api(token, path) {
  const res = await fetch(`${app.souk.baseUrl}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, `${path}: ${res.status} ${await res.clone().text()}`);
  return res.json();
}

async function allEvents(token, convId) {
  const out = [];
  for (let from = 0; from !== null; ) {
    const page = await api(token, `/api/chat/${convId}/events?from=${from}&limit=1000`);
    out.push(...page.events);
    from = page.next;
  }
  return out;
}

/** What the console shows: the revision, a message's read state and each side's unread figure. */
async function shown(page, seq) {
  return page.evaluate((s) => {
    const state = document.querySelector('[data-testid="replay-state"]');
    const msg = state?.querySelector(`[data-testid="replay-message"][data-seq="${s}"]`);
    const unread = (side) =>
      Number(state?.querySelector(`[data-testid="replay-unread"][data-side="${side}"]`)?.dataset.count ?? NaN);
    return {
      at: state ? Number(state.dataset.at) : null,
      read: msg ? msg.dataset.read === 'true' : null,
      readText: msg?.querySelector('[data-testid="replay-read-state"]')?.textContent ?? null,
      customerUnread: unread('customer'),
      vendorUnread: unread('vendor'),
      busy: document.querySelector('.replay-controls')?.getAttribute('aria-busy') === 'true',
      url: location.href,
    };
  }, seq);
}

async function waitAt(page, revision, seq) {
  return eventually(async () => {
    const s = await shown(page, seq);
    return s.at === revision && !s.busy ? s : null;
  }, `the console to show revision ${revision}`);
}

const TEXT = 'Is the lamp dimmable? (replay test)';
const REASON = 'Refund dispute #812: lamp never arrived';

test('replay console and operator access', async (t) => {
  const step = stepper(t);
  let customer;
  let vendor;
  let operator;
  let convId;
  let token;
  let seq;
  let k; // the revision of the vendor's read that covers the message

  await step('a customer and a vendor chat, and the vendor reads', async () => {
    customer = await user(DESKTOP, 'customer');
    vendor = await user(DESKTOP, 'vendor');
    await signInDemo(customer.page, 'customer', 'c-chen');
    await signInDemo(vendor.page, 'vendor', 'v-lumen');
    await customer.page.locator(sel('chat-with-vendor', { 'product-id': 'p-lamp' })).click();
    await customer.page.waitForURL(/\/chat\?c=/);
    convId = new URL(customer.page.url()).searchParams.get('c');
    await customer.page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
    await send(customer.page, TEXT);
    await eventually(
      async () => (await messagesOf(customer.page)).some((m) => m.text === TEXT && m.status === 'sent'),
      'the message to be recorded',
    );
    await vendor.page.locator(sel('conversation-item', { 'conversation-id': convId })).click();
    await eventually(
      async () => (await messagesOf(customer.page)).find((m) => m.text === TEXT)?.status === 'read',
      'the customer to see the message read',
    );

    token = await app.souk.token('c-chen', 'customer', 'Chen Wei');
    const events = await allEvents(token, convId);
    seq = events.find((e) => e.type === 'MessageSent' && e.data.text === TEXT).data.seq;
    k = events.find((e) => e.type === 'MessageRead' && e.data.readerId === 'v-lumen' && e.data.upToSeq >= seq).revision;
    assert.ok(k > 0);
  });

  await step('the chat header links to the history; the console opens at the latest event, integrity verified', async () => {
    const { page } = customer;
    await page.locator(sel('history-link')).click();
    await page.waitForURL(`**/replay/${convId}`);
    await page.locator(sel('replay-console')).waitFor();
    await page.locator(sel('timeline-event')).first().waitFor();
    const last = (await allEvents(token, convId)).length - 1;
    const s = await waitAt(page, last, seq);
    assert.equal(s.read, true);
    assert.equal(s.vendorUnread, 0);
    assert.equal(await page.locator(sel('integrity-badge')).getAttribute('data-valid'), 'true');
    assert.match(await textOf(page, sel('integrity-badge')), /Integrity verified/);
    assert.equal(await page.locator(sel('timeline-event')).count(), last + 1, 'every event in the timeline');
    assert.equal(await page.locator(sel('composer-input')).count(), 0, 'no composer in the console');
  });

  await step('walking back: read at event k, unread at k-1, with each side’s unread figure', async () => {
    const { page } = customer;
    await page.locator(`${sel('timeline-event', { revision: k })} ${sel('timeline-pick')}`).click();
    const atK = await waitAt(page, k, seq);
    assert.equal(atK.read, true, 'read just after the read event');
    assert.match(atK.readText, /^Read /);
    assert.equal(atK.vendorUnread, 0);
    assert.match(atK.url, new RegExp(`[?&]at=${k}(&|$)`), 'the URL follows');
    assert.match(await textOf(page, sel('replay-current')), /Lumen Home read/);

    await page.keyboard.press('ArrowLeft');
    const before = await waitAt(page, k - 1, seq);
    const server = await api(token, `/api/chat/${convId}/state?at=${k - 1}`);
    assert.equal(before.read, false, 'unread just before the read event');
    assert.equal(before.readText, 'Not read yet');
    assert.ok(server.sides.vendor.unread >= 1);
    assert.equal(before.vendorUnread, server.sides.vendor.unread, 'the vendor’s unread figure then');
    assert.equal(before.customerUnread, server.sides.customer.unread);
    assert.match(before.url, new RegExp(`[?&]at=${k - 1}(&|$)`));
    assert.equal(await page.locator(sel('replay-slider')).inputValue(), String(k - 1));

    await page.locator(sel('replay-next')).click();
    assert.equal((await waitAt(page, k, seq)).read, true);
  });

  await step('a deep link ?at= opens at that event; a bad one says so', async () => {
    const { page } = customer;
    await page.goto(`/replay/${convId}?at=${k - 1}`);
    const s = await waitAt(page, k - 1, seq);
    assert.equal(s.read, false);
    assert.equal(await textOf(page, sel('replay-position')), String(k));
    await page.goto(`/replay/${convId}?at=soon`);
    await page.locator(sel('replay-error')).waitFor();
    await page.getByRole('button', { name: 'Show the latest event' }).click();
    await page.locator(sel('replay-state')).waitFor();
  });

  await step('the transcript downloads as served: JSON with the final hash, and the printable page', async () => {
    const { page } = customer;
    const events = await allEvents(token, convId);
    const [json] = await Promise.all([page.waitForEvent('download'), page.locator(sel('download-json')).click()]);
    assert.equal(json.suggestedFilename(), `souk-transcript-${convId}.json`);
    const transcript = JSON.parse(await fs.promises.readFile(await json.path(), 'utf8'));
    assert.equal(transcript.format, 'souk-transcript/1');
    assert.equal(transcript.events.length, events.length);
    assert.equal(transcript.finalHash, events.at(-1).hash);
    const [html] = await Promise.all([page.waitForEvent('download'), page.locator(sel('download-html')).click()]);
    assert.equal(html.suggestedFilename(), `souk-transcript-${convId}.html`);
    const text = await fs.promises.readFile(await html.path(), 'utf8');
    assert.match(text, /^<!doctype html>/i);
    assert.ok(text.includes(transcript.finalHash), 'the final hash is on the printable page');
  });

  await step('the operator searches by participant with a reason and opens the conversation', async () => {
    operator = await user(DESKTOP, 'operator');
    const { page } = operator;
    await page.goto('/');
    await page.locator(sel('demo-operator', { 'user-id': 'o-sam' })).click();
    await page.waitForURL('**/operator');
    await page.locator(sel('operator-page')).waitFor();

    await page.locator(sel('participant-input')).fill('c-chen');
    await page.locator(sel('operator-search')).click();
    await page.locator(sel('reason-error')).waitFor();
    assert.equal(await page.locator(sel('operator-result')).count(), 0, 'no search without a reason');

    await page.locator(sel('reason-input')).fill(REASON);
    await page.locator(sel('operator-search')).click();
    const row = page.locator(sel('operator-result', { 'conversation-id': convId }));
    await row.waitFor();
    assert.match(await row.textContent(), /Chen Wei/);
    assert.match(await row.textContent(), /Lumen Home/);
    assert.equal(await page.locator(sel('composer-input')).count(), 0, 'operators see no composer');
    await screenshot(page, 'operator.png');

    await row.locator(sel('operator-open')).click();
    await page.waitForURL(`**/operator/conversations/${convId}?reason=*`);
    assert.equal(new URL(page.url()).searchParams.get('reason'), REASON);
    await page.locator(sel('replay-console')).waitFor();
    await page.locator(sel('timeline-event', { type: 'SupportAccessed' })).first().waitFor();
    assert.match(await textOf(page, sel('operator-notice')), /recorded/);
    assert.equal(await page.locator(sel('composer-input')).count(), 0, 'operators see no composer');
    await page.locator(`${sel('timeline-event', { revision: k - 1 })} ${sel('timeline-pick')}`).click();
    assert.equal((await waitAt(page, k - 1, seq)).read, false);
    assert.match(page.url(), /reason=/, 'the reason stays in the URL');
    await screenshot(page, 'operator-replay.png');

    // The chat is not theirs: /chat sends them back to their page.
    await page.goto('/chat');
    await page.waitForURL('**/operator');
  });

  await step('the customer’s timeline shows the support access, once for all the views', async () => {
    const { page } = customer;
    await page.goto(`/replay/${convId}`);
    const access = page.locator(sel('timeline-event', { type: 'SupportAccessed' }));
    await access.first().waitFor();
    assert.equal(await access.count(), 1, 'stepping through states with one reason is one access');
    assert.equal(
      (await access.locator(sel('timeline-title')).textContent()).replace(/^Support/, '').trim(),
      `Support (Sam Reyes, support) viewed this conversation: ${REASON}`,
    );
    assert.equal(await page.locator(sel('support-summary')).getAttribute('data-count'), '1');
    const events = await allEvents(token, convId);
    await waitAt(page, events.length - 1, seq);
    assert.match(await textOf(page, sel('replay-current')), /Support \(Sam Reyes, support\) viewed this conversation/);
    await screenshot(page, 'replay-console.png');
  });

  await step('phone width: the console fits and steps with its buttons', async () => {
    const phone = await user(PHONE, 'customer phone');
    const { page } = phone;
    await signInDemo(page, 'customer', 'c-chen');
    await page.goto(`/replay/${convId}?at=${k}`);
    await waitAt(page, k, seq);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling (${overflow}px too wide)`);
    await page.locator(sel('replay-previous')).tap();
    assert.equal((await waitAt(page, k - 1, seq)).read, false);
    await screenshot(page, 'replay-console-phone.png');
  });

  await step('no script errors', async () => {
    const errors = app.users.flatMap((u) => u.errors).filter((e) => !/net::ERR|WebSocket/.test(e));
    assert.deepEqual(errors, []);
  });
});
