// Unit tests of the pure parts of the client: message merging and gap
// detection, read receipts, prices, tokens, API errors.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorFrom } from '../src/services/chatApi.js';
import { applyRead, contiguousEnd, mergeMessages, nextClientMessageId, otherOf } from '../src/store/chatStore.js';
import { TokenError, decodeJwt, sessionFromToken } from '../src/utils/auth.js';
import { formatPrice, initials } from '../src/utils/format.js';
import { MAX_TEXT_CHARS, charsLeft, countChars, normalizeText } from '../src/utils/text.js';

const msg = (seq, sender = 'c-1', extra = {}) => ({
  id: `0193f0c3-0000-7000-8000-${String(seq).padStart(12, '0')}`,
  conversationId: 'conv',
  seq,
  sender: { id: sender, role: sender.startsWith('v') ? 'vendor' : 'customer' },
  kind: 'text',
  text: `m${seq}`,
  readAt: null,
  ...extra,
});

test('mergeMessages keeps one copy per id, in seq order', () => {
  const a = [msg(1), msg(2), msg(4)];
  const merged = mergeMessages(a, [msg(3), msg(2), msg(5), msg(4)]);
  assert.deepEqual(
    merged.map((m) => m.seq),
    [1, 2, 3, 4, 5],
  );
});

test('mergeMessages returns the same array when nothing is new (no re-render)', () => {
  const a = [msg(1), msg(2)];
  assert.equal(mergeMessages(a, [msg(1), msg(2)]), a);
  assert.equal(mergeMessages(a, []), a);
});

test('mergeMessages never loses a known readAt to a stale copy', () => {
  const read = [msg(1, 'c-1', { readAt: '2026-01-01T00:00:00.000Z' })];
  const merged = mergeMessages(read, [msg(1)]);
  assert.equal(merged[0].readAt, '2026-01-01T00:00:00.000Z');
  const later = mergeMessages([msg(1)], [msg(1, 'c-1', { readAt: '2026-01-02T00:00:00.000Z' })]);
  assert.equal(later[0].readAt, '2026-01-02T00:00:00.000Z');
});

test('contiguousEnd is the last seq before the first gap', () => {
  assert.equal(contiguousEnd([]), 0);
  assert.equal(contiguousEnd([msg(7), msg(8), msg(9)]), 9);
  assert.equal(contiguousEnd([msg(7), msg(8), msg(10), msg(11)]), 8);
});

test('applyRead marks the other side’s messages up to the target, and only those', () => {
  const list = [msg(1, 'c-1'), msg(2, 'v-1'), msg(3, 'c-1'), msg(4, 'c-1')];
  const at = '2026-01-01T10:00:00.000Z';
  const out = applyRead(list, { messageId: list[2].id, readerId: 'v-1', readAt: at });
  assert.deepEqual(
    out.map((m) => m.readAt),
    [at, null, at, null],
  );
  const all = applyRead(out, { messageId: null, readerId: 'v-1', readAt: 'later' });
  assert.deepEqual(
    all.map((m) => m.readAt),
    [at, null, at, 'later'],
  );
  assert.equal(applyRead(all, { messageId: null, readerId: 'v-1', readAt: 'x' }), all, 'unchanged list kept');
});

test('applyRead of a message not loaded compares time-ordered ids', () => {
  const list = [msg(5, 'c-1'), msg(6, 'c-1')];
  const out = applyRead(list, { messageId: msg(5).id.replace(/5$/, '9'), readerId: 'v-1', readAt: 't' });
  assert.deepEqual(
    out.map((m) => m.readAt),
    ['t', 't'],
  );
});

test('client message ids are unique within a tab', () => {
  const ids = new Set(Array.from({ length: 1000 }, () => nextClientMessageId()));
  assert.equal(ids.size, 1000);
  const [tab, n] = nextClientMessageId().split('-');
  assert.ok(tab.length >= 8 && /^\d{4,}$/.test(n));
});

test('otherOf picks the participant across the table', () => {
  const c = { customer: { id: 'c' }, vendor: { id: 'v' } };
  assert.equal(otherOf(c, 'customer').id, 'v');
  assert.equal(otherOf(c, 'vendor').id, 'c');
});

test('formatPrice uses the currency’s minor unit', () => {
  assert.equal(formatPrice(49999, 'EUR', 'en-GB'), '€499.99');
  assert.equal(formatPrice(32000, 'EUR', 'en-GB'), '€320');
  assert.equal(formatPrice(1500, 'JPY', 'en-GB'), 'JP¥1,500');
  assert.equal(formatPrice(1234, 'USD', 'en-US'), '$12.34');
  assert.equal(formatPrice(null, 'EUR'), '');
});

test('initials of one and two words', () => {
  assert.equal(initials('Bolt Bikes'), 'BB');
  assert.equal(initials('alice'), 'AL');
  assert.equal(initials(''), '?');
});

function jwt(payload) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}.signature`;
}

test('a token’s payload gives the session', () => {
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const s = sessionFromToken(jwt({ sub: 'v-7', role: 'vendor', name: 'Bolt Bikes — é', exp }));
  assert.deepEqual(s.user, { id: 'v-7', role: 'vendor', name: 'Bolt Bikes — é' });
  assert.equal(s.exp, exp);
  assert.equal(decodeJwt(s.token).sub, 'v-7');
});

test('bad tokens are refused with a reason', () => {
  assert.throws(() => decodeJwt('nope'), TokenError);
  assert.throws(() => sessionFromToken(jwt({ sub: 'x', role: 'admin' })), /role/);
  assert.throws(() => sessionFromToken(jwt({ role: 'customer' })), /sub/);
  assert.throws(() => sessionFromToken(jwt({ sub: 'x', role: 'customer', exp: 1 })), /expired/);
});

test('API errors carry the server’s code and message', () => {
  const e = errorFrom(404, { error: { code: 'not_found', message: 'conversation x not found' } });
  assert.equal(e.code, 'not_found');
  assert.equal(e.message, 'conversation x not found');
  assert.equal(e.retryable, false);
  assert.equal(errorFrom(503, null).code, 'unavailable');
  assert.equal(errorFrom(503, null).retryable, true);
  assert.equal(errorFrom(429, 'not json').retryable, true);
});

test('message text is counted as the server counts it: trimmed code points, CRLF as one', () => {
  assert.equal(countChars('  hello \n'), 5);
  assert.equal(countChars('👍'.repeat(4000)), 4000);
  assert.equal('👍'.repeat(4000).length, 8000);
  assert.equal(charsLeft('👍'.repeat(4000)), 0);
  assert.equal(charsLeft('x'.repeat(4001)), -1);
  assert.equal(normalizeText('a\r\nb\r\n'), 'a\nb');
  assert.equal(countChars('a\r\nb'), 3);
  assert.equal(MAX_TEXT_CHARS, 4000);
});
