// The durable reference must do what the benchmark exercises, the way
// docs/api.md says, and keep every message in PostgreSQL: a baseline that cut
// corners would make the comparison meaningless.
// Run: DATABASE_URL=postgres://... npm test (from bench/reference-pg); the
// test gives its server a schema of its own. Without DATABASE_URL (or
// SOUK_TEST_PG_URL) the tests are skipped, and say so.

'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');
const jwt = require('jsonwebtoken');
const pg = require('pg');
const { io } = require('socket.io-client');

const SECRET = 'reference-pg-test-secret-0123456789';
const URL = process.env.DATABASE_URL || process.env.SOUK_TEST_PG_URL;
const SCHEMA = `test_${process.pid}_${Date.now()}`;
const skip = URL ? false : 'set DATABASE_URL or SOUK_TEST_PG_URL (scripts/pg.sh start DIR)';
let server;
let base;
let db;

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
  if (skip) return;
  server = spawn(process.execPath, [path.join(__dirname, '..', 'server.js'), '--http-addr', '127.0.0.1:0', '--schema', SCHEMA], {
    env: { ...process.env, JWT_SECRET: SECRET, DATABASE_URL: URL },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise((resolve) => readline.createInterface({ input: server.stdout }).once('line', resolve));
  const listening = JSON.parse(line);
  assert.equal(listening.event, 'listening');
  base = `http://${listening.http}`;
  db = new pg.Client({ connectionString: URL });
  await db.connect();
});

after(async () => {
  if (skip) return;
  server.kill();
  await db.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await db.end();
});

test('tokens are verified on REST and on the handshake', { skip }, async () => {
  assert.equal((await call('GET', '/api/chat/unread')).status, 401);
  const forged = jwt.sign({ sub: 'c-1', role: 'customer', exp: Math.floor(Date.now() / 1000) + 60 }, 'another-secret-0123456');
  assert.equal((await call('GET', '/api/chat/unread', forged)).status, 401);
  const expired = token('c-1', 'customer', { exp: Math.floor(Date.now() / 1000) - 10 });
  assert.equal((await call('GET', '/api/chat/unread', expired)).status, 401);
  assert.equal((await call('GET', '/api/chat/unread', token('v-1', 'vendor'))).status, 403);
  await assert.rejects(connect(forged), /unauthorized/);
});

test('a send is committed with its conversation and unread counter, then emitted', { skip }, async () => {
  const c = token('c-2', 'customer');
  const v = token('v-2', 'vendor');
  const opened = await call('POST', '/api/chat/conversation', c, { vendorId: 'v-2', vendorName: 'Bolt' });
  assert.equal(opened.status, 201);
  const id = opened.body.id;
  assert.equal((await call('POST', '/api/chat/conversation', c, { vendorId: 'v-2' })).status, 200);
  assert.equal((await call('POST', '/api/vendor/chat/conversation', v, { customerId: 'c-2' })).body.id, id);

  const cs = await connect(c);
  const vs = await connect(v);
  assert.deepEqual(await vs.emitWithAck('join_chat_room', { conversationId: id }), { ok: true, conversationId: id, replayed: 0 });
  await cs.emitWithAck('join_chat_room', { conversationId: id });

  const received = next(vs, 'receive_message');
  const notified = next(vs, 'new_chat_message');
  const ack = await cs.emitWithAck('send_message', { conversationId: id, text: ' hi ', clientMessageId: 't-1' });
  assert.equal(ack.ok, true);
  assert.equal(ack.duplicate, false);
  assert.equal(ack.message.seq, 1);
  assert.equal(ack.message.text, 'hi');
  assert.match(ack.message.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
  assert.deepEqual(await received, ack.message);
  const n = await notified;
  assert.deepEqual([n.unreadCount, n.totalUnread], [1, 1]);

  // In the database: the message, and the conversation's seq and counter.
  const row = (await db.query(`SELECT * FROM ${SCHEMA}.messages WHERE id = $1`, [ack.message.id])).rows[0];
  assert.equal(row.text, 'hi');
  assert.equal(row.sent_at.toISOString(), ack.message.sentAt);
  const conv = (await db.query(`SELECT last_seq, vendor_unread, customer_unread FROM ${SCHEMA}.conversations WHERE id = $1`, [id])).rows[0];
  assert.deepEqual(conv, { last_seq: 1, vendor_unread: 1, customer_unread: 0 });

  // A retry with the same clientMessageId records nothing new.
  const again = await cs.emitWithAck('send_message', { conversationId: id, text: 'hi', clientMessageId: 't-1' });
  assert.equal(again.duplicate, true);
  assert.equal(again.message.id, ack.message.id);
  const second = await call('POST', '/api/chat/send', c, { conversationId: id, text: 'there' });
  assert.equal(second.status, 201);
  assert.equal(second.body.message.seq, 2);
  assert.deepEqual((await call('GET', '/api/vendor/chat/unread', v)).body, { total: 2, conversations: { [id]: 2 } });

  // The recipient's total counts their other conversations too.
  const other = token('c-5', 'customer');
  const id2 = (await call('POST', '/api/chat/conversation', other, { vendorId: 'v-2' })).body.id;
  const notified2 = next(vs, 'new_chat_message');
  await call('POST', '/api/chat/send', other, { conversationId: id2, text: 'me too' });
  const n2 = await notified2;
  assert.deepEqual([n2.conversationId, n2.unreadCount, n2.totalUnread], [id2, 1, 3]);

  // History and a rejoin with sinceSeq come from the database.
  const page = await call('GET', `/api/vendor/chat/${id}/messages?limit=1`, v);
  assert.deepEqual(
    [page.body.messages.map((m) => m.seq), page.body.hasMore],
    [[2], true],
  );
  const replay = [];
  vs.on('receive_message', (m) => replay.push(m.seq));
  const rejoined = await vs.emitWithAck('join_chat_room', { conversationId: id, sinceSeq: 0 });
  assert.equal(rejoined.replayed, 2);
  assert.deepEqual(replay, [1, 2]);

  // Reads: the counter goes back to zero, the sender hears of it.
  const heard = next(cs, 'all_messages_read');
  const marked = await vs.emitWithAck('mark_read', { conversationId: id });
  assert.equal(marked.ok, true);
  assert.equal(marked.unreadCount, 0);
  assert.equal((await heard).readerId, 'v-2');
  assert.deepEqual((await call('GET', '/api/vendor/chat/unread', v)).body, { total: 1, conversations: { [id2]: 1 } });
  cs.close();
  vs.close();
});

test('strangers and bad input get the right errors and change nothing', { skip }, async () => {
  const c = token('c-3', 'customer');
  const id = (await call('POST', '/api/chat/conversation', c, { vendorId: 'v-3' })).body.id;
  const stranger = token('c-4', 'customer');
  const s = await call('POST', '/api/chat/send', stranger, { conversationId: id, text: 'hello' });
  assert.equal(s.status, 404);
  assert.equal(s.body.error.code, 'not_found');
  assert.equal((await call('POST', '/api/chat/send', c, { conversationId: id, text: '   ' })).status, 400);
  assert.equal((await call('POST', '/api/chat/send', c, { conversationId: id, text: 'x'.repeat(4001) })).status, 400);
  assert.equal((await call('POST', '/api/chat/send', c, { conversationId: 'nope', text: 'x' })).status, 400);
  assert.equal((await call('POST', '/api/chat/send', c, { conversationId: id, text: 'x'.repeat(70000) })).status, 413);
  const ss = await connect(stranger);
  const refused = await ss.emitWithAck('join_chat_room', { conversationId: id });
  assert.deepEqual([refused.ok, refused.error.code], [false, 'not_found']);
  ss.close();
  const conv = (await db.query(`SELECT last_seq, vendor_unread FROM ${SCHEMA}.conversations WHERE id = $1`, [id])).rows[0];
  assert.deepEqual(conv, { last_seq: 0, vendor_unread: 0 });
  assert.equal((await db.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.messages WHERE conversation_id = $1`, [id])).rows[0].n, 0);
});
