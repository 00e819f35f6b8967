// The REST client against a fake fetch: paths, headers, bodies, errors.

import { describe, expect, test } from 'vitest';
import { ApiError, createChatApi, createOperatorApi, fetchAnalytics, request } from '../src/index.js';
import { CONV, fakeFetch, msg, reply } from './helpers.js';

describe('createChatApi', () => {
  test('calls the customer routes with the bearer token', async () => {
    const fetch = fakeFetch({
      'GET /api/chat/conversations': () => ({ conversations: [], nextCursor: null, totalUnread: 0 }),
      'GET /api/chat/unread': () => ({ total: 2, conversations: { [CONV]: 2 } }),
    });
    const api = createChatApi('tok', 'customer', { fetch });
    await api.listConversations({ search: 'red bike', limit: 20, cursor: '' });
    expect(await api.unread()).toEqual({ total: 2, conversations: { [CONV]: 2 } });
    expect(fetch.calls[0].path).toBe('/api/chat/conversations');
    expect(fetch.calls[0].query).toEqual({ search: 'red bike', limit: '20' });
    expect(fetch.calls[0].headers.Authorization).toBe('Bearer tok');
    expect(fetch.calls[0].body).toBeUndefined();
  });

  test('vendor side: its own prefix, customerId/customerName, and a base URL', async () => {
    const fetch = fakeFetch({
      'POST /api/vendor/chat/conversation': (req) => ({ id: CONV, body: req.body }),
      'PUT /api/vendor/chat/message/m-1/read': () => ({ conversationId: CONV, messageId: 'm-1', readAt: 't', unreadCount: 0 }),
      [`GET /api/vendor/chat/${CONV}/messages`]: () => ({ messages: [msg(4)], hasMore: false }),
    });
    const api = createChatApi('tok', 'vendor', { fetch, baseUrl: 'https://chat.example/' });
    const opened = await api.openConversation({ otherId: 'c-1', otherName: 'Alice', product: { id: 'p', name: 'P' } });
    expect(opened.body).toEqual({ customerId: 'c-1', customerName: 'Alice', product: { id: 'p', name: 'P' } });
    expect(fetch.calls[0].url).toBe('https://chat.example/api/vendor/chat/conversation');
    expect(fetch.calls[0].headers['Content-Type']).toBe('application/json');
    await api.markMessageRead('m-1');
    const page = await api.messages(CONV, { after: 3, limit: 100 });
    expect(page.messages[0].seq).toBe(4);
    expect(fetch.calls[2].query).toEqual({ after: '3', limit: '100' });
  });

  test('send carries the clientMessageId', async () => {
    const fetch = fakeFetch({ 'POST /api/chat/send': (req) => reply(201, { message: msg(1, 'c-1', req.body) }) });
    const api = createChatApi('tok', 'customer', { fetch });
    const res = await api.send({ conversationId: CONV, text: 'hi', clientMessageId: 'tab-0001' });
    expect(res.message.clientMessageId).toBe('tab-0001');
  });

  test('a failure rejects with the server’s error; no answer is `network`', async () => {
    const fetch = fakeFetch({
      'GET /api/chat/unread': () => reply(429, { error: { code: 'rate_limited', message: 'slow down' } }),
      'PUT /api/chat/x/read': () => reply(400, { error: { code: 'invalid_request', message: 'conversationId: must be a UUID' } }),
    });
    const api = createChatApi('tok', 'customer', { fetch });
    const busy = await api.unread().catch((e) => e);
    expect(busy).toBeInstanceOf(ApiError);
    expect([busy.status, busy.code, busy.retryable]).toEqual([429, 'rate_limited', true]);
    const bad = await api.markAllRead('x').catch((e) => e);
    expect([bad.code, bad.message, bad.retryable]).toEqual(['invalid_request', 'conversationId: must be a UUID', false]);

    const down = createChatApi('tok', 'customer', {
      fetch: async () => {
        throw new TypeError('fetch failed');
      },
    });
    const e = await down.unread().catch((x) => x);
    expect([e.code, e.retryable]).toEqual(['network', true]);
  });

  test('an aborted request rejects with the AbortError itself', async () => {
    const abort = new DOMException('aborted', 'AbortError');
    const e = await request('GET', '/api/chat/unread', {
      fetch: async () => {
        throw abort;
      },
    }).catch((x) => x);
    expect(e).toBe(abort);
  });

  test('analytics: vendor route with its window', async () => {
    const fetch = fakeFetch({ 'GET /api/vendor/analytics': (req) => ({ query: req.query }) });
    const res = await fetchAnalytics('tok', { from: '2026-11-01', to: '2026-12-01' }, { fetch });
    expect(res.query).toEqual({ from: '2026-11-01', to: '2026-12-01' });
  });
});

describe('audit and replay routes', () => {
  test('participants: state at a revision, and the transcript as JSON or as HTML text', async () => {
    const fetch = fakeFetch({
      [`GET /api/chat/${CONV}/state`]: (req) => ({ conversationId: CONV, at: Number(req.query.at ?? 7), lastRevision: 7 }),
      [`GET /api/vendor/chat/${CONV}/transcript`]: (req) =>
        req.query.format === 'html' ? '<!doctype html><p>transcript</p>' : { format: 'souk-transcript/1', events: [], finalHash: 'ab' },
    });
    const customer = createChatApi('tok', 'customer', { fetch });
    expect((await customer.state(CONV, 3)).at).toBe(3);
    expect(fetch.calls[0].query).toEqual({ at: '3' });
    expect((await customer.state(CONV, 0)).at).toBe(0);
    expect(fetch.calls[1].query).toEqual({ at: '0' });
    expect((await customer.state(CONV)).at).toBe(7);
    expect(fetch.calls[2].query).toEqual({});

    const vendor = createChatApi('tok', 'vendor', { fetch });
    expect((await vendor.transcript(CONV)).finalHash).toBe('ab');
    expect(fetch.calls[3].query).toEqual({ format: 'json' });
    expect(await vendor.transcript(CONV, 'html')).toBe('<!doctype html><p>transcript</p>');
    expect(fetch.calls[4].query).toEqual({ format: 'html' });
    expect(fetch.calls[4].headers.Accept).toMatch(/text\/html/);
    expect(fetch.calls[4].headers.Authorization).toBe('Bearer tok');
    // raw: the JSON exactly as served, not parsed (a saved file verifies byte for byte).
    expect(await vendor.transcript(CONV, 'json', { raw: true })).toBe('{"format":"souk-transcript/1","events":[],"finalHash":"ab"}');
  });

  test('an HTML transcript that fails still rejects with the server’s error', async () => {
    const fetch = fakeFetch({
      [`GET /api/chat/${CONV}/transcript`]: () => reply(404, { error: { code: 'not_found', message: 'no such conversation' } }),
    });
    const e = await createChatApi('tok', 'customer', { fetch }).transcript(CONV, 'html').catch((x) => x);
    expect([e.status, e.code, e.message]).toEqual([404, 'not_found', 'no such conversation']);
  });

  test('operator: every call carries its reason; ids and participants are encoded', async () => {
    const seen = (req) => ({ path: req.path, query: req.query });
    const fetch = fakeFetch({
      'GET /api/operator/conversations': seen,
      [`GET /api/operator/conversations/${CONV}`]: seen,
      [`GET /api/operator/conversations/${CONV}/events`]: seen,
      [`GET /api/operator/conversations/${CONV}/state`]: seen,
      [`GET /api/operator/conversations/${CONV}/transcript`]: (req) => (req.query.format === 'html' ? '<p>t</p>' : seen(req)),
    });
    const op = createOperatorApi('op-tok', { fetch, baseUrl: 'https://chat.example' });
    const reason = 'Refund dispute #812';
    expect((await op.searchConversations('c-alice@x', reason)).query).toEqual({ participant: 'c-alice@x', reason });
    expect(fetch.calls[0].url).toBe(
      'https://chat.example/api/operator/conversations?participant=c-alice%40x&reason=Refund+dispute+%23812',
    );
    expect((await op.searchConversations('v-bolt', reason, { limit: 5 })).query).toEqual({ participant: 'v-bolt', reason, limit: '5' });
    expect((await op.conversation(CONV, reason)).query).toEqual({ reason });
    expect((await op.conversation(CONV, reason, { before: 31, limit: 30 })).query).toEqual({ reason, before: '31', limit: '30' });
    expect((await op.events(CONV, reason, { from: 0, limit: 1000 })).query).toEqual({ reason, from: '0', limit: '1000' });
    expect((await op.state(CONV, 5, reason)).query).toEqual({ reason, at: '5' });
    expect((await op.state(CONV, null, reason)).query).toEqual({ reason });
    expect((await op.transcript(CONV, 'json', reason)).query).toEqual({ reason, format: 'json' });
    expect(await op.transcript(CONV, 'html', reason)).toBe('<p>t</p>');
    expect(JSON.parse(await op.transcript(CONV, 'json', reason, { raw: true })).query).toEqual({ reason, format: 'json' });
    for (const call of fetch.calls) expect(call.headers.Authorization).toBe('Bearer op-tok');
  });

  test('operator: a refusal is an ApiError with the server’s code', async () => {
    const fetch = fakeFetch({
      'GET /api/operator/conversations': () => reply(400, { error: { code: 'invalid_request', message: 'reason: 3 to 500 characters' } }),
    });
    const e = await createOperatorApi('tok', { fetch }).searchConversations('c-1', 'x').catch((x) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect([e.status, e.code, e.retryable]).toEqual([400, 'invalid_request', false]);
  });
});
