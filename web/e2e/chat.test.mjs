// Browser tests of the customer and vendor chat pages against the real souk
// binary (demo mode). Each flow has a customer and a vendor in two browser
// contexts (separate storage and sockets), at desktop width and at phone width.
//
// Demo data (api/src/demo.rs): customers c-alice, c-bruno, c-chen; vendors
// v-bolt (Bolt Bikes: p-red-bike, p-helmet) and v-lumen (Lumen Home: p-lamp,
// p-chair); a seeded conversation Alice ↔ Bolt Bikes about the red bike, and
// a month of history of both shops with other shoppers (Bruno and Chen have
// one each with Lumen Home, read to the end; Lumen Home has read everything).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DESKTOP,
  eventually,
  isVisible,
  messagesOf,
  never,
  PHONE,
  rowUnread,
  screenshot,
  sel,
  send,
  signInDemo,
  stepper,
  textOf,
  totalUnread,
  useSouk,
} from './harness.mjs';

const app = useSouk();
const user = app.user;

/** Checks the shown messages: seq strictly increasing, no id twice, no pending left. */
function assertCleanHistory(list, who) {
  const ids = list.map((m) => m.id);
  assert.equal(new Set(ids).size, ids.length, `${who}: a message shows twice: ${JSON.stringify(list)}`);
  for (let i = 1; i < list.length; i += 1) {
    assert.ok(list[i].seq > list[i - 1].seq, `${who}: seq out of order at ${i}: ${JSON.stringify(list)}`);
  }
}

function count(list, text) {
  return list.filter((m) => m.text === text).length;
}

test('desktop: customer and vendor chat live', async (t) => {
  const step = stepper(t);
  let customer;
  let vendor;
  let convId;
  let vendorBaseline; // the seeded conversations' unread messages
  let vendorRows; // the vendor's conversations before this test's

  await step('both sign in from the demo page', async () => {
    customer = await user(DESKTOP, 'customer');
    vendor = await user(DESKTOP, 'vendor');
    await customer.page.goto('/');
    await customer.page.locator(sel('demo-customer')).first().waitFor();
    await screenshot(customer.page, 'signin-desktop.png');
    await signInDemo(customer.page, 'customer', 'c-chen');
    await signInDemo(vendor.page, 'vendor', 'v-bolt');
    assert.match(await textOf(customer.page, sel('me-name')), /Chen Wei/);
    assert.match(await textOf(vendor.page, sel('me-name')), /Bolt Bikes/);
    // The seeded conversation with Alice is in the vendor's list, with the
    // demo's month of history (api/src/demo.rs), all on the first page.
    await vendor.page.locator(sel('conversation-item', { name: 'Alice Martin' })).waitFor();
    vendorRows = await vendor.page.$$eval(sel('conversation-item'), (els) => els.map((el) => el.dataset.conversationId));
    vendorBaseline = await totalUnread(vendor.page);
    let sum = 0;
    for (const id of vendorRows) sum += await rowUnread(vendor.page, id);
    assert.equal(sum, vendorBaseline, 'the header total is the sum of the rows');
  });

  await step('the customer opens a conversation from a product', async () => {
    const { page } = customer;
    await page.locator(sel('product-strip')).waitFor();
    await page.locator(sel('chat-with-vendor', { 'product-id': 'p-helmet' })).click();
    await page.waitForURL(/\/chat\?c=/);
    convId = new URL(page.url()).searchParams.get('c');
    assert.ok(convId, 'conversation id in the URL');
    await page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
    assert.equal(await textOf(page, sel('chat-partner-name')), 'Bolt Bikes');
    assert.match(await textOf(page, sel('conversation-product')), /Commuter helmet/);
    assert.match(await textOf(page, sel('conversation-product')), /€59\.90/);
    await page.locator(sel('conversation-item', { 'conversation-id': convId })).waitFor();
  });

  await step('a message appears live on the other side and raises the unread badge', async () => {
    await send(customer.page, 'Hi! Does the helmet come in size L?');
    await eventually(
      async () => (await messagesOf(customer.page)).some((m) => m.text === 'Hi! Does the helmet come in size L?' && m.status === 'sent'),
      'the customer’s message to be confirmed (one tick)',
    );
    const { page } = vendor;
    await eventually(async () => (await totalUnread(page)) === vendorBaseline + 1, 'vendor total unread up by 1');
    await eventually(async () => (await rowUnread(page, convId)) === 1, 'vendor row badge = 1');
    const row = sel('conversation-item', { 'conversation-id': convId });
    assert.match(await textOf(page, `${row} ${sel('last-message')}`), /size L/);
    assert.equal(await page.$eval(row, (el) => el.dataset.name), 'Chen Wei');
    // Newest activity first.
    const first = await page.$eval(sel('conversation-item'), (el) => el.dataset.conversationId);
    assert.equal(first, convId);
  });

  await step('the badge clears when the vendor reads, and the customer sees two blue ticks', async () => {
    await vendor.page.locator(sel('conversation-item', { 'conversation-id': convId })).click();
    await vendor.page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
    await eventually(
      async () => count(await messagesOf(vendor.page), 'Hi! Does the helmet come in size L?') === 1,
      'the message in the vendor’s window',
    );
    await eventually(async () => (await totalUnread(vendor.page)) === vendorBaseline, 'vendor total unread back down');
    await eventually(async () => (await rowUnread(vendor.page, convId)) === 0, 'vendor row badge cleared');
    await eventually(
      async () => (await messagesOf(customer.page)).find((m) => m.text?.includes('size L'))?.status === 'read',
      'the customer’s tick to turn read',
    );
    for (const scope of ['[data-testid="message"]', '[data-testid="conversation-item"]']) {
      const color = await customer.page.$eval(`${scope} [data-testid="tick"][data-state="read"]`, (el) => getComputedStyle(el).color);
      const [r, g, b] = color.match(/\d+/g).map(Number);
      assert.ok(b > 200 && b > r + 60, `read ticks are blue in ${scope} (${color})`);
    }
  });

  await step('the typing indicator comes and goes', async () => {
    await vendor.page.locator(sel('composer-input')).fill('Yes, we have');
    await customer.page.locator(sel('typing-indicator')).waitFor();
    assert.equal(await textOf(customer.page, sel('chat-partner-status')), 'typing…');
    await vendor.page.locator(sel('composer-input')).fill('Yes, we have it in S, M and L.');
    await vendor.page.locator(sel('composer-input')).press('Enter');
    await customer.page.locator(sel('typing-indicator')).waitFor({ state: 'detached' });
    await eventually(
      async () => count(await messagesOf(customer.page), 'Yes, we have it in S, M and L.') === 1,
      'the vendor’s answer on the customer’s side',
    );
    // The customer has the conversation open: it is read at once.
    await eventually(
      async () => (await messagesOf(vendor.page)).find((m) => m.text === 'Yes, we have it in S, M and L.')?.status === 'read',
      'the vendor’s answer read by the customer',
    );
    assert.equal(await totalUnread(customer.page), 0);

    // And the other way round; this time the typing stops by itself.
    await customer.page.locator(sel('composer-input')).fill('Perfect');
    await vendor.page.locator(sel('typing-indicator')).waitFor();
    await vendor.page.locator(sel('typing-indicator')).waitFor({ state: 'detached', timeout: 8000 });
    await customer.page.locator(sel('composer-input')).press('Enter');
    await eventually(async () => count(await messagesOf(vendor.page), 'Perfect') === 1, '“Perfect” on the vendor’s side');
  });

  await step('the vendor shares a product card', async () => {
    const { page } = vendor;
    await page.locator(sel('share-product-button')).click();
    await page.locator(sel('product-picker')).waitFor();
    // The conversation's own product comes first.
    const ids = await page.$$eval(sel('share-product'), (els) => els.map((e) => e.dataset.productId));
    assert.deepEqual(ids, ['p-helmet', 'p-red-bike']);
    await page.locator(sel('share-caption')).fill('This bike goes well with it');
    await page.locator(sel('share-product', { 'product-id': 'p-red-bike' })).click();
    await page.locator(sel('product-picker')).waitFor({ state: 'detached' });
    for (const who of [vendor, customer]) {
      await eventually(
        async () =>
          (await messagesOf(who.page)).filter(
            (m) => m.product === 'Red city bike' && m.price === '€499.99' && m.text === 'This bike goes well with it',
          ).length === 1,
        `the product card on the ${who.label}’s side`,
      );
    }
    const img = await customer.page.$eval('[data-testid="message-product"] img', (el) => ({
      src: el.getAttribute('src'),
      loaded: el.complete && el.naturalWidth > 0,
    }));
    assert.match(img.src, /\/products\/bike\.svg$/);
    assert.ok(img.loaded, 'the product image loads');
  });

  await step('the vendor searches the list', async () => {
    const { page } = vendor;
    const ids = async () => page.$$eval(sel('conversation-item'), (els) => els.map((e) => e.dataset.name));
    await page.locator(sel('conversation-search')).fill('chen');
    await eventually(async () => JSON.stringify(await ids()) === '["Chen Wei"]', 'only Chen Wei for “chen”');
    await page.locator(sel('conversation-search')).fill('lights');
    await eventually(async () => JSON.stringify(await ids()) === '["Alice Martin"]', 'only Alice for “lights” (message text)');
    await screenshot(page, 'vendor-search-desktop.png');
    await page.locator(sel('conversation-search')).fill('zzzz-nothing');
    await page.locator(sel('conversation-empty')).waitFor();
    await page.locator(sel('conversation-search')).fill('');
    await eventually(async () => (await ids()).length === vendorRows.length + 1, 'every conversation again');
  });

  await step('presence: the customer sees the vendor online', async () => {
    assert.equal(await textOf(customer.page, sel('chat-partner-status')), 'online');
    const dot = await customer.page.$eval(
      `${sel('conversation-item', { 'conversation-id': convId })} ${sel('online-dot')}`,
      (el) => el.dataset.online,
    );
    assert.equal(dot, 'true');
  });

  await step('desktop screenshots (customer and vendor)', async () => {
    await screenshot(customer.page, 'customer-desktop.png');
    await screenshot(vendor.page, 'vendor-desktop.png');
  });

  await step('after the vendor’s network drops and returns, every missed message shows exactly once', async () => {
    const missed = ['While you were away (1)', 'While you were away (2)', 'While you were away (3)'];
    // REST history requests of the vendor's page: the missed messages must come
    // from the room's replay (join_chat_room with sinceSeq), not from REST.
    const historyCalls = [];
    const onRequest = (r) => {
      if (/\/messages(\?|$)/.test(r.url())) historyCalls.push(r.url());
    };
    vendor.page.on('request', onRequest);
    await vendor.context.setOffline(true);
    await vendor.page.locator(sel('connection-banner', { state: 'offline' })).waitFor();
    assert.equal(await textOf(vendor.page, sel('chat-partner-status')), 'waiting for network…');
    // The customer sees the vendor go offline.
    await eventually(
      async () => /last seen/.test((await textOf(customer.page, sel('chat-partner-status'))) ?? ''),
      'the vendor shown offline to the customer',
    );
    for (const text of missed) await send(customer.page, text);
    await eventually(
      async () => {
        const list = await messagesOf(customer.page);
        return missed.every((text) => list.some((m) => m.text === text && m.status === 'sent'));
      },
      'the customer’s messages confirmed while the vendor is offline',
    );
    // The socket really is cut: nothing reaches the vendor meanwhile.
    await never(
      async () => (await messagesOf(vendor.page)).some((m) => missed.includes(m.text)),
      'a message reached the vendor while offline',
      600,
    );

    await vendor.context.setOffline(false);
    await vendor.page.locator(sel('connection-status', { state: 'online' })).waitFor({ timeout: 15_000 });
    await eventually(
      async () => {
        const list = await messagesOf(vendor.page);
        return missed.every((text) => count(list, text) === 1);
      },
      'the missed messages on the vendor’s side',
      { timeout: 15_000 },
    );
    await vendor.page.waitForTimeout(800);
    vendor.page.off('request', onRequest);
    assert.deepEqual(historyCalls, [], 'no REST history call: the room replay brought them');
    const v = await messagesOf(vendor.page);
    for (const text of missed) assert.equal(count(v, text), 1, `vendor shows “${text}” once`);
    assertCleanHistory(v, 'vendor');
    assert.deepEqual(
      v.map((m) => m.id),
      (await messagesOf(customer.page)).map((m) => m.id),
      'both sides show the same messages in the same order',
    );
    // The vendor had the conversation open: the missed ones are read.
    await eventually(async () => (await totalUnread(vendor.page)) === vendorBaseline, 'vendor unread back down after catching up');
    await eventually(
      async () => (await messagesOf(customer.page)).filter((m) => missed.includes(m.text)).every((m) => m.status === 'read'),
      'the customer’s missed messages marked read',
    );
    assert.match(await textOf(customer.page, sel('chat-partner-status')), /online/);
  });

  await step('a message written while offline is sent once when the network returns', async () => {
    const held = 'Sorry, my connection dropped';
    await vendor.context.setOffline(true);
    await vendor.page.locator(sel('connection-banner', { state: 'offline' })).waitFor();
    await send(vendor.page, held);
    await eventually(
      async () => (await messagesOf(vendor.page)).some((m) => m.text === held && m.status === 'failed'),
      'the vendor’s message held as not sent',
    );
    await send(customer.page, 'Are you still there?');
    await screenshot(vendor.page, 'vendor-desktop-offline.png');
    await vendor.context.setOffline(false);
    for (const who of [vendor, customer]) {
      await eventually(
        async () => {
          const list = await messagesOf(who.page);
          return count(list, held) === 1 && count(list, 'Are you still there?') === 1 && list.every((m) => m.status !== 'failed' && m.status !== 'sending');
        },
        `both messages once on the ${who.label}’s side`,
        { timeout: 15_000 },
      );
    }
    await customer.page.waitForTimeout(800);
    const v = await messagesOf(vendor.page);
    const c = await messagesOf(customer.page);
    for (const text of [held, 'Are you still there?']) {
      assert.equal(count(v, text), 1, `vendor shows “${text}” once`);
      assert.equal(count(c, text), 1, `customer shows “${text}” once`);
    }
    assertCleanHistory(v, 'vendor');
    assertCleanHistory(c, 'customer');
    assert.deepEqual(
      v.map((m) => m.id),
      c.map((m) => m.id),
    );
  });

  await step('a reload shows the same history from the server', async () => {
    const beforeReload = await messagesOf(customer.page);
    await customer.page.reload();
    await customer.page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
    await eventually(async () => (await messagesOf(customer.page)).length === beforeReload.length, 'the history after reload');
    const afterReload = await messagesOf(customer.page);
    assert.deepEqual(
      afterReload.map((m) => [m.id, m.seq, m.text, m.status]),
      beforeReload.map((m) => [m.id, m.seq, m.text, m.status]),
    );
  });

  await step('no script errors in either page', async () => {
    const errors = [...customer.errors, ...vendor.errors].filter((e) => !/ERR_INTERNET_DISCONNECTED|net::ERR|WebSocket/.test(e));
    assert.deepEqual(errors, []);
  });
});

test('desktop: older pages load when scrolling up', async (t) => {
  const step = stepper(t);
  let customer;
  let vendor;
  const total = 45;

  await step('a long conversation', async () => {
    customer = await user(DESKTOP, 'customer-long');
    vendor = await user(DESKTOP, 'vendor-long');
    await signInDemo(customer.page, 'customer', 'c-bruno');
    await signInDemo(vendor.page, 'vendor', 'v-bolt');
    await customer.page.locator(sel('chat-with-vendor', { 'product-id': 'p-red-bike' })).click();
    await customer.page.waitForURL(/\/chat\?c=/);
    for (let i = 1; i <= total; i += 1) await send(customer.page, `Question number ${i}`);
    await eventually(
      async () => (await messagesOf(customer.page)).filter((m) => m.status === 'sent' || m.status === 'read').length === total,
      `all ${total} messages confirmed`,
      { timeout: 20_000 },
    );
  });

  await step('the vendor sees the newest page, at the bottom, and older ones on scrolling up', async () => {
    const { page } = vendor;
    await page.locator(sel('conversation-item', { name: 'Bruno Costa' })).click();
    // The history page can be read a moment before the read models hold the
    // newest message; the live join then brings it. Wait for both.
    await eventually(async () => {
      const shown = await messagesOf(page);
      return shown.length >= 30 && shown[shown.length - 1].text === `Question number ${total}`;
    }, 'the first page, up to the newest message');
    const first = await messagesOf(page);
    assert.equal(first[first.length - 1].text, `Question number ${total}`);
    assert.ok(first.length < total, `only a page is loaded at first (${first.length})`);
    const atBottom = await page.$eval(sel('message-list'), (el) => el.scrollHeight - el.scrollTop - el.clientHeight < 100);
    assert.ok(atBottom, 'the view starts at the newest message');
    const anchorText = first[0].text;
    await page.$eval(sel('message-list'), (el) => {
      el.scrollTop = 0;
    });
    await eventually(async () => (await messagesOf(page)).length === total, 'every message after scrolling up');
    const all = await messagesOf(page);
    assertCleanHistory(all, 'vendor');
    assert.deepEqual(
      all.map((m) => m.seq),
      Array.from({ length: total }, (_, i) => i + 1),
    );
    // The reader keeps their place: the message that was on top is still in view.
    const anchorVisible = await page.evaluate((text) => {
      const list = document.querySelector('[data-testid="message-list"]').getBoundingClientRect();
      const el = [...document.querySelectorAll('[data-testid="message"]')].find(
        (m) => m.querySelector('[data-testid="message-text"]')?.textContent === text,
      );
      const r = el.getBoundingClientRect();
      return r.bottom > list.top && r.top < list.bottom;
    }, anchorText);
    assert.ok(anchorVisible, 'the previously first message stays in view');
    await page.locator(sel('history-start')).waitFor();
  });
});

test('token sign-in: a marketplace token in the URL opens the page of its role', async () => {
  const u = await user(DESKTOP, 'token-user');
  const token = await app.souk.token('c-zoe', 'customer', 'Zoe Park');
  await u.page.goto(`/?token=${encodeURIComponent(token)}`);
  await u.page.waitForURL('**/chat');
  await u.page.locator(sel('connection-status', { state: 'online' })).waitFor();
  assert.match(await textOf(u.page, sel('me-name')), /Zoe Park/);
  const vendorToken = await app.souk.token('v-lumen', 'vendor');
  const v = await user(DESKTOP, 'token-vendor');
  await v.page.goto(`/?token=${encodeURIComponent(vendorToken)}`);
  await v.page.waitForURL('**/vendor/chat');
  await v.page.locator(sel('connection-status', { state: 'online' })).waitFor();
  // A vendor sent to the customer page lands on its own.
  await v.page.goto('/chat');
  await v.page.waitForURL('**/vendor/chat');
});

test('phone: list and chat are separate screens with a back button', async (t) => {
  const step = stepper(t);
  let customer;
  let vendor;
  let convId;

  await step('both sign in at phone width', async () => {
    customer = await user(PHONE, 'phone-customer');
    vendor = await user(PHONE, 'phone-vendor');
    await customer.page.goto('/');
    await customer.page.locator(sel('demo-customer')).first().waitFor();
    await screenshot(customer.page, 'signin-phone.png');
    await signInDemo(customer.page, 'customer', 'c-alice');
    await signInDemo(vendor.page, 'vendor', 'v-lumen');
    assert.ok(await isVisible(customer.page, sel('conversation-list')), 'the list screen shows');
    assert.ok(!(await isVisible(customer.page, sel('chat-window'))), 'no chat screen yet');
  });

  await step('the customer opens a conversation from a product: the chat screen replaces the list', async () => {
    const { page } = customer;
    // Alice already talks with Bolt Bikes (seeded).
    await eventually(async () => (await page.$$(sel('conversation-item'))).length === 1, 'the seeded conversation');
    await screenshot(page, 'customer-phone-list.png');
    await page.locator(sel('chat-with-vendor', { 'product-id': 'p-lamp' })).click();
    await page.waitForURL(/\/chat\?c=/);
    convId = new URL(page.url()).searchParams.get('c');
    await page.locator(sel('chat-window')).waitFor();
    assert.ok(!(await isVisible(page, sel('conversation-list'))), 'the list is hidden');
    assert.ok(await isVisible(page, sel('back-button')), 'a back button shows');
    await send(page, 'Hello! Is the lamp’s brass solid or plated?');
    await eventually(
      async () => (await messagesOf(page)).some((m) => m.text?.includes('brass') && m.status === 'sent'),
      'the message confirmed',
    );
  });

  await step('the vendor, on the list screen, sees the badge, opens the chat, and reads', async () => {
    const { page } = vendor;
    await eventually(async () => (await rowUnread(page, convId)) === 1, 'the row badge');
    assert.equal(await totalUnread(page), 1);
    await screenshot(page, 'vendor-phone-list.png');
    await page.locator(sel('conversation-item', { 'conversation-id': convId })).click();
    await page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
    assert.ok(!(await isVisible(page, sel('conversation-list'))), 'the list is hidden');
    await eventually(async () => (await totalUnread(page)) === 0, 'unread cleared');
    await eventually(
      async () => (await messagesOf(customer.page)).find((m) => m.text?.includes('brass'))?.status === 'read',
      'the customer sees it read',
    );
  });

  await step('they talk, with the typing indicator, and share a product', async () => {
    await vendor.page.locator(sel('composer-input')).fill('Solid brass');
    await customer.page.locator(sel('typing-indicator')).waitFor();
    await vendor.page.locator(sel('composer-input')).fill('Solid brass, hand-polished. It ships in two days.');
    await vendor.page.locator(sel('send-button')).tap();
    await customer.page.locator(sel('typing-indicator')).waitFor({ state: 'detached' });
    await eventually(
      async () => (await messagesOf(customer.page)).some((m) => m.text?.startsWith('Solid brass, hand-polished')),
      'the answer on the customer’s phone',
    );
    await vendor.page.locator(sel('share-product-button')).tap();
    await vendor.page.locator(sel('share-product', { 'product-id': 'p-chair' })).tap();
    await eventually(
      async () => (await messagesOf(customer.page)).some((m) => m.product === 'Oak lounge chair' && m.price === '€320'),
      'the shared chair on the customer’s phone',
    );
    await send(customer.page, 'Lovely, I’ll take the lamp.');
    await eventually(
      async () => (await messagesOf(vendor.page)).some((m) => m.text === 'Lovely, I’ll take the lamp.'),
      'the reply on the vendor’s phone',
    );
    await eventually(
      async () => (await messagesOf(customer.page)).find((m) => m.text === 'Lovely, I’ll take the lamp.')?.status === 'read',
      'read ticks on the customer’s phone',
    );
    await screenshot(customer.page, 'customer-phone-chat.png');
    await screenshot(vendor.page, 'vendor-phone-chat.png');
  });

  await step('the back button returns to the list, which shows the latest message', async () => {
    for (const who of [vendor, customer]) {
      const { page } = who;
      await page.locator(sel('back-button')).tap();
      await page.locator(sel('conversation-list')).waitFor();
      assert.ok(!(await isVisible(page, sel('chat-window'))), `${who.label}: the chat screen is gone`);
      await eventually(
        async () => /take the lamp/.test(
          (await textOf(page, `${sel('conversation-item', { 'conversation-id': convId })} ${sel('last-message')}`)) ?? '',
        ),
        `${who.label}: the preview of the last message`,
      );
      assert.equal(await rowUnread(page, convId), 0);
    }
  });

  await step('a message while the vendor is on the list screen raises the badge on the list', async () => {
    await customer.page.locator(sel('conversation-item', { 'conversation-id': convId })).tap();
    await send(customer.page, 'One more thing: do you gift-wrap?');
    await eventually(async () => (await rowUnread(vendor.page, convId)) === 1, 'the row badge on the vendor’s list');
    await eventually(async () => (await totalUnread(vendor.page)) === 1, 'the header badge on the vendor’s list');
  });

  await step('no script errors on the phones', async () => {
    const errors = [...customer.errors, ...vendor.errors].filter((e) => !/net::ERR|WebSocket/.test(e));
    assert.deepEqual(errors, []);
  });
});
