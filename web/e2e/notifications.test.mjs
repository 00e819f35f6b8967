// Browser test of the top bar's notification control. The page asks for
// permission once, on the first send; afterwards a dismissed prompt can be
// asked again from a bell in the top bar, and declined notifications show a
// muted sign saying where to allow them. The browser's Notification is
// replaced by a stub whose permission and answers the test sets (headless
// Chromium declines every prompt by itself), and which counts the prompts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DESKTOP, PHONE, eventually, isVisible, sel, send, signInDemo, stepper, useSouk } from './harness.mjs';

const app = useSouk();

async function userWithNotifications(device, label, { permission, askedBefore }) {
  const u = await app.user(device, label);
  await u.context.addInitScript(
    ({ permission, askedBefore }) => {
      let current = permission;
      window.__prompts = 0;
      window.__answer = permission; // what the next prompt answers
      class StubNotification {
        static get permission() {
          return current;
        }
        static requestPermission() {
          window.__prompts += 1;
          current = window.__answer;
          return Promise.resolve(current);
        }
        close() {}
      }
      Object.defineProperty(window, 'Notification', { value: StubNotification, configurable: true, writable: true });
      if (askedBefore) localStorage.setItem('souk.notifications.asked', '1');
    },
    { permission, askedBefore },
  );
  return u;
}

const prompts = (page) => page.evaluate(() => window.__prompts);

test('desktop: a dismissed prompt can be asked again from the top bar', async (t) => {
  const step = stepper(t);
  let customer;

  await step('nothing is offered before the first send', async () => {
    customer = await userWithNotifications(DESKTOP, 'customer', { permission: 'default', askedBefore: false });
    const { page } = customer;
    await signInDemo(page, 'customer', 'c-chen');
    await page.locator(sel('product-strip')).waitFor();
    await page.locator(sel('chat-with-vendor', { 'product-id': 'p-red-bike' })).click();
    await page.waitForURL(/\/chat\?c=/);
    await page.locator(sel('composer-input')).waitFor();
    assert.equal(await isVisible(page, sel('notifications-ask')), false);
    assert.equal(await isVisible(page, sel('notifications-blocked')), false);
    assert.equal(await prompts(page), 0, 'no prompt on load');
  });

  await step('the first send asks; once the prompt is dismissed, the bell offers to ask again', async () => {
    const { page } = customer;
    await send(page, 'Is the red bike still available?');
    await eventually(async () => (await prompts(page)) === 1, 'the first send to open the prompt');
    await page.locator(sel('notifications-ask')).waitFor();
    assert.equal(
      await page.locator(sel('notifications-ask')).getAttribute('aria-label'),
      'Turn on notifications for new messages',
    );
  });

  await step('the bell asks again; allowed, it goes away', async () => {
    const { page } = customer;
    await page.evaluate(() => {
      window.__answer = 'granted';
    });
    await page.locator(sel('notifications-ask')).click();
    assert.equal(await prompts(page), 2);
    await eventually(async () => !(await isVisible(page, sel('notifications-ask'))), 'the bell to go once allowed');
    await send(page, 'Thanks!');
    assert.equal(await prompts(page), 2, 'a later send does not ask again');
    assert.deepEqual(customer.errors, []);
  });
});

test('phone: declined notifications show where to allow them, and the top bar still fits', async () => {
  const vendor = await userWithNotifications(PHONE, 'vendor', { permission: 'denied', askedBefore: true });
  const { page } = vendor;
  await signInDemo(page, 'vendor', 'v-bolt');
  const sign = page.locator(sel('notifications-blocked'));
  await sign.waitFor();
  assert.match(await sign.getAttribute('aria-label'), /blocked.*site settings/);
  assert.equal(await sign.getAttribute('role'), 'img');
  assert.equal(await isVisible(page, sel('notifications-ask')), false);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
  assert.equal(await prompts(page), 0, 'declined: never asked again');
  assert.deepEqual(vendor.errors, []);
});
