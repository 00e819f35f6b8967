// Browser test of accessibility (WCAG 2.2 AA, issue #16): axe-core, injected
// into the page, finds no serious or critical violation on any screen
// (sign-in, both sides' lists and conversations, the share dialog, the
// dashboard, the replay console, the operator page) at desktop and phone
// width; the colours axe cannot judge (text, times and ticks on the gradient
// of one's own bubbles) are measured here; new messages and typing reach a
// live region; on each screen, Tab from the top shows a focus indicator on
// every element it reaches; and keyboard-only walks: open a conversation with
// Enter and send, the share dialog (focus in, Tab kept inside, Escape, focus
// back), Chat with vendor, back to the list on the phone.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { activeTestId, assertAxeClean, focusShows, ownBubbleContrast, tabTo } from './a11y-checks.mjs';
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
  useSouk,
} from './harness.mjs';


const app = useSouk();
const user = app.user;


for (const [width, device] of [
  ['desktop', DESKTOP],
  ['phone', PHONE],
]) {
  test(`${width}: axe-core finds no serious or critical violation on any screen`, async (t) => {
    const step = stepper(t);
    let customer;
    let vendor;
    let convId;
    const customerId = width === 'desktop' ? 'c-bruno' : 'c-chen';
    const vendorId = width === 'desktop' ? 'v-bolt' : 'v-lumen';
    const productId = width === 'desktop' ? 'p-red-bike' : 'p-lamp';

    await step('sign-in page', async () => {
      customer = await user(device, `${width} customer`);
      vendor = await user(device, `${width} vendor`);
      await customer.page.goto('/');
      await customer.page.locator(sel('demo-customer')).first().waitFor();
      await assertAxeClean(customer.page, 'sign-in');
    });

    await step('customer list with the product strip', async () => {
      const { page } = customer;
      await signInDemo(page, 'customer', customerId);
      await page.locator(sel('product-strip')).waitFor();
      await assertAxeClean(page, 'customer list');
      // Each Chat with vendor button names its product.
      const names = await page.locator(sel('chat-with-vendor')).evaluateAll((els) => els.map((el) => el.getAttribute('aria-label')));
      assert.ok(names.length >= 4, `the strip's buttons: ${names}`);
      assert.equal(new Set(names).size, names.length, `unique names: ${names.join(' / ')}`);
      for (const n of names) assert.match(n, /^Chat with vendor about \S/);
    });

    await step('a conversation on both sides: sent, read and received messages', async () => {
      const { page } = customer;
      await page.locator(sel('chat-with-vendor', { 'product-id': productId })).click();
      await page.waitForURL(/\/chat\?c=/);
      convId = new URL(page.url()).searchParams.get('c');
      await page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
      await send(page, 'Hello, is it still available?');
      await send(page, 'And can you deliver it on Friday?');
      await signInDemo(vendor.page, 'vendor', vendorId);
      await assertAxeClean(vendor.page, 'vendor list');
      await vendor.page.locator(sel('conversation-item', { 'conversation-id': convId })).click();
      await vendor.page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
      await eventually(async () => (await messagesOf(page)).every((m) => !m.mine || m.status === 'read'), 'read ticks');
      await send(vendor.page, 'Yes, it is. Friday works.');
      await eventually(async () => (await messagesOf(page)).some((m) => m.text === 'Yes, it is. Friday works.'), 'the answer');
      await assertAxeClean(vendor.page, 'vendor conversation');
      // The vendor leaves the conversation: the next message stays unread (one tick).
      await vendor.page.goto('/vendor/chat');
      await vendor.page.locator(sel('conversation-list')).waitFor();
      await send(page, 'Great, thanks!');
      await eventually(async () => (await messagesOf(page)).some((m) => m.text === 'Great, thanks!' && m.status === 'sent'), 'a sent one');
      await assertAxeClean(page, 'customer conversation');
      // The vendor's list, searched: results and no results.
      const search = vendor.page.locator(sel('conversation-search'));
      await search.fill('Friday');
      await eventually(async () => (await vendor.page.locator(sel('conversation-item')).count()) === 1, 'one result');
      await assertAxeClean(vendor.page, 'search results');
      await search.fill('zzzqqq');
      await vendor.page.locator(sel('conversation-empty')).waitFor();
      await assertAxeClean(vendor.page, 'no search result');
      await search.fill('');
    });

    await step('own bubbles: text, times and ticks at 4.5:1 or more on both ends of the gradient', async () => {
      const { page } = customer;
      const measured = await ownBubbleContrast(page);
      for (const what of ['text', 'time', 'tick (sent)', 'tick (read)']) {
        assert.ok(measured.some((m) => m.what === what), `measured ${what}: ${JSON.stringify(measured.map((m) => m.what))}`);
      }
      for (const m of measured) {
        assert.ok(m.ratio >= 4.5, `${m.what}: ${m.ratio.toFixed(2)}:1 on an own bubble`);
        assert.equal(m.opacity, 1, `${m.what} is not faded`);
      }
    });

    await step('sent and read differ by more than colour: shape and name', async () => {
      const ticks = await customer.page.$$eval('[data-testid="message"][data-mine="true"] [data-testid="tick"]', (els) =>
        els.map((el) => ({ state: el.dataset.state, name: el.getAttribute('aria-label'), paths: el.querySelectorAll('path').length })),
      );
      const sent = ticks.find((x) => x.state === 'sent');
      const read = ticks.find((x) => x.state === 'read');
      assert.ok(sent && read, JSON.stringify(ticks));
      assert.equal(sent.name, 'Sent');
      assert.equal(read.name, 'Read');
      assert.notEqual(sent.paths, read.paths, 'one tick and two ticks');
    });

    await step('the product dialog', async () => {
      const { page } = customer;
      await page.locator(sel('share-product-button')).click();
      await page.locator(sel('product-picker')).waitFor();
      await assertAxeClean(page, 'product dialog');
      await page.locator('.picker-toggle').click();
      await page.locator('.picker-form').waitFor();
      await assertAxeClean(page, 'product dialog: describe another product');
      await page.keyboard.press('Escape');
      await page.locator(sel('product-picker')).waitFor({ state: 'detached' });
    });

    await step('offline: the banner and a message waiting to be sent', async () => {
      const { page, context } = customer;
      await context.setOffline(true);
      await page.locator(sel('connection-banner', { state: 'offline' })).waitFor();
      await send(page, 'Written while offline');
      await page.locator(sel('message-failed')).waitFor();
      await assertAxeClean(page, 'offline, a message waiting');
      // The held message keeps its contrast (not faded).
      const held = (await ownBubbleContrast(page)).filter((m) => m.what === 'tick (failed)' || m.opacity !== 1 || m.ratio < 4.5);
      assert.ok(held.some((m) => m.what === 'tick (failed)'), 'the held message is measured');
      for (const m of held) {
        assert.ok(m.ratio >= 4.5 && m.opacity === 1, `held message, ${m.what}: ${m.ratio.toFixed(2)}:1 at opacity ${m.opacity}`);
      }
      await context.setOffline(false);
      await page.locator(sel('connection-status', { state: 'online' })).waitFor({ state: 'attached' });
      await eventually(async () => (await messagesOf(page)).some((m) => m.text === 'Written while offline' && m.status === 'sent'), 'sent once back');
    });

    await step('dashboard, replay console', async () => {
      const { page } = vendor;
      await page.goto('/vendor/analytics');
      await page.locator(sel('dashboard-figures')).waitFor();
      await page.locator('.recharts-surface').first().waitFor();
      await assertAxeClean(page, 'dashboard');
      await page.goto(`/replay/${convId}`);
      await page.locator(sel('replay-console')).waitFor();
      await page.locator(sel('timeline-event')).first().waitFor();
      await assertAxeClean(page, 'replay console');
    });

    await step('operator page, its results and a conversation’s console', async () => {
      const operator = await user(device, `${width} operator`);
      const { page } = operator;
      await page.goto('/');
      await page.locator(sel('demo-operator')).first().click();
      await page.waitForURL('**/operator');
      await page.locator(sel('operator-page')).waitFor();
      await assertAxeClean(page, 'operator page');
      await page.locator(sel('participant-input')).fill(customerId);
      await page.locator(sel('reason-input')).fill('Accessibility check of the support page');
      await page.locator(sel('operator-search')).click();
      const row = page.locator(sel('operator-result', { 'conversation-id': convId }));
      await row.waitFor();
      await assertAxeClean(page, 'operator results');
      await row.locator(sel('operator-open')).click();
      await page.locator(sel('replay-console')).waitFor();
      await page.locator(sel('timeline-event', { type: 'SupportAccessed' })).first().waitFor();
      await assertAxeClean(page, 'operator console');
    });

    await step('no script errors', async () => {
      const errors = app.users.flatMap((u) => u.errors).filter((e) => !/net::ERR|WebSocket/.test(e));
      assert.deepEqual(errors, []);
    });
  });
}

test('desktop: keyboard only, with announcements for screen readers', async (t) => {
  const step = stepper(t);
  let customer;
  let vendor;
  let convId;

  await step('a conversation exists (the vendor writes first from the other side)', async () => {
    customer = await user(DESKTOP, 'keyboard customer');
    vendor = await user(DESKTOP, 'keyboard vendor');
    await signInDemo(customer.page, 'customer', 'c-alice');
    await signInDemo(vendor.page, 'vendor', 'v-bolt');
    // Alice's seeded conversation with Bolt Bikes.
    const row = customer.page.locator(sel('conversation-item')).first();
    await row.waitFor();
    convId = await row.getAttribute('data-conversation-id');
  });

  await step('online and offline differ by more than colour: a filled dot or a ring, and words', async () => {
    const dot = (row) => row.locator(sel('online-dot')).evaluate((el) => getComputedStyle(el).boxShadow);
    const online = customer.page.locator(sel('conversation-item', { 'conversation-id': convId }));
    await online.locator(sel('online-dot', { online: 'true' })).waitFor();
    assert.equal(await dot(online), 'none', 'online: a filled dot');
    assert.match(await online.textContent(), /online, Bolt Bikes/);
    const offline = vendor.page.locator(sel('conversation-item', { name: 'Hana Sato' }));
    await offline.locator(sel('online-dot', { online: 'false' })).waitFor();
    assert.notEqual(await dot(offline), 'none', 'offline: a ring');
    assert.doesNotMatch(await offline.textContent(), /online/);
    // Its unread count is read with its meaning.
    assert.match(await offline.textContent(), /\d+ unread$/);
  });

  await step('Tab reaches the conversation, Enter opens it and focus lands in the composer', async () => {
    const { page } = customer;
    await page.locator(sel('conversation-search')).focus();
    await tabTo(page, sel('conversation-item', { 'conversation-id': convId }));
    assert.ok(await focusShows(page), 'the focused row shows a focus indicator');
    await page.keyboard.press('Enter');
    await page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
    await eventually(async () => (await activeTestId(page)) === 'composer-input', 'focus in the composer');
    assert.ok(await focusShows(page), 'the composer shows it has focus');
  });

  await step('a message is typed and sent with the keyboard only', async () => {
    const { page } = customer;
    await page.keyboard.type('Sent without a mouse');
    await page.keyboard.press('Enter');
    await eventually(
      async () => (await messagesOf(page)).some((m) => m.text === 'Sent without a mouse' && m.status !== 'sending'),
      'the message confirmed',
    );
    assert.equal(await activeTestId(page), 'composer-input', 'focus stays in the composer');
  });

  await step('the other side’s typing and message reach the live regions', async () => {
    const { page } = customer;
    const log = page.locator(sel('message-announcer'));
    assert.equal(await log.getAttribute('role'), 'log');
    assert.equal(await log.getAttribute('aria-live'), 'polite');
    assert.equal(await log.textContent(), '', 'the history is not announced');
    await vendor.page.locator(sel('conversation-item', { 'conversation-id': convId })).click();
    await vendor.page.locator(sel('composer-input')).fill('Let me check');
    await eventually(async () => (await page.locator(sel('typing-announcer')).textContent()) === 'Bolt Bikes is typing', 'typing announced');
    assert.equal(await page.locator(sel('typing-announcer')).getAttribute('role'), 'status');
    await send(vendor.page, 'Let me check the stock for you.');
    await eventually(async () => (await log.textContent()) === 'Bolt Bikes: Let me check the stock for you.', 'the message announced');
    await eventually(async () => (await page.locator(sel('typing-announcer')).textContent()) === '', 'typing over');
    assert.equal(await activeTestId(page), 'composer-input', 'an incoming message does not move focus');
  });

  await step('the share dialog: Shift+Tab to its button, Enter opens it with focus inside, Tab stays inside', async () => {
    const { page } = customer;
    await tabTo(page, sel('share-product-button'), { back: true, max: 5 });
    assert.ok(await focusShows(page), 'the share button shows focus');
    await page.keyboard.press('Enter');
    const dialog = page.locator(sel('product-picker'));
    await dialog.waitFor();
    assert.equal(await dialog.getAttribute('role'), 'dialog');
    assert.equal(await dialog.getAttribute('aria-modal'), 'true');
    await eventually(async () => (await activeTestId(page)) === 'product-picker', 'focus on the dialog');
    assert.ok(await focusShows(page), 'the dialog shows it has focus');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    assert.equal(await activeTestId(page), 'share-caption', 'the caption two Tabs in (after Close)');
    await screenshot(page, 'share-dialog-keyboard.png');
    const focusable = await dialog.locator('button, input').count();
    for (let i = 0; i < focusable + 3; i++) {
      await page.keyboard.press('Tab');
      assert.ok(await dialog.evaluate((el) => el.contains(document.activeElement)), `Tab ${i + 1} stays in the dialog`);
      assert.ok(await focusShows(page), `Tab ${i + 1}: focus shows (${await activeTestId(page)})`);
    }
    for (let i = 0; i < 3; i++) {
      await page.keyboard.press('Shift+Tab');
      assert.ok(await dialog.evaluate((el) => el.contains(document.activeElement)), `Shift+Tab ${i + 1} stays in the dialog`);
    }
  });

  await step('Escape closes the dialog and focus returns to its button', async () => {
    const { page } = customer;
    await page.keyboard.press('Escape');
    await page.locator(sel('product-picker')).waitFor({ state: 'detached' });
    assert.equal(await activeTestId(page), 'share-product-button');
  });

  await step('a product is shared from the keyboard: Enter, Tab to it, Enter', async () => {
    const { page } = customer;
    await page.keyboard.press('Enter');
    await page.locator(sel('product-picker')).waitFor();
    await tabTo(page, sel('share-product', { 'product-id': 'p-helmet' }), { max: 12 });
    await page.keyboard.press('Enter');
    await page.locator(sel('product-picker')).waitFor({ state: 'detached' });
    await eventually(async () => (await messagesOf(page)).some((m) => m.product === 'Commuter helmet'), 'the shared helmet');
    assert.equal(await activeTestId(page), 'share-product-button', 'focus back on the share button');
  });

  await step('Chat with vendor from the keyboard: focus lands in the new conversation’s composer', async () => {
    const { page } = customer;
    await page.locator(sel('conversation-search')).focus();
    await tabTo(page, sel('chat-with-vendor', { 'product-id': 'p-lamp' }), { back: true });
    assert.ok(await focusShows(page), 'the button shows focus');
    await page.keyboard.press('Enter');
    await page.waitForURL((url) => ![null, convId].includes(url.searchParams.get('c')));
    const lumen = new URL(page.url()).searchParams.get('c');
    await page.locator(sel('chat-window', { 'conversation-id': lumen })).waitFor();
    await eventually(async () => (await activeTestId(page)) === 'composer-input', 'focus in the new composer');
  });

  await step('no script errors', async () => {
    const errors = [...customer.errors, ...vendor.errors].filter((e) => !/net::ERR|WebSocket/.test(e));
    assert.deepEqual(errors, []);
  });
});

test('phone: keyboard only, into a conversation and back to its row', async (t) => {
  const step = stepper(t);
  let customer;
  let convId;

  await step('Enter on a row opens the conversation screen with focus in the composer', async () => {
    customer = await user(PHONE, 'keyboard phone');
    const { page } = customer;
    await signInDemo(page, 'customer', 'c-alice');
    const row = page.locator(sel('conversation-item')).first();
    await row.waitFor();
    convId = await row.getAttribute('data-conversation-id');
    await page.locator(sel('conversation-search')).focus();
    await tabTo(page, sel('conversation-item', { 'conversation-id': convId }));
    await page.keyboard.press('Enter');
    await page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
    await eventually(async () => (await activeTestId(page)) === 'composer-input', 'focus in the composer');
  });

  await step('Shift+Tab to the back button, Enter: the list again, focus on the same row', async () => {
    const { page } = customer;
    await tabTo(page, sel('back-button'), { back: true, max: 10 });
    assert.ok(await focusShows(page), 'the back button shows focus');
    await page.keyboard.press('Enter');
    await page.locator(sel('conversation-list')).waitFor();
    await eventually(
      async () => page.evaluate((id) => document.activeElement?.dataset?.conversationId === id, convId),
      'focus back on the conversation’s row',
    );
    assert.ok(await focusShows(page), 'the row shows focus');
  });

  await step('no script errors', async () => {
    assert.deepEqual(customer.errors.filter((e) => !/net::ERR|WebSocket/.test(e)), []);
  });
});
