// Unit tests of the web app's own helpers: prices, tokens, text. Message
// merging, gap detection, read receipts and API errors belong to the client
// kit and are tested there (clients/js/test).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenError, decodeJwt, sessionFromToken } from '../src/utils/auth.js';
import { formatPrice, initials } from '../src/utils/format.js';
import { MAX_TEXT_CHARS, charsLeft, countChars, normalizeText } from '../src/utils/text.js';

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
