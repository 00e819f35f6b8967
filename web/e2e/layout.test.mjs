// Browser test of the layout details of issue #16: day labels never sit over
// message text while scrolling and "Start of your conversation" is never
// hidden under the header's product bar (phone and desktop); the header's
// unread counter is a button to the first unread conversation whose
// two-digit badge does not cover its icon; the desktop product strip shows
// whole cards; a message arriving while the tab is hidden raises a desktop
// notification, with permission asked after the first send, not on load.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DESKTOP,
  eventually,
  messagesOf,
  PHONE,
  sel,
  send,
  signInDemo,
  stepper,
  totalUnread,
  useSouk,
} from './harness.mjs';

const app = useSouk();
const user = app.user;

const box = (locator) => locator.evaluate((el) => el.getBoundingClientRect().toJSON());
const intersects = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
const within = (inner, outer) =>
  inner.left >= outer.left - 0.5 && inner.right <= outer.right + 0.5 && inner.top >= outer.top - 0.5 && inner.bottom <= outer.bottom + 0.5;

/**
 * Scrolls the message list from the top to the bottom in steps of a third of
 * its height; at each step, no day label's box meets a bubble's box.
 */
async function dayLabelsNeverCoverText(page) {
  const list = page.locator(sel('message-list'));
  const { height, clientHeight } = await list.evaluate((el) => ({ height: el.scrollHeight, clientHeight: el.clientHeight }));
  assert.ok(height > clientHeight * 1.2, `the conversation scrolls (${height} in ${clientHeight})`);
  let steps = 0;
  for (let top = 0; top <= height; top += Math.floor(clientHeight / 3)) {
    await list.evaluate((el, y) => {
      el.scrollTop = y;
    }, top);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const overlaps = await page.evaluate(() => {
      const view = document.querySelector('[data-testid="message-list"]').getBoundingClientRect();
      const seen = (r) => r.bottom > view.top && r.top < view.bottom;
      const labels = [...document.querySelectorAll('.day-sep > span')].map((el) => el.getBoundingClientRect()).filter(seen);
      const bubbles = [...document.querySelectorAll('[data-testid="message"] .msg-bubble')]
        .map((el) => el.getBoundingClientRect())
        .filter(seen);
      const hit = [];
      for (const l of labels) {
        for (const b of bubbles) {
          if (l.left < b.right && b.left < l.right && l.top < b.bottom && b.top < l.bottom) hit.push([l.top, b.top]);
        }
      }
      return hit;
    });
    assert.deepEqual(overlaps, [], `a day label over a bubble at scrollTop ${top}`);
    steps += 1;
  }
  return steps;
}

for (const [width, device] of [
  ['desktop', DESKTOP],
  ['phone', PHONE],
]) {
  test(`${width}: day labels and the start of the conversation stay clear of text and the product bar`, async (t) => {
    const step = stepper(t);
    let customer;
    let vendor;
    let convId;

    await step('a long conversation of today and an earlier day (seeded)', async () => {
      customer = await user(device, `${width} customer`);
      vendor = await user(device, `${width} vendor`);
      // Hana Sato's seeded question to Bolt Bikes is from an earlier day.
      await signInDemo(vendor.page, 'vendor', 'v-bolt');
      const row = vendor.page.locator(sel('conversation-item', { name: 'Hana Sato' }));
      await row.waitFor();
      convId = await row.getAttribute('data-conversation-id');
      await row.click();
      await vendor.page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
      for (let i = 1; i <= 14; i++) {
        await send(vendor.page, `Answer ${i}: the frame is aluminium, the gears are Shimano, and it comes with lights and a rack.`);
      }
      await eventually(
        async () => (await messagesOf(vendor.page)).filter((m) => m.mine && m.status !== 'sending').length >= 14,
        'the answers confirmed',
      );
      assert.ok((await vendor.page.locator('.day-sep').count()) >= 2, 'two days shown');
    });

    await step('scrolling through: no day label over message text', async () => {
      const steps = await dayLabelsNeverCoverText(vendor.page);
      assert.ok(steps >= 3, `checked at ${steps} positions`);
    });

    await step('at the top: "Start of your conversation" in full view, below the header and its product bar', async () => {
      const { page } = vendor;
      const list = page.locator(sel('message-list'));
      await list.evaluate((el) => {
        el.scrollTop = 0;
      });
      const start = page.locator(sel('history-start'));
      await start.waitFor();
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      const s = await box(start);
      assert.ok(within(s, await box(list)), `the label inside the visible list ${JSON.stringify(s)}`);
      assert.ok(!intersects(s, await box(page.locator('.chat-head'))), 'not under the header');
      const product = page.locator(sel('conversation-product'));
      if (await product.count()) assert.ok(!intersects(s, await box(product)), 'not under the product bar');
      for (const label of await page.locator('.day-sep > span').all()) {
        assert.ok(!intersects(s, await box(label)), 'not under a day label');
      }
    });

    await step('the customer’s side too (phone: the product bar under the header)', async () => {
      const { page } = customer;
      await signInDemo(page, 'customer', 'c-alice');
      await page.locator(sel('chat-with-vendor', { 'product-id': 'p-red-bike' })).click();
      await page.waitForURL(/\/chat\?c=/);
      await page.locator(sel('chat-window')).waitFor();
      for (let i = 1; i <= 16; i++) await send(page, `Question ${i}: what about the size, the weight and the warranty of this bike?`);
      await eventually(
        async () => (await messagesOf(page)).filter((m) => m.mine && m.status !== 'sending').length >= 16,
        'the questions confirmed',
      );
      await dayLabelsNeverCoverText(page);
      const list = page.locator(sel('message-list'));
      await list.evaluate((el) => {
        el.scrollTop = 0;
      });
      await page.locator(sel('history-start')).waitFor();
      const s = await box(page.locator(sel('history-start')));
      assert.ok(within(s, await box(list)), 'the start label in full view');
      assert.ok(!intersects(s, await box(page.locator(sel('conversation-product')))), 'not under the product bar');
    });

    await step('the vendor’s top bar fits the width, its two-digit badge beside the icon', async () => {
      const { page } = vendor;
      if (width === 'phone') {
        // The back button's count of the other conversations' unread, two digits, beside its arrow.
        const back = page.locator(sel('back-unread'));
        await eventually(async () => Number(await back.textContent()) >= 10, 'two digits on the back button');
        const arrow = await box(page.locator(`${sel('back-button')} svg`));
        assert.ok(!intersects(arrow, await box(back)), 'the back button’s badge clear of its arrow');
        await page.locator(sel('back-button')).click();
      }
      await page.locator(sel('conversation-list')).waitFor();
      await eventually(async () => (await totalUnread(page)) >= 10, 'ten and more unread (the customer’s questions)');
      const viewport = page.viewportSize();
      for (const what of ['inbox-button', 'sign-out', 'me-name']) {
        const b = await box(page.locator(sel(what)));
        assert.ok(b.left >= 0 && b.right <= viewport.width, `${what} within the ${viewport.width}px width: ${JSON.stringify(b)}`);
      }
      assert.ok(!intersects(await box(page.locator(sel('inbox-icon'))), await box(page.locator(sel('total-unread')))), 'badge clear of the icon');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `no horizontal scrolling (${overflow}px too wide)`);
    });
  });
}

test('desktop: the unread button, its badge and the product strip', async (t) => {
  const step = stepper(t);
  let customer;
  let vendor;
  let convId;

  await step('ten and more unread messages for the vendor', async () => {
    customer = await user(DESKTOP, 'badge customer');
    vendor = await user(DESKTOP, 'badge vendor');
    await signInDemo(vendor.page, 'vendor', 'v-lumen');
    await signInDemo(customer.page, 'customer', 'c-bruno');
    const { page } = customer;
    await page.locator(sel('chat-with-vendor', { 'product-id': 'p-chair' })).click();
    await page.waitForURL(/\/chat\?c=/);
    convId = new URL(page.url()).searchParams.get('c');
    await page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
    for (let i = 1; i <= 12; i++) await send(page, `Question ${i} about the chair`);
    await eventually(async () => (await totalUnread(vendor.page)) >= 12, 'twelve unread on the vendor’s side');
  });

  await step('the two-digit badge sits beside the icon, not over it', async () => {
    const { page } = vendor;
    const badge = page.locator(sel('total-unread'));
    assert.ok((await badge.textContent()).trim().length >= 2, 'two digits');
    const icon = await box(page.locator(sel('inbox-icon')));
    const b = await box(badge);
    assert.ok(!intersects(icon, b), `badge ${JSON.stringify(b)} clear of the icon ${JSON.stringify(icon)}`);
    assert.ok(within(b, await box(page.locator(sel('inbox-button')))), 'the badge is part of the button');
  });

  await step('the unread button is a button that opens the first unread conversation', async () => {
    const { page } = vendor;
    const button = page.locator(sel('inbox-button'));
    assert.equal(await button.evaluate((el) => el.tagName), 'BUTTON');
    assert.match(await button.getAttribute('aria-label'), /^\d+ unread/);
    await button.click();
    await page.waitForURL((url) => url.searchParams.get('c') === convId);
    await page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
    await eventually(async () => (await totalUnread(page)) === 0 || (await totalUnread(page)) < 12, 'read on opening');
  });

  await step('with nothing unread, the button takes focus to the list and the open conversation stays', async () => {
    const { page } = vendor;
    for (let i = 0; i < 10; i++) {
      const before = await totalUnread(page);
      if (before === 0) break;
      await page.locator(sel('inbox-button')).click();
      await eventually(async () => (await totalUnread(page)) < before, 'the next unread conversation read');
    }
    assert.equal(await totalUnread(page), 0);
    assert.match(await page.locator(sel('inbox-button')).getAttribute('aria-label'), /^No unread/);
    const openId = new URL(page.url()).searchParams.get('c');
    await page.locator(sel('inbox-button')).click();
    await eventually(
      async () => page.evaluate(() => document.activeElement?.dataset?.testid === 'conversation-item'),
      'focus on the list',
    );
    assert.equal(new URL(page.url()).searchParams.get('c'), openId, 'the open conversation stays open');
  });

  await step('the product strip shows whole cards: two in the column, the others one snap away', async () => {
    const { page } = customer;
    const strip = page.locator('.strip-scroll');
    const check = async (where) => {
      await page.evaluate(() => new Promise((r) => setTimeout(r, 300))); // scroll snapping settles
      const view = await box(strip);
      const cards = await strip.locator('.product-card').evaluateAll((els) => els.map((el) => el.getBoundingClientRect().toJSON()));
      let whole = 0;
      for (const c of cards) {
        const seen = Math.max(0, Math.min(c.right, view.right) - Math.max(c.left, view.left));
        assert.ok(seen === 0 || seen >= c.width - 1, `${where}: a card ${seen.toFixed(0)} of ${c.width.toFixed(0)} px in view`);
        if (seen > 0) whole += 1;
      }
      assert.equal(whole, 2, `${where}: two whole cards in view`);
    };
    await check('at the start');
    await strip.evaluate((el) => {
      el.scrollLeft = el.scrollWidth;
    });
    await check('at the end');
    await strip.evaluate((el) => {
      el.scrollLeft = 0;
    });
  });
});

// A stand-in for the browser's Notification API that records what the page
// asks and shows; the sound is counted by its oscillators.
const FAKE_NOTIFICATIONS = () => {
  window.__notes = { asked: 0, shown: [], beeps: 0 };
  const create = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function createOscillator() {
    window.__notes.beeps += 1;
    return create.call(this);
  };
  class FakeNotification {
    static permission = 'default';
    static requestPermission() {
      window.__notes.asked += 1;
      FakeNotification.permission = 'granted';
      return Promise.resolve('granted');
    }
    constructor(title, options) {
      window.__notes.shown.push({ title, body: options?.body, tag: options?.tag });
      window.__notes.last = this;
    }
    close() {}
  }
  window.Notification = FakeNotification;
};

test('desktop: a message while the tab is hidden raises a notification and a sound; permission is asked after the first send', async (t) => {
  const step = stepper(t);
  let customer;
  let vendor;
  let convId;

  await step('no permission is asked on load', async () => {
    customer = await user(DESKTOP, 'notified customer');
    vendor = await user(DESKTOP, 'notifying vendor');
    await customer.context.addInitScript(FAKE_NOTIFICATIONS);
    await signInDemo(customer.page, 'customer', 'c-chen');
    await signInDemo(vendor.page, 'vendor', 'v-bolt');
    await customer.page.locator(sel('product-strip')).waitFor();
    assert.equal(await customer.page.evaluate(() => window.__notes.asked), 0);
  });

  await step('the first send asks, once', async () => {
    const { page } = customer;
    await page.locator(sel('chat-with-vendor', { 'product-id': 'p-helmet' })).click();
    await page.waitForURL(/\/chat\?c=/);
    convId = new URL(page.url()).searchParams.get('c');
    await page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
    await send(page, 'Is the helmet rated for e-bikes?');
    await eventually(async () => (await page.evaluate(() => window.__notes.asked)) === 1, 'permission asked');
    await send(page, 'And how heavy is it?');
    await eventually(async () => (await messagesOf(page)).filter((m) => m.mine && m.status === 'sent').length === 2, 'both sent');
    assert.equal(await page.evaluate(() => window.__notes.asked), 1, 'asked once');
  });

  await step('while visible, an answer raises nothing', async () => {
    await vendor.page.locator(sel('conversation-item', { 'conversation-id': convId })).click();
    await send(vendor.page, 'Yes, it is rated for e-bikes.');
    await eventually(async () => (await messagesOf(customer.page)).some((m) => m.text === 'Yes, it is rated for e-bikes.'), 'the answer');
    assert.deepEqual(await customer.page.evaluate(() => window.__notes.shown), []);
    assert.equal(await customer.page.evaluate(() => window.__notes.beeps), 0, 'no sound');
  });

  await step('with the tab hidden, the next answer raises one notification naming the vendor', async () => {
    const { page } = customer;
    // The customer reads another conversation (the seeded one with Lumen Home) and leaves the tab.
    const other = page.locator(sel('conversation-item', { name: 'Lumen Home' }));
    await other.click();
    const lumen = await other.getAttribute('data-conversation-id');
    await page.waitForURL((url) => url.searchParams.get('c') === lumen);
    await page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await send(vendor.page, 'It weighs 290 g.');
    await eventually(async () => (await page.evaluate(() => window.__notes.shown)).length === 1, 'one notification');
    const [note] = await page.evaluate(() => window.__notes.shown);
    assert.deepEqual(note, { title: 'Bolt Bikes', body: 'It weighs 290 g.', tag: `souk-${convId}` });
    assert.equal(await page.evaluate(() => window.__notes.beeps), 1, 'one short sound');
  });

  await step('clicking the notification opens its conversation', async () => {
    const { page } = customer;
    await page.evaluate(() => window.__notes.last.onclick());
    await page.waitForURL((url) => url.searchParams.get('c') === convId);
    await page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
  });

  await step('no script errors', async () => {
    const errors = [...customer.errors, ...vendor.errors].filter((e) => !/net::ERR|WebSocket/.test(e));
    assert.deepEqual(errors, []);
  });
});

test('a 320px phone (WCAG reflow): the top bar and the conversation header fit, nothing scrolls sideways', async (t) => {
  const step = stepper(t);
  const narrow = { ...PHONE, viewport: { width: 320, height: 640 } };
  for (const [role, id] of [
    ['vendor', 'v-bolt'],
    ['customer', 'c-alice'],
  ]) {
    await step(`${role}: list and conversation`, async () => {
      const { page } = await user(narrow, `narrow ${role}`);
      await signInDemo(page, role, id);
      await page.locator(sel('conversation-item')).first().waitFor();
      const fits = async (what) => {
        const b = await box(page.locator(sel(what)));
        assert.ok(b.left >= 0 && b.right <= 320, `${role}: ${what} within 320px (${b.left.toFixed(0)}-${b.right.toFixed(0)})`);
      };
      await fits('sign-out');
      await fits('inbox-button');
      await page.locator(sel('conversation-item')).first().click();
      await page.locator(sel('chat-window')).waitFor();
      await fits('history-link');
      await fits('send-button');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${role}: no horizontal scrolling (${overflow}px too wide)`);
    });
  }
});
