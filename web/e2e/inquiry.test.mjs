// Browser test of the product of each inquiry (issue #16, item 1): the
// sign-in page explains the conversation demo mode starts with (Alice and
// Bolt Bikes about the red city bike, her last question unread for the shop
// only); Alice opens that conversation from a second product of Bolt Bikes
// (the helmet): its header and list entry show the helmet, the composer has
// the helmet's card attached, and it goes with her message; Bolt Bikes, with
// the conversation open, sees the card in the message list and the helmet in
// the header and the list. Back to the bike: the card shows again and can be
// left out; the same product again attaches nothing, and a new conversation
// has its product in the header but no card to send.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DESKTOP,
  eventually,
  messagesOf,
  rowUnread,
  sel,
  send,
  signInDemo,
  stepper,
  textOf,
  useSouk,
} from './harness.mjs';

const app = useSouk();
const user = (label) => app.user(DESKTOP, label);

/** The conversation's recorded events, as the customer reads them. */
async function eventsOf(token, convId) {
  const res = await fetch(`${app.souk.baseUrl}/api/chat/${convId}/events?limit=1000`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  assert.equal(res.status, 200);
  return (await res.json()).events;
}

const attachment = sel('composer-attachment');
const QUESTION = 'Does it fit a 58 cm head?';

test('desktop: a second product from the same vendor is the inquiry’s product', async (t) => {
  const step = stepper(t);
  let customer;
  let vendor;
  let convId;

  await step('the sign-in page explains the conversation the demo starts with', async () => {
    customer = await user('customer');
    vendor = await user('vendor');
    const { page } = customer;
    await page.goto('/');
    const note = await page.locator(sel('demo-seeded')).textContent();
    for (const part of ['Alice Martin', 'Bolt Bikes', 'Red city bike', 'unread']) assert.ok(note.includes(part), `“${part}” in: ${note}`);
  });

  await step('Alice has read the seeded conversation; Bolt Bikes has her last question unread', async () => {
    await signInDemo(customer.page, 'customer', 'c-alice');
    await signInDemo(vendor.page, 'vendor', 'v-bolt');
    const row = customer.page.locator(sel('conversation-item', { name: 'Bolt Bikes' }));
    await row.waitFor();
    convId = await row.getAttribute('data-conversation-id');
    assert.equal(await rowUnread(customer.page, convId), 0, 'nothing unread for Alice');
    await eventually(async () => (await rowUnread(vendor.page, convId)) === 1, 'one unread for Bolt Bikes');
    assert.match(await textOf(customer.page, `${sel('conversation-item', { 'conversation-id': convId })} ${sel('conversation-item-product')}`), /Red city bike/);
  });

  await step('Bolt Bikes has the conversation open, about the red city bike', async () => {
    const { page } = vendor;
    await page.locator(sel('conversation-item', { 'conversation-id': convId })).click();
    await page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
    assert.equal(await page.locator(sel('conversation-product')).getAttribute('data-product-id'), 'p-red-bike');
    await eventually(async () => (await messagesOf(page)).length === 3, 'the three seeded messages');
  });

  await step('Alice opens it from the helmet: header, list entry and the composer’s card show the helmet', async () => {
    const { page } = customer;
    await page.locator(sel('chat-with-vendor', { 'product-id': 'p-helmet' })).click();
    await page.waitForURL(/\/chat\?c=/);
    assert.equal(new URL(page.url()).searchParams.get('c'), convId, 'the same conversation');
    await page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
    await eventually(async () => (await page.locator(sel('conversation-product')).getAttribute('data-product-id')) === 'p-helmet', 'the header’s product');
    assert.match(await textOf(page, sel('conversation-product')), /Commuter helmet/);
    assert.match(await textOf(page, sel('conversation-product')), /€59\.90/);
    const entry = `${sel('conversation-item', { 'conversation-id': convId })} ${sel('conversation-item-product')}`;
    assert.match(await textOf(page, entry), /Commuter helmet/);
    await page.locator(attachment).waitFor();
    assert.equal(await page.locator(attachment).getAttribute('data-product-id'), 'p-helmet');
    assert.equal(await textOf(page, sel('composer-attachment-name')), 'Commuter helmet');
    assert.ok(await page.locator(sel('composer-attachment-remove')).isVisible(), 'a visible button leaves the card out');
    // The helmet is recorded as asked about, once; the bike stays the start's product.
    const token = await app.souk.token('c-alice', 'customer', 'Alice Martin');
    const events = await eventsOf(token, convId);
    const changes = events.filter((e) => e.type === 'CurrentProductChanged');
    assert.deepEqual(
      changes.map((e) => [e.data.product.id, e.data.by.id]),
      [['p-helmet', 'c-alice']],
    );
  });

  await step('her message carries the helmet’s card, and the composer is empty again', async () => {
    const { page } = customer;
    await send(page, QUESTION);
    await eventually(
      async () => (await messagesOf(page)).some((m) => m.text === QUESTION && m.product === 'Commuter helmet' && m.status === 'sent'),
      'the product message confirmed',
    );
    assert.equal(await page.locator(attachment).count(), 0, 'the card went with the message');
  });

  await step('Bolt Bikes sees the card in the message list, and the helmet in the header and the list', async () => {
    const { page } = vendor;
    await eventually(
      async () => (await messagesOf(page)).some((m) => m.text === QUESTION && m.product === 'Commuter helmet' && m.price === '€59.90'),
      'the card in the vendor’s message list',
    );
    await eventually(
      async () => (await page.locator(sel('conversation-product')).getAttribute('data-product-id')) === 'p-helmet',
      'the vendor’s header on the helmet',
    );
    assert.match(await textOf(page, sel('conversation-product')), /Commuter helmet/);
    const entry = `${sel('conversation-item', { 'conversation-id': convId })} ${sel('conversation-item-product')}`;
    await eventually(async () => /Commuter helmet/.test(await textOf(page, entry)), 'the vendor’s list entry on the helmet');
  });

  await step('back to the bike: its card shows and can be left out; the message goes without it', async () => {
    const { page } = customer;
    await page.locator(sel('chat-with-vendor', { 'product-id': 'p-red-bike' })).click();
    await page.locator(sel('composer-attachment', { 'product-id': 'p-red-bike' })).waitFor();
    await eventually(async () => (await page.locator(sel('conversation-product')).getAttribute('data-product-id')) === 'p-red-bike', 'the header on the bike');
    await page.locator(sel('composer-attachment-remove')).click();
    assert.equal(await page.locator(attachment).count(), 0, 'the card is gone');
    await send(page, 'And the bike, in 54 cm?');
    await eventually(
      async () => (await messagesOf(page)).some((m) => m.text === 'And the bike, in 54 cm?' && m.product === null && m.status === 'sent'),
      'a text message, without a card',
    );
  });

  await step('the same product again attaches nothing and records nothing', async () => {
    const { page } = customer;
    const token = await app.souk.token('c-alice', 'customer', 'Alice Martin');
    // (The vendor's reads go on meanwhile: only the product's events count.)
    const changes = async () => (await eventsOf(token, convId)).filter((e) => e.type === 'CurrentProductChanged').length;
    const before = await changes();
    assert.equal(before, 2, 'the helmet, then the bike');
    const button = page.locator(sel('chat-with-vendor', { 'product-id': 'p-red-bike' }));
    // The open's answer, then the button back (after the card was decided on).
    await Promise.all([page.waitForResponse((r) => r.url().endsWith('/api/chat/conversation')), button.click()]);
    await eventually(async () => !(await button.isDisabled()), 'the open finished');
    assert.equal(await page.locator(attachment).count(), 0, 'no card');
    assert.equal(await changes(), before, 'nothing recorded');
  });

  await step('a new conversation has its product in the header, and no card to send', async () => {
    const { page } = customer;
    await page.locator(sel('chat-with-vendor', { 'product-id': 'p-lamp' })).click();
    await page.waitForURL((url) => ![null, convId].includes(url.searchParams.get('c')));
    const lumen = new URL(page.url()).searchParams.get('c');
    await page.locator(sel('chat-window', { 'conversation-id': lumen })).waitFor();
    await eventually(async () => (await page.locator(sel('conversation-product')).getAttribute('data-product-id')) === 'p-lamp', 'the header on the lamp');
    await page.locator(sel('composer-input')).waitFor();
    assert.equal(await page.locator(attachment).count(), 0);
  });

  await step('no script errors in either page', async () => {
    const errors = [...customer.errors, ...vendor.errors].filter((e) => !/net::ERR|WebSocket/.test(e));
    assert.deepEqual(errors, []);
  });
});
