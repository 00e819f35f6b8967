// Browser test of links in messages: a customer sends text with an https URL
// and a javascript: one; the vendor sees exactly one safe link (new tab,
// noopener noreferrer, trailing "." left out) and the javascript: text as text.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DESKTOP, eventually, messagesOf, sel, send, signInDemo, stepper, useSouk } from './harness.mjs';

const app = useSouk();
const user = (label) => app.user(DESKTOP, label);

const TEXT = 'see https://example.com/bike?size=54. and javascript:alert(1)';

test('desktop: links in messages are safe links', async (t) => {
  const step = stepper(t);
  let customer;
  let vendor;
  let convId;

  await step('both sign in and the customer writes from a product', async () => {
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
    await send(page, TEXT);
    await eventually(
      async () => (await messagesOf(page)).some((m) => m.text === TEXT && m.status === 'sent'),
      'the customer’s message to be confirmed',
    );
  });

  await step('the vendor sees exactly one link, to the https URL, opening safely', async () => {
    const { page } = vendor;
    await page.locator(sel('conversation-item', { 'conversation-id': convId })).click();
    await page.locator(sel('chat-window', { 'conversation-id': convId })).waitFor();
    await eventually(async () => (await messagesOf(page)).some((m) => m.text === TEXT), 'the message in the vendor’s window');
    const msg = page.locator(sel('message')).filter({ hasText: 'javascript:alert(1)' });
    assert.equal(await msg.count(), 1);
    const anchors = await msg.locator('a').evaluateAll((els) =>
      els.map((a) => ({ href: a.getAttribute('href'), text: a.textContent, target: a.target, rel: a.rel })),
    );
    assert.equal(anchors.length, 1, JSON.stringify(anchors));
    const [a] = anchors;
    assert.equal(a.href, 'https://example.com/bike?size=54');
    assert.equal(a.text, 'https://example.com/bike?size=54');
    assert.equal(a.target, '_blank');
    const rel = a.rel.split(/\s+/);
    assert.ok(rel.includes('noopener') && rel.includes('noreferrer'), `rel: ${a.rel}`);
    // No javascript: link anywhere on the page, and the text is shown as sent.
    assert.equal(await page.locator('a[href^="javascript:" i]').count(), 0);
    assert.equal(await msg.locator(sel('message-text')).textContent(), TEXT);
    // The link is readable on the vendor's (received, white) bubble: AA contrast.
    const ratio = await msg.locator('a').evaluate((el) => {
      const rgb = (c) => c.match(/[\d.]+/g).slice(0, 3).map(Number);
      const lum = ([r, g, b]) =>
        [r, g, b]
          .map((v) => v / 255)
          .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4))
          .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
      const fg = lum(rgb(getComputedStyle(el).color));
      const bg = lum(rgb(getComputedStyle(el.closest('.msg-bubble')).backgroundColor));
      return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    });
    assert.ok(ratio >= 4.5, `link contrast ${ratio.toFixed(2)} ≥ 4.5`);
  });

  await step('the customer’s own bubble links the URL too', async () => {
    const msg = customer.page.locator(sel('message', { mine: 'true' })).filter({ hasText: 'javascript:alert(1)' });
    const hrefs = await msg.locator('a').evaluateAll((els) => els.map((a) => a.getAttribute('href')));
    assert.deepEqual(hrefs, ['https://example.com/bike?size=54']);
  });

  await step('no script errors in either page', async () => {
    const errors = [...customer.errors, ...vendor.errors].filter((e) => !/net::ERR|WebSocket/.test(e));
    assert.deepEqual(errors, []);
  });
});
