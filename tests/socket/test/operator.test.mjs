// Operators and the Socket.IO edge: an operator's token (`souk token --role
// operator`) is refused at the handshake with a connect_error saying why,
// and an operator's read, recorded in the conversation's log, is relayed to
// no socket while the events around it are, live and on a rejoin.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io } from 'socket.io-client';
import { call, pair, recorder, startServer, uid } from './helpers.mjs';

const REFUSAL = 'forbidden: operators read conversations under /api/operator and never write';

describe('operators', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  /** Connects with `token`; resolves with the connect_error, failing on connect. */
  function refusal(token) {
    return new Promise((resolve, reject) => {
      const socket = io(server.socketUrl, {
        auth: { token },
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
      });
      const received = [];
      socket.onAny((event) => received.push(event));
      socket.on('connect', () => {
        socket.close();
        reject(new Error('an operator connected'));
      });
      socket.on('connect_error', (err) => {
        socket.close();
        resolve({ message: err.message, received, active: socket.active });
      });
    });
  }

  it('refuses an operator token at the handshake, saying why', async () => {
    const token = server.token(uid('o'), 'operator', 'Sam Reyes, support');
    for (let i = 0; i < 2; i++) {
      const r = await refusal(token);
      assert.equal(r.message, REFUSAL);
      assert.deepEqual(r.received, []);
      assert.equal(r.active, false, 'a refused handshake is final');
    }
    // The same token is an operator's on REST: it reads under /api/operator
    // and is refused on the chat routes.
    const { conversationId } = await pair(server);
    const chat = await server.rest(token, 'POST', '/api/chat/send', { conversationId, text: 'hi' });
    assert.equal(chat.status, 403);
    assert.equal(chat.body.error.code, 'forbidden');
    const read = await server.rest(token, 'GET', `/api/operator/conversations/${conversationId}?reason=ticket%201`);
    assert.equal(read.status, 200, JSON.stringify(read.body));
  });

  it('relays nothing for a support access, and everything around it, live and on a rejoin', async () => {
    const { customer, vendor, conversationId } = await pair(server);
    const operator = server.token(uid('o'), 'operator', 'Sam');
    const vs = await server.connect(vendor.token);
    const all = [];
    vs.onAny((event, payload) => all.push({ event, payload }));
    const room = recorder(vs, 'receive_message');
    assert.equal((await call(vs, 'join_chat_room', { conversationId })).ok, true);
    const cs = await server.connect(customer.token);
    await call(cs, 'join_chat_room', { conversationId });

    await call(cs, 'send_message', { conversationId, text: 'before' });
    await room.count(1);
    const access = await server.rest(operator, 'GET', `/api/operator/conversations/${conversationId}/events?reason=fraud%20check`);
    assert.equal(access.status, 200);
    assert.equal(access.body.events.at(-1).type, 'SupportAccessed');
    await call(cs, 'send_message', { conversationId, text: 'after' });
    await room.count(2);
    // Events are relayed in log order: anything relayed for the access
    // would have arrived before "after".
    assert.deepEqual(room.seen.map((m) => m.text), ['before', 'after']);
    // (Presence aside: the customer came online.)
    const chat = all.map((e) => e.event).filter((e) => !e.startsWith('user_o'));
    assert.deepEqual([...new Set(chat)].sort(), ['new_chat_message', 'receive_message']);
    assert.equal(chat.length, 4, JSON.stringify(all));
    assert.ok(!JSON.stringify(all).includes('fraud check'));

    // A rejoin replays the messages (seq 1 and 2), not the access.
    const again = await server.connect(vendor.token);
    const replay = recorder(again, 'receive_message');
    const ack = await call(again, 'join_chat_room', { conversationId, sinceSeq: 0 });
    assert.deepEqual(ack, { ok: true, conversationId, replayed: 2 });
    assert.deepEqual(replay.seen.map((m) => [m.seq, m.text]), [[1, 'before'], [2, 'after']]);

    // The participants see the access in the log.
    const log = await server.rest(customer.token, 'GET', `/api/chat/${conversationId}/events`);
    const accesses = log.body.events.filter((e) => e.type === 'SupportAccessed');
    assert.equal(accesses.length, 1);
    assert.equal(accesses[0].data.reason, 'fraud check');
    assert.equal(accesses[0].data.view, 'events');
  });
});
