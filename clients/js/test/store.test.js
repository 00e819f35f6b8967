// The store against a fake souk (fetch and socket): conversations, unread
// counts, presence, typing, read receipts, sends retried with the same
// clientMessageId, reconnect and rejoin with sinceSeq, hasMore paging, gaps.

import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { createChatStore } from '../src/index.js';
import { CONV, FakeServer, fakeFetch, jwt, msg, reply } from './helpers.js';

const ME = 'c-1';
const VENDOR = 'v-1';
const TOKEN = jwt({ sub: ME, role: 'customer', name: 'Alice' });

const m = (seq, sender = VENDOR, extra = {}) => msg(seq, sender, { conversationId: CONV, ...extra });

function conversation(extra = {}) {
  return {
    id: CONV,
    customer: { id: ME, name: 'Alice', online: true },
    vendor: { id: VENDOR, name: 'Bolt Bikes', online: false, lastSeenAt: '2026-12-01T04:00:00.000Z' },
    product: null,
    lastMessage: null,
    unreadCount: 0,
    createdAt: '2026-12-01T04:00:00.000Z',
    updatedAt: '2026-12-01T04:00:00.000Z',
    ...extra,
  };
}

/** The server's history of CONV, and routes that page it as souk does. */
function history(count) {
  const all = Array.from({ length: count }, (_, i) => m(i + 1, i % 2 ? ME : VENDOR));
  return {
    all,
    route: (req) => {
      const limit = Number(req.query.limit ?? 30);
      if (req.query.after !== undefined) {
        const rest = all.filter((x) => x.seq > Number(req.query.after));
        return { messages: rest.slice(0, limit), hasMore: rest.length > limit };
      }
      const below = all.filter((x) => req.query.before === undefined || x.seq < Number(req.query.before));
      return { messages: below.slice(-limit), hasMore: below.length > limit };
    },
  };
}

let server;
let fetch;
let useChat;
let ids;
const st = () => useChat.getState();
const flush = () => vi.advanceTimersByTimeAsync(0);

function setup({ messages = 0, unread = 0 } = {}) {
  const h = history(messages);
  server = new FakeServer();
  server.handle('join_chat_room', (p) => ({ ok: true, conversationId: p.conversationId, replayed: 0 }));
  server.handle('mark_read', (p) => ({ ok: true, conversationId: p.conversationId, readAt: '2026-12-01T05:00:00.000Z', unreadCount: 0 }));
  fetch = fakeFetch({
    'GET /api/chat/conversations': () => ({
      conversations: [conversation({ unreadCount: unread, lastMessage: h.all.at(-1) ?? null })],
      nextCursor: null,
      totalUnread: unread,
    }),
    'GET /api/chat/unread': () => ({ total: unread, conversations: unread ? { [CONV]: unread } : {} }),
    [`GET /api/chat/${CONV}/messages`]: h.route,
    [`PUT /api/chat/${CONV}/read`]: () => ({ conversationId: CONV, readAt: '2026-12-01T05:00:00.000Z', unreadCount: 0 }),
  });
  let n = 0;
  ids = () => `tab-${String(n).padStart(4, '0')}`;
  useChat = createChatStore({
    io: server.io,
    fetch,
    isVisible: () => true,
    clientMessageId: () => `tab-${String(++n).padStart(4, '0')}`,
  });
  return h;
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  st().stop();
  vi.useRealTimers();
});

async function connected(opts) {
  const h = setup(opts);
  st().connect({ token: TOKEN, socketUrl: 'http://chat.example:8081' });
  server.socket.up();
  await flush();
  return h;
}

describe('session and list', () => {
  test('connect with a token: the user from its payload, the list, unread counts, presence', async () => {
    await connected({ messages: 2, unread: 1 });
    expect(st().me).toEqual({ id: ME, role: 'customer', name: 'Alice' });
    expect(st().connection).toBe('online');
    expect(st().order).toEqual([CONV]);
    expect(st().unread).toEqual({ [CONV]: 1 });
    expect(st().totalUnread).toBe(1);
    expect(st().presence[VENDOR]).toEqual({ online: false, lastSeenAt: '2026-12-01T04:00:00.000Z' });
    expect(fetch.calls[0].headers.Authorization).toBe(`Bearer ${TOKEN}`);
  });

  test('new_chat_message and unread_count keep the badge; presence events', async () => {
    await connected({ messages: 2 });
    server.socket.fire('new_chat_message', { conversationId: CONV, message: m(3), unreadCount: 1, totalUnread: 4 });
    expect(st().unread[CONV]).toBe(1);
    expect(st().totalUnread).toBe(4);
    expect(st().conversations[CONV].lastMessage.seq).toBe(3);
    server.socket.fire('unread_count', { conversationId: CONV, unreadCount: 0, totalUnread: 3 });
    expect(st().unread[CONV]).toBeUndefined();
    expect(st().totalUnread).toBe(3);
    server.socket.fire('user_online', { userId: VENDOR });
    expect(st().presence[VENDOR]).toEqual({ online: true, lastSeenAt: null });
    server.socket.fire('user_offline', { userId: VENDOR, lastSeenAt: 't' });
    expect(st().presence[VENDOR]).toEqual({ online: false, lastSeenAt: 't' });
  });

  test('stop closes the socket and clears the state', async () => {
    await connected();
    st().stop();
    expect(server.socket.disconnectCalls).toBe(1);
    expect(st().me).toBe(null);
    expect(st().connection).toBe('idle');
  });
});

describe('a conversation', () => {
  test('opening loads the newest page, joins with sinceSeq and marks it read', async () => {
    await connected({ messages: 40, unread: 2 });
    await st().openConversation(CONV);
    await flush();
    const t = st().threads[CONV];
    expect(t.messages.map((x) => x.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 11));
    expect(t.hasMore).toBe(true);
    expect(server.sent('join_chat_room')).toEqual([{ conversationId: CONV, sinceSeq: 40 }]);
    expect(server.sent('mark_read')).toEqual([{ conversationId: CONV }]);
    expect(st().unread[CONV]).toBeUndefined();
    await st().loadOlder(CONV);
    expect(st().threads[CONV].messages[0].seq).toBe(1);
    expect(st().threads[CONV].hasMore).toBe(false);
  });

  test('replays and echoes never double a message', async () => {
    await connected({ messages: 3 });
    await st().openConversation(CONV);
    server.socket.fire('receive_message', m(3));
    server.socket.fire('receive_message', m(4));
    server.socket.fire('receive_message', m(4));
    st().receiveMessages(CONV, [m(2), m(4)]);
    expect(st().threads[CONV].messages.map((x) => x.seq)).toEqual([1, 2, 3, 4]);
  });

  test('reconnect: rejoins with the last seq held without a gap, refreshes list and unread', async () => {
    await connected({ messages: 5 });
    await st().openConversation(CONV);
    server.socket.drop();
    expect(st().connection).toBe('offline');
    const before = fetch.calls.length;
    server.socket.up();
    server.socket.fire('receive_message', m(6)); // the server's replay
    await flush();
    expect(server.sent('join_chat_room')).toEqual([
      { conversationId: CONV, sinceSeq: 5 },
      { conversationId: CONV, sinceSeq: 5 },
    ]);
    const after = fetch.calls.slice(before).map((c) => c.path);
    expect(after).toContain('/api/chat/conversations');
    expect(after).toContain('/api/chat/unread');
    expect(st().threads[CONV].messages.map((x) => x.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('a join acked with hasMore pages the rest with ?after= until hasMore is false', async () => {
    const h = await connected({ messages: 3 });
    await st().openConversation(CONV);
    // 700 more arrive while the socket is down; the join replays 500.
    for (let seq = 4; seq <= 703; seq += 1) h.all.push(m(seq));
    server.handle('join_chat_room', (p) => {
      for (let seq = p.sinceSeq + 1; seq <= p.sinceSeq + 500; seq += 1) server.socket.fire('receive_message', h.all[seq - 1]);
      return { ok: true, conversationId: p.conversationId, replayed: 500, hasMore: true };
    });
    server.socket.drop();
    server.socket.up();
    await vi.advanceTimersByTimeAsync(1000);
    const pages = fetch.calls.filter((c) => c.query.after !== undefined).map((c) => c.query.after);
    expect(pages).toEqual(['503', '603']);
    const seqs = st().threads[CONV].messages.map((x) => x.seq);
    expect(seqs).toHaveLength(703);
    expect(seqs.at(-1)).toBe(703);
  });

  test('a gap that stays is filled from REST', async () => {
    const h = await connected({ messages: 3 });
    await st().openConversation(CONV);
    h.all.push(m(4), m(5));
    server.socket.fire('receive_message', m(5)); // 4 was missed
    expect(st().threads[CONV].messages.map((x) => x.seq)).toEqual([1, 2, 3, 5]);
    await vi.advanceTimersByTimeAsync(400);
    expect(fetch.calls.at(-1).query).toEqual({ after: '3', limit: '100' });
    expect(st().threads[CONV].messages.map((x) => x.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  test('read receipts: message_read and all_messages_read mark my messages', async () => {
    await connected({ messages: 4 }); // seqs 2 and 4 are mine
    await st().openConversation(CONV);
    const mine = st().threads[CONV].messages.filter((x) => x.sender.id === ME);
    server.socket.fire('message_read', { conversationId: CONV, messageId: mine[0].id, readerId: VENDOR, readAt: 'r1' });
    expect(st().threads[CONV].messages.map((x) => x.readAt)).toEqual([null, 'r1', null, null]);
    server.socket.fire('all_messages_read', { conversationId: CONV, readerId: VENDOR, readAt: 'r2' });
    expect(st().threads[CONV].messages.map((x) => x.readAt)).toEqual([null, 'r1', null, 'r2']);
    expect(st().conversations[CONV].lastMessage.readAt).toBe('r2');
  });
});

describe('sending', () => {
  test('optimistic, then confirmed by the ack: one message', async () => {
    await connected({ messages: 1 });
    await st().openConversation(CONV);
    server.handle('send_message', (p) => ({ ok: true, message: m(2, ME, { clientMessageId: p.clientMessageId, text: p.text }), duplicate: false }));
    const sending = st().sendMessage({ text: '  hello  ' });
    expect(st().threads[CONV].pending).toMatchObject([{ clientMessageId: 'tab-0001', text: 'hello', status: 'sending' }]);
    await sending;
    server.socket.fire('receive_message', m(2, ME, { clientMessageId: 'tab-0001', text: 'hello' })); // the room's echo
    expect(st().threads[CONV].pending).toEqual([]);
    expect(st().threads[CONV].messages.map((x) => x.seq)).toEqual([1, 2]);
    expect(server.sent('send_message')).toEqual([{ conversationId: CONV, clientMessageId: 'tab-0001', text: 'hello' }]);
  });

  test('a busy server: retried by itself with the same clientMessageId', async () => {
    await connected({ messages: 1 });
    await st().openConversation(CONV);
    let calls = 0;
    server.handle('send_message', (p) => {
      calls += 1;
      if (calls < 3) return { ok: false, error: { code: 'rate_limited', message: 'slow down' } };
      return { ok: true, message: m(2, ME, { clientMessageId: p.clientMessageId }), duplicate: false };
    });
    st().sendMessage({ text: 'hi' });
    await vi.advanceTimersByTimeAsync(1000 + 2000);
    const sent = server.sent('send_message');
    expect(sent).toHaveLength(3);
    expect(new Set(sent.map((p) => p.clientMessageId))).toEqual(new Set([ids()]));
    expect(st().threads[CONV].pending).toEqual([]);
    expect(st().threads[CONV].messages.map((x) => x.seq)).toEqual([1, 2]);
  });

  test('a busy server: the sends after a retried one wait for it, so the order holds', async () => {
    await connected({ messages: 1 });
    await st().openConversation(CONV);
    let refusals = 2;
    let seq = 1;
    server.handle('send_message', (p) => {
      if (p.text === 'first' && refusals > 0) {
        refusals -= 1;
        return { ok: false, error: { code: 'rate_limited', message: 'slow down' } };
      }
      seq += 1;
      return { ok: true, message: m(seq, ME, { clientMessageId: p.clientMessageId, text: p.text }), duplicate: false };
    });
    st().sendMessage({ text: 'first' });
    st().sendMessage({ text: 'second' });
    st().sendMessage({ text: 'third' });
    await flush();
    // Only the first went out, and was refused; the others wait for it.
    expect(server.sent('send_message').map((p) => p.text)).toEqual(['first']);
    await vi.advanceTimersByTimeAsync(1000 + 2000);
    expect(server.sent('send_message').map((p) => p.text)).toEqual(['first', 'first', 'first', 'second', 'third']);
    expect(st().threads[CONV].pending).toEqual([]);
    expect(st().threads[CONV].messages.map((x) => [x.seq, x.text ?? null]).slice(1)).toEqual([
      [2, 'first'],
      [3, 'second'],
      [4, 'third'],
    ]);
  });

  test('a lost ack: the echo confirms it, and a retry answers the same message (duplicate)', async () => {
    await connected({ messages: 1 });
    await st().openConversation(CONV);
    server.handle('send_message', () => undefined); // no ack comes back
    st().sendMessage({ text: 'hi' });
    server.socket.fire('receive_message', m(2, ME, { clientMessageId: 'tab-0001' }));
    await vi.advanceTimersByTimeAsync(8000);
    expect(server.sent('send_message')).toHaveLength(1); // confirmed meanwhile: not sent again
    expect(st().threads[CONV].pending).toEqual([]);
    expect(st().threads[CONV].messages).toHaveLength(2);
  });

  test('refused for good: failed, not retryable; offline: failed, sent again on reconnect with the same id', async () => {
    await connected({ messages: 1 });
    await st().openConversation(CONV);
    server.handle('send_message', () => ({ ok: false, error: { code: 'invalid_request', message: 'text: must be at most 4000 characters' } }));
    await st().sendMessage({ text: 'x' });
    expect(st().threads[CONV].pending[0]).toMatchObject({ status: 'failed', retryable: false });
    st().discard(CONV, 'tab-0001');
    expect(st().threads[CONV].pending).toEqual([]);

    // Offline: the send goes over REST, which cannot be reached either.
    server.socket.drop();
    fetch.routes['POST /api/chat/send'] = () => {
      throw new TypeError('fetch failed');
    };
    await st().sendMessage({ text: 'later' });
    expect(st().threads[CONV].pending[0]).toMatchObject({ clientMessageId: 'tab-0002', status: 'failed', retryable: true });
    server.handle('send_message', (p) => ({ ok: true, message: m(2, ME, { clientMessageId: p.clientMessageId }), duplicate: true }));
    server.socket.up();
    await flush();
    expect(server.sent('send_message').at(-1)).toEqual({ conversationId: CONV, clientMessageId: 'tab-0002', text: 'later' });
    expect(st().threads[CONV].pending).toEqual([]);
  });

  test('over REST while the socket is down, with the same body', async () => {
    await connected({ messages: 1 });
    await st().openConversation(CONV);
    server.socket.drop();
    fetch.routes['POST /api/chat/send'] = (req) => reply(201, { message: m(2, ME, { clientMessageId: req.body.clientMessageId }) });
    await st().sendMessage({ text: 'rest', product: { id: 'p-1', name: 'Red bike' } });
    expect(fetch.calls.at(-1).body).toEqual({
      conversationId: CONV,
      clientMessageId: 'tab-0001',
      text: 'rest',
      product: { id: 'p-1', name: 'Red bike' },
    });
    expect(st().threads[CONV].pending).toEqual([]);
  });
});

describe('typing', () => {
  test('outgoing: one typing_start per 3 s of keystrokes, typing_stop when idle or on send', async () => {
    await connected({ messages: 1 });
    await st().openConversation(CONV);
    st().typingActivity();
    await vi.advanceTimersByTimeAsync(1000);
    st().typingActivity();
    expect(server.sent('typing_start')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2500);
    expect(server.sent('typing_stop')).toEqual([{ conversationId: CONV }]);
    st().typingActivity();
    server.handle('send_message', (p) => ({ ok: true, message: m(2, ME, { clientMessageId: p.clientMessageId }), duplicate: false }));
    await st().sendMessage({ text: 'x' });
    expect(server.sent('typing_stop')).toHaveLength(2);
  });

  test('incoming: shown until stopped, a message from them, or 6 s', async () => {
    await connected({ messages: 1 });
    await st().openConversation(CONV);
    server.socket.fire('user_typing', { conversationId: CONV, userId: VENDOR });
    expect(st().typing[CONV]).toBe(VENDOR);
    server.socket.fire('user_stopped_typing', { conversationId: CONV, userId: VENDOR });
    expect(st().typing[CONV]).toBeUndefined();
    server.socket.fire('user_typing', { conversationId: CONV, userId: VENDOR });
    server.socket.fire('receive_message', m(2, VENDOR));
    expect(st().typing[CONV]).toBeUndefined();
    server.socket.fire('user_typing', { conversationId: CONV, userId: VENDOR });
    await vi.advanceTimersByTimeAsync(6000);
    expect(st().typing[CONV]).toBeUndefined();
  });
});

test('setToken hands a fresh token to REST and to the next handshake', async () => {
  await connected();
  st().setToken(TOKEN); // the same token: nothing to do
  expect(server.socket.connectCalls).toBe(0);
  server.socket.drop();
  const fresh = jwt({ sub: ME, role: 'customer', exp: 2 });
  st().setToken(fresh);
  expect(server.socket.auth).toEqual({ token: fresh });
  expect(server.socket.connectCalls).toBe(1);
  await st().refreshUnread();
  expect(fetch.calls.at(-1).headers.Authorization).toBe(`Bearer ${fresh}`);
});
