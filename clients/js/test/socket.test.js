// ChatSocket against a fake socket.io-client: rejoin with sinceSeq after every
// connect, hasMore, acks, timeouts, reconnection.

import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { ApiError, ChatSocket } from '../src/index.js';
import { CONV, FakeServer } from './helpers.js';

let server;
let chat;

beforeEach(() => {
  server = new FakeServer();
  server.handle('join_chat_room', (p) => ({ ok: true, conversationId: p.conversationId, replayed: 0 }));
  chat = new ChatSocket('http://chat.example:8081', 'tok', { io: server.io });
});

afterEach(() => {
  chat.close();
  vi.useRealTimers();
});

describe('ChatSocket', () => {
  test('connects with the token in auth, WebSocket first', () => {
    expect(server.socket.url).toBe('http://chat.example:8081');
    expect(server.socket.auth).toEqual({ token: 'tok' });
    expect(server.socket.options.transports).toEqual(['websocket', 'polling']);
  });

  test('joins open rooms on every connect with the sinceSeq of that moment', async () => {
    let held = 3;
    const statuses = [];
    const rejoined = vi.fn();
    chat.onLocal('status', (s) => statuses.push(s));
    chat.onLocal('rejoined', rejoined);
    expect(await chat.joinRoom(CONV, () => held)).toBe(null); // not connected yet: nothing sent
    expect(server.sent('join_chat_room')).toEqual([]);

    server.socket.up();
    expect(server.sent('join_chat_room')).toEqual([{ conversationId: CONV, sinceSeq: 3 }]);
    expect(rejoined).not.toHaveBeenCalled();

    held = 9;
    server.socket.drop();
    server.socket.up();
    expect(server.sent('join_chat_room')).toEqual([
      { conversationId: CONV, sinceSeq: 3 },
      { conversationId: CONV, sinceSeq: 9 },
    ]);
    expect(rejoined).toHaveBeenCalledTimes(1);
    expect(statuses.map((s) => s.state)).toEqual(['online', 'offline', 'online']);
    expect(statuses[2].reconnected).toBe(true);
  });

  test('a room with no history yet joins without sinceSeq; a left room is not rejoined', async () => {
    server.socket.up();
    await chat.joinRoom(CONV, () => null);
    expect(server.sent('join_chat_room')).toEqual([{ conversationId: CONV }]);
    chat.leaveRoom(CONV);
    expect(server.sent('leave_chat_room')).toEqual([{ conversationId: CONV }]);
    server.socket.drop();
    server.socket.up();
    expect(server.sent('join_chat_room')).toHaveLength(1);
  });

  test('a join acked with hasMore asks for the rest (join_more); a refused join reports join_error', async () => {
    server.handle('join_chat_room', (p) =>
      p.sinceSeq === 0
        ? { ok: true, conversationId: p.conversationId, replayed: 500, hasMore: true }
        : { ok: false, error: { code: 'not_found', message: 'no' } },
    );
    const more = vi.fn();
    const failed = vi.fn();
    chat.onLocal('join_more', more);
    chat.onLocal('join_error', failed);
    server.socket.up();
    const ack = await chat.joinRoom(CONV, () => 0);
    expect(ack.hasMore).toBe(true);
    expect(more).toHaveBeenCalledWith({ conversationId: CONV });
    expect(await chat.joinRoom('other', () => 5)).toBe(null);
    expect(failed.mock.calls[0][0].error.code).toBe('not_found');
  });

  test('request resolves an ok ack, rejects a refusal with its code, and times out', async () => {
    vi.useFakeTimers();
    server.handle('send_message', (p) => (p.text === 'no' ? { ok: false, error: { code: 'rate_limited', message: 'slow' } } : { ok: true, duplicate: false }));
    server.socket.up();
    await expect(chat.request('send_message', { conversationId: CONV, text: 'hi' })).resolves.toEqual({ ok: true, duplicate: false });
    const refused = await chat.request('send_message', { conversationId: CONV, text: 'no' }).catch((e) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect([refused.code, refused.retryable]).toEqual(['rate_limited', true]);
    const silent = chat.request('mark_read', { conversationId: CONV }, 1000).catch((e) => e);
    await vi.advanceTimersByTimeAsync(1000);
    const e = await silent;
    expect([e.code, e.retryable]).toEqual(['timeout', true]);
  });

  test('reconnects by itself after a server-side disconnect; reports unauthorized', () => {
    const statuses = [];
    chat.onLocal('status', (s) => statuses.push(s.state));
    server.socket.up();
    server.socket.drop('transport close');
    expect(server.socket.connectCalls).toBe(0); // socket.io-client retries by itself
    server.socket.drop('io server disconnect');
    expect(server.socket.connectCalls).toBe(1);
    server.socket.fire('connect_error', new Error('unauthorized'));
    expect(statuses.at(-1)).toBe('unauthorized');
  });

  test('typing is volatile and dropped while disconnected', () => {
    chat.emitVolatile('typing_start', { conversationId: CONV });
    expect(server.emitted).toEqual([]);
    server.socket.up();
    chat.emitVolatile('typing_start', { conversationId: CONV });
    expect(server.emitted).toEqual([{ event: 'typing_start', payload: { conversationId: CONV }, volatile: true }]);
  });

  test('setToken: the next handshake carries the fresh token', () => {
    server.socket.fire('connect_error', new Error('unauthorized'));
    chat.setToken('fresh');
    expect(server.socket.auth).toEqual({ token: 'fresh' });
    expect(server.socket.connectCalls).toBe(1);
  });

  test('on returns the function that stops listening; close disconnects', () => {
    const seen = vi.fn();
    const off = chat.on('user_online', seen);
    server.socket.fire('user_online', { userId: 'v-1' });
    off();
    server.socket.fire('user_online', { userId: 'v-2' });
    expect(seen).toHaveBeenCalledTimes(1);
    chat.close();
    expect(server.socket.disconnectCalls).toBe(1);
  });
});
