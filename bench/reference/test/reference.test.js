// The reference must implement what the benchmark exercises, the way docs/api.md
// says: a baseline that cut corners would make the comparison meaningless.
// Run: npm test (from bench/reference).

'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');
const jwt = require('jsonwebtoken');
const { io } = require('socket.io-client');

const SECRET = 'reference-test-secret-0123456789';
let server;
let base;

function token(sub, role, extra = {}) {
  return jwt.sign({ sub, role, name: sub, exp: Math.floor(Date.now() / 1000) + 600, ...extra }, SECRET);
}

async function call(method, url, tok, body) {
  const res = await fetch(base + url, {
    method,
    headers: {
      ...(tok ? { authorization: `Bearer ${tok}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

function connect(tok) {
  return new Promise((resolve, reject) => {
    const s = io(base, { auth: { token: tok }, transports: ['websocket'], reconnection: false });
    s.once('connect', () => resolve(s));
    s.once('connect_error', (e) => {
      s.close();
      reject(e);
    });
  });
}

function next(socket, event) {
  return new Promise((resolve) => socket.once(event, resolve));
}

before(async () => {
  server = spawn(process.execPath, [path.join(__dirname, '..', 'server.js'), '--http-addr', '127.0.0.1:0'], {
    env: { ...process.env, JWT_SECRET: SECRET },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise((resolve) => readline.createInterface({ input: server.stdout }).once('line', resolve));
  const listening = JSON.parse(line);
  assert.equal(listening.event, 'listening');
  assert.equal(listening.http, listening.socket);
  base = `http://${listening.http}`;
});

after(() => server.kill());

test('tokens are verified on REST and on the handshake', async () => {
  assert.equal((await call('GET', '/api/chat/unread')).status, 401);
  const forged = jwt.sign({ sub: 'c-1', role: 'customer', exp: Math.floor(Date.now() / 1000) + 60 }, 'another-secret-0123456');
  assert.equal((await call('GET', '/api/chat/unread', forged)).status, 401);
  const expired = token('c-1', 'customer', { exp: Math.floor(Date.now() / 1000) - 10 });
  assert.equal((await call('GET', '/api/chat/unread', expired)).status, 401);
  assert.equal((await call('GET', '/api/chat/unread', token('v-1', 'vendor'))).status, 403);
  await assert.rejects(connect(forged), /unauthorized/);
});

test('one conversation per pair; sends reach the room and the recipient, with unread counts', async () => {
  const c = token('c-2', 'customer');
  const v = token('v-2', 'vendor');
  const opened = await call('POST', '/api/chat/conversation', c, { vendorId: 'v-2', vendorName: 'Bolt' });
  assert.equal(opened.status, 201);
  assert.equal((await call('POST', '/api/chat/conversation', c, { vendorId: 'v-2' })).status, 200);
  const id = opened.body.id;
  assert.equal((await call('POST', '/api/vendor/chat/conversation', v, { customerId: 'c-2' })).body.id, id);

  const cs = await connect(c);
  const vs = await connect(v);
  const joined = await vs.emitWithAck('join_chat_room', { conversationId: id });
  assert.deepEqual(joined, { ok: true, conversationId: id, replayed: 0 });
  await cs.emitWithAck('join_chat_room', { conversationId: id });

  const received = next(vs, 'receive_message');
  const notified = next(vs, 'new_chat_message');
  const ack = await cs.emitWithAck('send_message', { conversationId: id, text: ' hi ', clientMessageId: 't-1' });
  assert.equal(ack.ok, true);
  assert.equal(ack.message.seq, 1);
  assert.equal(ack.message.text, 'hi');
  assert.match(ack.message.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
  assert.deepEqual(await received, ack.message);
  const n = await notified;
  assert.equal(n.unreadCount, 1);
  assert.equal(n.totalUnread, 1);

  // A retry with the same clientMessageId records nothing new.
  const again = await call('POST', '/api/chat/send', c, { conversationId: id, text: 'hi', clientMessageId: 't-1' });
  assert.equal(again.status, 200);
  assert.equal(again.body.message.id, ack.message.id);
  const second = await call('POST', '/api/chat/send', c, { conversationId: id, text: 'there' });
  assert.equal(second.status, 201);
  assert.equal(second.body.message.seq, 2);
  assert.deepEqual((await call('GET', '/api/vendor/chat/unread', v)).body, { total: 2, conversations: { [id]: 2 } });

  // Reads: up to a message, then all; the sender hears of them.
  const heard = next(cs, 'message_read');
  const read = await call('PUT', `/api/vendor/chat/message/${ack.message.id}/read`, v);
  assert.equal(read.status, 200);
  assert.equal(read.body.unreadCount, 1);
  assert.equal((await heard).messageId, ack.message.id);
  const marked = await vs.emitWithAck('mark_read', { conversationId: id });
  assert.deepEqual(marked, { ok: true, unreadCount: 0 });
  const page = await call('GET', `/api/vendor/chat/${id}/messages?limit=1`, v);
  assert.equal(page.body.messages.length, 1);
  assert.equal(page.body.hasMore, true);
  assert.notEqual(page.body.messages[0].readAt, null);

  // A rejoin with sinceSeq replays what came after, in order.
  const replay = [];
  vs.on('receive_message', (m) => replay.push(m.seq));
  const rejoined = await vs.emitWithAck('join_chat_room', { conversationId: id, sinceSeq: 0 });
  assert.equal(rejoined.replayed, 2);
  assert.deepEqual(replay, [1, 2]);

  // Typing reaches the other side only.
  const typing = next(vs, 'user_typing');
  await cs.emitWithAck('typing_start', { conversationId: id });
  assert.deepEqual(await typing, { conversationId: id, userId: 'c-2' });
  cs.close();
  vs.close();
});

test('strangers and bad input get the right errors', async () => {
  const c = token('c-3', 'customer');
  const id = (await call('POST', '/api/chat/conversation', c, { vendorId: 'v-3' })).body.id;
  const stranger = token('c-4', 'customer');
  const s = await call('POST', '/api/chat/send', stranger, { conversationId: id, text: 'hello' });
  assert.equal(s.status, 404);
  assert.equal(s.body.error.code, 'not_found');
  assert.equal((await call('POST', '/api/chat/send', c, { conversationId: id, text: '   ' })).status, 400);
  assert.equal((await call('POST', '/api/chat/send', c, { conversationId: id, text: 'x'.repeat(4001) })).status, 400);
  assert.equal((await call('POST', '/api/chat/send', c, { conversationId: id, text: 'x'.repeat(70000) })).status, 413);
  const ss = await connect(stranger);
  const refused = await ss.emitWithAck('join_chat_room', { conversationId: id });
  assert.equal(refused.ok, false);
  assert.equal(refused.error.code, 'not_found');
  ss.close();
});
