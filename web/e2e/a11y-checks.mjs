// The checks of the accessibility browser test (a11y.test.mjs): axe-core
// injected into the page, what axe does not judge (placeholders, text on
// gradients, focus indicators), and keyboard helpers.

import assert from 'node:assert/strict';
import path from 'node:path';
import { webDir } from './harness.mjs';

const AXE = path.join(webDir, 'node_modules', 'axe-core', 'axe.min.js');

/** axe-core's serious and critical violations on the page as it is now (animations finished). */
export async function axeViolations(page) {
  await page.evaluate(() =>
    Promise.all(
      document
        .getAnimations()
        .filter((a) => a.effect?.getComputedTiming().iterations !== Infinity) // spinners never finish
        .map((a) => a.finished.catch(() => {})),
    ),
  );
  if (!(await page.evaluate(() => !!window.axe))) await page.addScriptTag({ path: AXE });
  return page.evaluate(async () => {
    // Every rule axe runs by default, plus WCAG 2.2's target size (2.5.8, AA), off by default.
    const result = await window.axe.run(document, { resultTypes: ['violations'], rules: { 'target-size': { enabled: true } } });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id}: ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(' | ')}`);
  });
}

export async function assertAxeClean(page, screen) {
  const violations = await axeViolations(page);
  assert.deepEqual(violations, [], `${screen}: axe-core violations`);
  const faint = await faintPlaceholders(page);
  assert.deepEqual(faint, [], `${screen}: placeholders under 4.5:1`);
  await assertFocusVisible(page, screen);
}

/** Placeholder text (which axe does not check) under 4.5:1 against its field. */
export function faintPlaceholders(page) {
  return page.$$eval('input[placeholder], textarea[placeholder]', (els) => {
    const parse = (c) => c.match(/[\d.]+/g).map(Number);
    const lum = ([r, g, b]) =>
      [r, g, b]
        .map((v) => v / 255)
        .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4))
        .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
    const out = [];
    for (const el of els) {
      if (!el.offsetParent) continue;
      let bg = null;
      for (let n = el; n && !bg; n = n.parentElement) {
        const c = parse(getComputedStyle(n).backgroundColor);
        if (c.length < 4 || c[3] > 0) bg = c;
      }
      const ph = getComputedStyle(el, '::placeholder');
      const fg = parse(ph.color);
      const [x, y] = [lum(fg), lum(bg ?? [255, 255, 255])];
      const ratio = (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
      if (ratio < 4.5 || Number(ph.opacity) < 1) out.push(`${el.placeholder}: ${ratio.toFixed(2)}:1`);
    }
    return out;
  });
}

/**
 * Tabs through the first `max` focusable elements of the page from its start:
 * each shows a focus indicator (an outline of 2px or more, or a ring).
 */
export async function assertFocusVisible(page, screen, max = 60) {
  await page.bringToFront();
  // Start at the top of the page: a focus point before everything else.
  await page.evaluate(() => {
    const start = document.createElement('span');
    start.tabIndex = -1;
    start.id = 'tab-walk-start';
    document.body.prepend(start);
    start.focus();
  });
  const missing = [];
  const seen = new Set();
  let outside = 0; // Tab from the page's last element leaves the page once, then starts at its top
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const el = await page.evaluate(() => {
      const a = document.activeElement;
      if (!a || a === document.body) return null;
      const s = getComputedStyle(a);
      const shows = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || s.boxShadow !== 'none';
      const name = a.dataset.testid ?? `${a.tagName.toLowerCase()}.${[...a.classList].join('.')}`;
      return { name, shows, key: a.outerHTML.slice(0, 120) };
    });
    if (!el && seen.size === 0 && outside++ < 2) continue;
    if (!el || seen.has(el.key)) break;
    seen.add(el.key);
    if (!el.shows) missing.push(el.name);
  }
  await page.evaluate(() => {
    document.activeElement?.blur();
    document.getElementById('tab-walk-start')?.remove();
  });
  assert.ok(seen.size > 0, `${screen}: Tab reaches something`);
  assert.deepEqual(missing, [], `${screen}: focused without a visible indicator`);
}

/**
 * The contrast of own bubbles, which axe leaves undecided (a gradient): the
 * text, the time and the ticks against both ends of the gradient.
 */
export function ownBubbleContrast(page) {
  return page.$$eval('[data-testid="message"][data-mine="true"] .msg-bubble', (bubbles) => {
    const parse = (c) => c.match(/[\d.]+/g).slice(0, 4).map(Number);
    const lum = ([r, g, b]) =>
      [r, g, b]
        .map((v) => v / 255)
        .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4))
        .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
    const ratio = (a, b) => {
      const [x, y] = [lum(a), lum(b)];
      return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
    };
    const out = [];
    for (const bubble of bubbles) {
      const stops = (getComputedStyle(bubble).backgroundImage.match(/rgba?\([^)]*\)/g) ?? []).map(parse);
      const parts = [
        ['text', bubble.querySelector('.msg-text')],
        ['time', bubble.querySelector('.msg-meta time')],
        ['tick', bubble.querySelector('[data-testid="tick"]')],
      ];
      for (const [what, el] of parts) {
        if (!el) continue;
        const color = parse(getComputedStyle(el).color);
        let opacity = color[3] ?? 1;
        for (let n = el; n && n !== bubble.parentElement; n = n.parentElement) opacity *= Number(getComputedStyle(n).opacity);
        const state = el.dataset?.state;
        for (const stop of stops) out.push({ what: state ? `${what} (${state})` : what, ratio: ratio(color, stop), opacity });
      }
    }
    return out;
  });
}

/** Whether the focused element shows a focus indicator (outline or ring). */
export function focusShows(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return false;
    const s = getComputedStyle(el);
    const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
    const ring = s.boxShadow !== 'none';
    return outline || ring;
  });
}

/** Presses Tab (or Shift+Tab) until `selector` has focus; fails after `max` presses. */
export async function tabTo(page, selector, { max = 60, back = false } = {}) {
  for (let i = 0; i < max; i++) {
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return i;
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
  }
  throw new Error(`${selector} not reached with ${max} presses of ${back ? 'Shift+Tab' : 'Tab'}`);
}

export const activeTestId = (page) => page.evaluate(() => document.activeElement?.dataset?.testid ?? document.activeElement?.tagName);
