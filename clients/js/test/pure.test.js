// The pure parts: message merging, gap detection, read receipts, ids, errors,
// tokens. (Moved from the web app's unit tests, with more cases.)

import { describe, expect, test } from 'vitest';
import {
  ApiError,
  TokenError,
  applyRead,
  contiguousEnd,
  errorFrom,
  mergeMessages,
  nextClientMessageId,
  otherOf,
  socketUrlOf,
  userFromToken,
  visibleMessages,
} from '../src/index.js';
import { jwt, msg } from './helpers.js';

describe('mergeMessages', () => {
  test('keeps one copy per id, in seq order', () => {
    const merged = mergeMessages([msg(1), msg(2), msg(4)], [msg(3), msg(2), msg(5), msg(4)]);
    expect(merged.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  test('returns the same array when nothing is new (no re-render)', () => {
    const a = [msg(1), msg(2)];
    expect(mergeMessages(a, [msg(1), msg(2)])).toBe(a);
    expect(mergeMessages(a, [])).toBe(a);
  });

  test('never loses a known readAt to a stale copy, and takes a new one', () => {
    const read = [msg(1, 'c-1', { readAt: '2026-01-01T00:00:00.000Z' })];
    expect(mergeMessages(read, [msg(1)])[0].readAt).toBe('2026-01-01T00:00:00.000Z');
    const later = mergeMessages([msg(1)], [msg(1, 'c-1', { readAt: '2026-01-02T00:00:00.000Z' })]);
    expect(later[0].readAt).toBe('2026-01-02T00:00:00.000Z');
  });
});

describe('contiguousEnd (gap detection)', () => {
  test('is the last seq before the first gap', () => {
    expect(contiguousEnd([])).toBe(0);
    expect(contiguousEnd([msg(7), msg(8), msg(9)])).toBe(9);
    expect(contiguousEnd([msg(7), msg(8), msg(10), msg(11)])).toBe(8);
  });
});

describe('applyRead (read receipts)', () => {
  test('marks the other side’s messages up to the target, and only those', () => {
    const list = [msg(1, 'c-1'), msg(2, 'v-1'), msg(3, 'c-1'), msg(4, 'c-1')];
    const at = '2026-01-01T10:00:00.000Z';
    const out = applyRead(list, { messageId: list[2].id, readerId: 'v-1', readAt: at });
    expect(out.map((m) => m.readAt)).toEqual([at, null, at, null]);
    const all = applyRead(out, { messageId: null, readerId: 'v-1', readAt: 'later' });
    expect(all.map((m) => m.readAt)).toEqual([at, null, at, 'later']);
    expect(applyRead(all, { messageId: null, readerId: 'v-1', readAt: 'x' })).toBe(all);
  });

  test('of a message not loaded compares time-ordered ids', () => {
    const list = [msg(5, 'c-1'), msg(6, 'c-1')];
    const out = applyRead(list, { messageId: msg(5).id.replace(/5$/, '9'), readerId: 'v-1', readAt: 't' });
    expect(out.map((m) => m.readAt)).toEqual(['t', 't']);
  });
});

test('client message ids are unique within a tab and fit the 64-character rule', () => {
  const ids = new Set(Array.from({ length: 1000 }, () => nextClientMessageId()));
  expect(ids.size).toBe(1000);
  const id = nextClientMessageId();
  const [tab, n] = id.split('-');
  expect(tab.length).toBeGreaterThanOrEqual(8);
  expect(n).toMatch(/^\d{4,}$/);
  expect(id.length).toBeLessThanOrEqual(64);
});

test('otherOf picks the participant across the table', () => {
  const c = { customer: { id: 'c' }, vendor: { id: 'v' } };
  expect(otherOf(c, 'customer').id).toBe('v');
  expect(otherOf(c, 'vendor').id).toBe('c');
  expect(otherOf(null, 'vendor')).toBe(null);
});

test('visibleMessages shows confirmed messages, then pending ones', () => {
  expect(visibleMessages(undefined)).toEqual([]);
  const thread = { messages: [msg(1)], pending: [{ clientMessageId: 'x' }] };
  expect(visibleMessages(thread).map((m) => m.seq ?? m.clientMessageId)).toEqual([1, 'x']);
});

describe('errors', () => {
  test('carry the server’s code and message', () => {
    const e = errorFrom(404, { error: { code: 'not_found', message: 'conversation x not found' } });
    expect(e).toBeInstanceOf(ApiError);
    expect(e.code).toBe('not_found');
    expect(e.status).toBe(404);
    expect(e.message).toBe('conversation x not found');
    expect(e.retryable).toBe(false);
  });

  test('without a body take the code of the status; busy answers are retryable', () => {
    expect(errorFrom(503, null).code).toBe('unavailable');
    expect(errorFrom(503, null).retryable).toBe(true);
    expect(errorFrom(429, 'not json').retryable).toBe(true);
    expect(errorFrom(409, null).code).toBe('conflict');
    expect(errorFrom(500, null).code).toBe('internal');
    expect(errorFrom(500, null).retryable).toBe(true);
    expect(new ApiError(0, 'timeout', 'x').retryable).toBe(true);
    expect(new ApiError(0, 'network', 'x').retryable).toBe(true);
    expect(new ApiError(400, 'invalid_request', 'x').retryable).toBe(false);
  });
});

describe('userFromToken', () => {
  const exp = Math.floor(Date.now() / 1000) + 3600;
  test('reads sub, role and name', () => {
    expect(userFromToken(jwt({ sub: 'v-7', role: 'vendor', name: 'Bolt Bikes — é', exp }))).toEqual({
      id: 'v-7',
      role: 'vendor',
      name: 'Bolt Bikes — é',
    });
    expect(userFromToken(jwt({ sub: 'c-1', role: ['admin', 'customer'], exp })).role).toBe('customer');
    expect(userFromToken(jwt({ sub: 'c-1', role: 'customer', name: '  ' })).name).toBe('c-1');
    expect(userFromToken(jwt({ sub: 'c-1', roles: 'customer', n: 'A' }), { roleClaim: 'roles', nameClaim: 'n' })).toEqual(
      { id: 'c-1', role: 'customer', name: 'A' },
    );
  });

  test('refuses what is not a user token', () => {
    expect(() => userFromToken('nope')).toThrow(TokenError);
    expect(() => userFromToken(jwt({ sub: 'x', role: 'admin' }))).toThrow(/role/);
    expect(() => userFromToken(jwt({ sub: 'x', role: ['customer', 'vendor'] }))).toThrow(/role/);
    expect(() => userFromToken(jwt({ role: 'customer' }))).toThrow(/sub/);
  });
});

test('socketUrlOf follows GET /api/config', () => {
  expect(socketUrlOf({ socketUrl: 'https://chat.example/', socketPort: 1 })).toBe('https://chat.example/');
  expect(socketUrlOf({ socketUrl: null, socketPort: 9001 }, { protocol: 'https:', hostname: 'shop.example' })).toBe(
    'https://shop.example:9001',
  );
});
