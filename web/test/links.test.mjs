// Unit tests of splitLinks (web/src/utils/links.js) and of formatClock's locale.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatClock } from '../src/utils/format.js';
import { safeHref, splitLinks } from '../src/utils/links.js';

const links = (text) => splitLinks(text).filter((p) => p.type === 'link').map((p) => p.href);
const joined = (text) => splitLinks(text).map((p) => p.text).join('');

test('http and https URLs become links, with the text around kept', () => {
  assert.deepEqual(splitLinks('see https://example.com/bike?size=54 now'), [
    { type: 'text', text: 'see ' },
    { type: 'link', text: 'https://example.com/bike?size=54', href: 'https://example.com/bike?size=54' },
    { type: 'text', text: ' now' },
  ]);
  assert.deepEqual(links('http://shop.example/a#b'), ['http://shop.example/a#b']);
  assert.deepEqual(links('HTTPS://Example.com/X'), ['HTTPS://Example.com/X']);
});

test('javascript:, data:, other schemes and bare words are not links', () => {
  for (const text of [
    'javascript:alert(1)',
    'click javascript:alert("x")',
    'data:text/html,<script>alert(1)</script>',
    'vbscript:msgbox',
    'ftp://example.com/file',
    'mailto:a@example.com',
    'example.com/bike',
    'https://',
    'https://.',
    'no links here',
  ]) {
    assert.deepEqual(links(text), [], text);
    assert.equal(joined(text), text);
  }
  // A URL glued to a word before it is not one (e.g. "javascript:https://…").
  assert.deepEqual(links('xhttps://example.com'), []);
  // Only the https part of a mixed string is linked, never the javascript: one.
  assert.deepEqual(links('javascript:alert(1)//https://example.com'), ['https://example.com']);
  assert.equal(safeHref('javascript:alert(1)'), null);
  assert.equal(safeHref('data:text/html,hi'), null);
  assert.equal(safeHref('https://example.com'), 'https://example.com');
});

test('trailing punctuation stays out of the URL', () => {
  assert.deepEqual(links('see https://example.com/bike?size=54.'), ['https://example.com/bike?size=54']);
  assert.deepEqual(links('https://example.com, then'), ['https://example.com']);
  assert.deepEqual(links('(see https://example.com/a)'), ['https://example.com/a']);
  assert.deepEqual(links('really? https://example.com/a?!'), ['https://example.com/a']);
  assert.deepEqual(links('https://example.com/a;: end'), ['https://example.com/a']);
  assert.deepEqual(links('"https://example.com/q"'), ['https://example.com/q']);
  // Brackets that belong to the URL are kept.
  assert.deepEqual(links('https://en.wikipedia.org/wiki/Bike_(disambiguation)'), [
    'https://en.wikipedia.org/wiki/Bike_(disambiguation)',
  ]);
  assert.deepEqual(links('(https://en.wikipedia.org/wiki/Bike_(x)).'), ['https://en.wikipedia.org/wiki/Bike_(x)']);
  assert.equal(joined('see https://example.com/bike?size=54. and more'), 'see https://example.com/bike?size=54. and more');
});

test('several links and the exact example of the issue', () => {
  const text = 'see https://example.com/bike?size=54. and javascript:alert(1)';
  assert.deepEqual(splitLinks(text), [
    { type: 'text', text: 'see ' },
    { type: 'link', text: 'https://example.com/bike?size=54', href: 'https://example.com/bike?size=54' },
    { type: 'text', text: '. and javascript:alert(1)' },
  ]);
  assert.deepEqual(links('a http://one.example b https://two.example/x, c\nhttps://three.example'), [
    'http://one.example',
    'https://two.example/x',
    'https://three.example',
  ]);
  assert.deepEqual(links('https://a.example/https://b.example'), ['https://a.example/https://b.example']);
  assert.equal(joined('a http://one.example b https://two.example/x, c'), 'a http://one.example b https://two.example/x, c');
  assert.deepEqual(splitLinks(''), []);
  assert.deepEqual(splitLinks(null), []);
});

test('formatClock follows the locale', () => {
  const iso = '2026-11-12T14:22:00Z';
  const opts = { hour: '2-digit', minute: '2-digit' };
  assert.equal(formatClock(iso, 'en-GB'), new Intl.DateTimeFormat('en-GB', opts).format(new Date(iso)));
  assert.equal(formatClock(iso, 'en-US'), new Intl.DateTimeFormat('en-US', opts).format(new Date(iso)));
  assert.match(formatClock('2026-11-12T02:22:00', 'en-US'), /^02:22\sAM$/);
  assert.equal(formatClock('2026-11-12T14:22:00', 'de-DE'), '14:22');
  assert.equal(formatClock(''), '');
  assert.equal(formatClock('not a date'), '');
});
