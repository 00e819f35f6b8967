// Browser test of search: a customer asks "Is the frame 54 cm?", the vendor
// answers "Vendor reply #7", and forty more messages follow, so that neither
// is on the first page of history. The vendor, in a fresh page, searches
// "54" and "#7": the conversation is found with the matching message shown
// (its found words marked), and opening it loads the older pages, scrolls to
// that message and marks it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DESKTOP, eventually, messagesOf, sel, send, signInDemo, stepper, useSouk } from './harness.mjs';

const app = useSouk();
const user = (label) => app.user(DESKTOP, label);

const QUESTION = 'Is the frame 54 cm?';
const REPLY = 'Vendor reply #7';
const FILLER = 40;
/** The filler notes hold no digit (a "7" in them would be a newer match of "#7"): a, b, ..., z, ba, bb... */
const note = (i) => `More about the delivery, note ${[...i.toString(26)].map((c) => 'abcdefghijklmnopqrstuvwxyz'[parseInt(c, 26)]).join('')}`;

/** Searches in the list and waits for the conversation's row to show `text` as its match. */
async function searchFor(page, query, convId, text) {
  const box = page.locator(sel('conversation-search'));
  await box.fill('');
  await box.fill(query);
  const row = page.locator(sel('conversation-item', { 'conversation-id': convId }));
  await eventually(
    async () => (await row.count()) === 1 && (await row.locator(sel('search-match')).textContent().catch(() => null)) === text,
    `"${query}" to find the conversation with its match "${text}"`,
  );
  return row;
}

/** Opens the found row and checks that the window shows the message `text`, marked and in view. */
async function opensAt(page, row, convId, text) {
  await row.click();
  await page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
  const found = page.locator(`${sel('message')}[data-found="true"]`);
  await eventually(async () => (await found.count()) === 1, `the message "${text}" to be marked`, { timeout: 20_000 });
  assert.equal(await found.locator(sel('message-text')).textContent(), text);
  await eventually(async () => {
    const list = await page.locator(sel('message-list')).boundingBox();
    const msg = await found.boundingBox();
    return !!list && !!msg && msg.y >= list.y && msg.y + msg.height <= list.y + list.height;
  }, `the message "${text}" to be scrolled into view`);
  return Number(await found.getAttribute('data-seq'));
}

test('desktop: search finds "54" and "#7" and opens the conversation at the message', async (t) => {
  const step = stepper(t);
  let customer;
  let vendor;
  let convId;

  await step('a question, a reply and forty more messages', async () => {
    customer = await user('customer');
    vendor = await user('vendor');
    await signInDemo(customer.page, 'customer', 'c-bruno');
    await signInDemo(vendor.page, 'vendor', 'v-bolt');
    const { page } = customer;
    await page.locator(sel('product-strip')).waitFor();
    await page.locator(sel('chat-with-vendor', { 'product-id': 'p-red-bike' })).click();
    await page.waitForURL(/\/chat\?c=/);
    convId = new URL(page.url()).searchParams.get('c');
    assert.ok(convId, 'conversation id in the URL');
    await page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
    await send(page, QUESTION);
    await eventually(async () => (await messagesOf(page)).some((m) => m.text === QUESTION && m.status !== 'pending'), 'the question to be confirmed');

    await vendor.page.locator(sel('conversation-item', { 'conversation-id': convId })).click();
    await vendor.page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
    await send(vendor.page, REPLY);
    await eventually(async () => (await messagesOf(vendor.page)).some((m) => m.text === REPLY && m.mine && m.status !== 'pending'), 'the reply to be confirmed');

    for (let i = 1; i <= FILLER; i += 1) await send(page, note(i));
    await eventually(
      async () => (await messagesOf(page)).some((m) => m.text === note(FILLER) && m.status !== 'pending'),
      'the last note to be confirmed',
      { timeout: 30_000 },
    );
  });

  await step('in a fresh page, "54" finds the conversation and opens it at the question', async () => {
    const { page } = vendor;
    await page.goto('/vendor/chat');
    await page.locator(sel('connection-status', { state: 'online' })).waitFor();
    const row = await searchFor(page, '54', convId, QUESTION);
    assert.equal(await row.locator(`${sel('search-match')} mark`).allTextContents().then((m) => m.join('|')), '54');
    const seq = await opensAt(page, row, convId, QUESTION);
    // It was not on the first page: the older pages were loaded to reach it.
    const shown = await messagesOf(page);
    assert.ok(shown.some((m) => m.seq === seq && m.text === QUESTION));
    // The newest message is there too: from the history pages, or, when the
    // read models had not yet served it, from the catch-up of the room's
    // join (sinceSeq), a moment later.
    await eventually(
      async () => (await messagesOf(page)).at(-1)?.text === note(FILLER),
      'the newest message to be shown too',
    );
  });

  await step('"#7" finds the conversation with the reply and opens it there', async () => {
    const { page } = vendor;
    await page.goto('/vendor/chat');
    await page.locator(sel('connection-status', { state: 'online' })).waitFor();
    const row = await searchFor(page, '#7', convId, REPLY);
    assert.equal(await row.locator(`${sel('search-match')} mark`).allTextContents().then((m) => m.join('|')), '7');
    await opensAt(page, row, convId, REPLY);
  });

  await step('the customer finds the reply too; without a search the last message shows again', async () => {
    const { page } = customer;
    const row = await searchFor(page, 'reply #7', convId, REPLY);
    await page.locator(sel('conversation-search')).fill('');
    await eventually(
      async () => (await row.locator(sel('search-match')).count()) === 0 && (await row.locator(sel('last-message')).count()) === 1,
      'the plain list to show the last message again',
    );
  });

  await step('no script errors in either page', async () => {
    const errors = [...customer.errors, ...vendor.errors].filter((e) => !/net::ERR|WebSocket/.test(e));
    assert.deepEqual(errors, []);
  });
});
