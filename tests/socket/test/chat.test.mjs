// Two users chat over REST and Socket.IO; an outsider hears nothing; bad
// payloads change nothing.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io } from 'socket.io-client';
import { call, pair, recorder, sleep, startServer, uid } from './helpers.mjs';

describe('chat', () => {
  let server;
  before(async () => {
    // One test opens 100 sockets of one user at once: above the default cap.
    server = await startServer(['--max-sockets-per-user', '200']);
  });
  after(async () => {
    await server?.stop();
  });

  it('relays messages sent over the socket and over REST, with the unread figures of REST', async () => {
    const { customer, vendor, conversationId } = await pair(server);
    const cs = await server.connect(customer.token);
    const vs = await server.connect(vendor.token);
    const c = {
      room: recorder(cs, 'receive_message'),
      personal: recorder(cs, 'new_chat_message'),
    };
    const v = {
      room: recorder(vs, 'receive_message'),
      personal: recorder(vs, 'new_chat_message'),
    };
    assert.deepEqual(await call(cs, 'join_chat_room', { conversationId }), {
      ok: true,
      conversationId,
      replayed: 0,
    });
    assert.equal((await call(vs, 'join_chat_room', { conversationId })).ok, true);

    // Customer → vendor, over the socket.
    const sent = await call(cs, 'send_message', {
      conversationId,
      text: '  Is it still available?  ',
      clientMessageId: 'tab1-0001',
    });
    assert.equal(sent.ok, true, JSON.stringify(sent));
    const m1 = sent.message;
    assert.equal(m1.seq, 1);
    assert.equal(m1.text, 'Is it still available?');
    assert.deepEqual(m1.sender, { id: customer.id, role: 'customer' });
    assert.equal(m1.clientMessageId, 'tab1-0001');

    assert.deepEqual(await v.room.next(), m1);
    assert.deepEqual(await c.room.next(), m1, 'the sender is in the room too');
    const n1 = await v.personal.next();
    assert.deepEqual(n1, { conversationId, message: m1, unreadCount: 1, totalUnread: 1 });
    const unreadV = await server.rest(vendor.token, 'GET', '/api/vendor/chat/unread');
    assert.equal(unreadV.status, 200);
    assert.deepEqual(unreadV.body, { total: n1.totalUnread, conversations: { [conversationId]: n1.unreadCount } });

    // A retry with the same clientMessageId is the same message, relayed once.
    const again = await call(cs, 'send_message', { conversationId, text: 'Is it still available?', clientMessageId: 'tab1-0001' });
    assert.equal(again.ok, true);
    assert.equal(again.message.id, m1.id);
    assert.equal(again.duplicate, true);

    // Vendor → customer, over REST.
    const rest = await server.rest(vendor.token, 'POST', '/api/vendor/chat/send', {
      conversationId,
      text: 'Yes, it is!',
    });
    assert.equal(rest.status, 201, JSON.stringify(rest.body));
    const m2 = rest.body.message;
    assert.equal(m2.seq, 2);
    assert.deepEqual(await c.room.next(), m2);
    assert.deepEqual(await v.room.next(), m2);
    const n2 = await c.personal.next();
    assert.deepEqual(n2, { conversationId, message: m2, unreadCount: 1, totalUnread: 1 });
    const unreadC = await server.rest(customer.token, 'GET', '/api/chat/unread');
    assert.deepEqual(unreadC.body, { total: n2.totalUnread, conversations: { [conversationId]: n2.unreadCount } });

    // A product message over the socket.
    const product = { id: 'p-1', name: 'Red bike', priceMinor: 49999, currency: 'EUR' };
    const p = await call(vs, 'send_message', { conversationId, product });
    assert.equal(p.ok, true, JSON.stringify(p));
    assert.equal(p.message.kind, 'product');
    const n3 = await c.personal.next();
    assert.equal(n3.message.seq, 3);
    assert.deepEqual(n3.message.product, { ...product, imageUrl: null, url: null });
    assert.equal(n3.unreadCount, 2);

    await sleep(200);
    // Each message once to each room member, none echoed as new_chat_message
    // to its own sender, nothing twice.
    assert.deepEqual(c.room.seen.map((m) => m.seq), [1, 2, 3]);
    assert.deepEqual(v.room.seen.map((m) => m.seq), [1, 2, 3]);
    assert.deepEqual(c.personal.seen.map((n) => n.message.seq), [2, 3]);
    assert.deepEqual(v.personal.seen.map((n) => n.message.seq), [1]);
  });

  it('tells the recipient of a new message even when not in the room, with totals over all conversations', async () => {
    const vendor = { id: uid('v'), name: 'Shop' };
    vendor.token = server.token(vendor.id, 'vendor', vendor.name);
    const customers = [0, 1].map((i) => {
      const id = uid('c');
      return { id, token: server.token(id, 'customer', `Buyer ${i}`) };
    });
    const ids = [];
    for (const c of customers) {
      const r = await server.rest(c.token, 'POST', '/api/chat/conversation', { vendorId: vendor.id });
      ids.push(r.body.id);
    }
    const vs = await server.connect(vendor.token);
    const personal = recorder(vs, 'new_chat_message');
    const room = recorder(vs, 'receive_message');
    for (const [i, c] of customers.entries()) {
      const cs = await server.connect(c.token);
      assert.equal((await call(cs, 'send_message', { conversationId: ids[i], text: `hello ${i}` })).ok, true);
      assert.equal((await call(cs, 'send_message', { conversationId: ids[i], text: `again ${i}` })).ok, true);
      cs.disconnect();
    }
    const got = await personal.count(4);
    assert.deepEqual(
      got.map((n) => [n.conversationId, n.unreadCount, n.totalUnread]),
      [
        [ids[0], 1, 1],
        [ids[0], 2, 2],
        [ids[1], 1, 3],
        [ids[1], 2, 4],
      ],
    );
    const unread = await server.rest(vendor.token, 'GET', '/api/vendor/chat/unread');
    assert.deepEqual(unread.body, { total: 4, conversations: { [ids[0]]: 2, [ids[1]]: 2 } });
    assert.equal(room.seen.length, 0, 'not in any room: no receive_message');
  });

  it('keeps an outsider out: cannot join, send, read or type, and hears nothing', async () => {
    const { customer, vendor, conversationId } = await pair(server);
    const outsiderId = uid('c');
    const outsider = server.token(outsiderId, 'customer', 'Mallory');
    // A vendor token with the customer's id is not the customer either.
    const impostor = server.token(customer.id, 'vendor', 'Impostor');
    const os = await server.connect(outsider);
    const is = await server.connect(impostor);
    const heard = [];
    for (const s of [os, is]) s.onAny((event, payload) => heard.push([event, payload]));

    for (const s of [os, is]) {
      const joined = await call(s, 'join_chat_room', { conversationId });
      assert.equal(joined.ok, false);
      assert.equal(joined.error.code, 'not_found');
      const unknown = await call(s, 'join_chat_room', { conversationId: '0193f0c2-0000-7000-8000-000000000000' });
      assert.equal(unknown.error.code, 'not_found');
      const sent = await call(s, 'send_message', { conversationId, text: 'let me in' });
      assert.equal(sent.error.code, 'not_found');
      const read = await call(s, 'mark_read', { conversationId });
      assert.equal(read.error.code, 'not_found');
      const typing = await call(s, 'typing_start', { conversationId });
      assert.equal(typing.error.code, 'not_found');
    }

    const cs = await server.connect(customer.token);
    const vs = await server.connect(vendor.token);
    await call(cs, 'join_chat_room', { conversationId });
    await call(vs, 'join_chat_room', { conversationId });
    const vRoom = recorder(vs, 'receive_message');
    await call(cs, 'typing_start', { conversationId });
    const m = await call(cs, 'send_message', { conversationId, text: 'private' });
    await call(vs, 'mark_read', { conversationId, messageId: m.message.id });
    await vRoom.next();
    await sleep(300);
    assert.deepEqual(heard, []);
    const history = await server.rest(customer.token, 'GET', `/api/chat/${conversationId}/messages`);
    assert.deepEqual(history.body.messages.map((x) => x.text), ['private']);
  });

  it('answers bad payloads with invalid_request and records nothing', async () => {
    const { customer, conversationId } = await pair(server);
    const cs = await server.connect(customer.token);
    const bad = [
      ['send_message', { conversationId, text: '   ' }, 'text'],
      ['send_message', { conversationId, text: 'x'.repeat(4001) }, 'text'],
      ['send_message', { conversationId, text: ['hi'] }, 'text'],
      ['send_message', { conversationId }, null],
      ['send_message', { text: 'hi' }, 'conversationId'],
      ['send_message', { conversationId, product: { id: 'p' } }, 'product.name'],
      ['send_message', 'just a string', null],
      ['join_chat_room', { conversationId: 'nope' }, 'conversationId'],
      ['join_chat_room', { conversationId, sinceSeq: -1 }, 'sinceSeq'],
      ['join_chat_room', { conversationId, sinceSeq: 'x' }, 'sinceSeq'],
      ['mark_read', { conversationId, messageId: 'nope' }, 'messageId'],
      ['typing_start', {}, 'conversationId'],
      ['leave_chat_room', null, null],
    ];
    for (const [event, payload, field] of bad) {
      const ack = await call(cs, event, payload);
      assert.equal(ack.ok, false, `${event} ${JSON.stringify(payload)}`);
      assert.equal(ack.error.code, 'invalid_request', `${event} ${JSON.stringify(payload)}`);
      if (field) assert.ok(ack.error.message.startsWith(field), `${ack.error.message} names ${field}`);
    }
    // An event without a payload at all.
    const none = await cs.timeout(10_000).emitWithAck('typing_stop');
    assert.equal(none.error.code, 'invalid_request');
    const history = await server.rest(customer.token, 'GET', `/api/chat/${conversationId}/messages`);
    assert.deepEqual(history.body.messages, []);
    const events = await server.rest(customer.token, 'GET', `/api/chat/${conversationId}/events`);
    assert.deepEqual(events.body.events.map((e) => e.type), ['ConversationStarted']);
    assert.ok(cs.connected, 'bad payloads do not cost the connection');
  });

  it('works over long-polling too', async () => {
    const { customer, vendor, conversationId } = await pair(server);
    const cs = await server.connect(customer.token, { transports: ['polling'] });
    const vs = await server.connect(vendor.token, { transports: ['polling'] });
    await call(vs, 'join_chat_room', { conversationId });
    const room = recorder(vs, 'receive_message');
    const personal = recorder(vs, 'new_chat_message');
    const sent = await call(cs, 'send_message', { conversationId, text: 'over polling' });
    assert.deepEqual(await room.next(), sent.message);
    assert.equal((await personal.next()).unreadCount, 1);
  });

  it('handles events a client emits the moment it connects (or buffers before)', async () => {
    const { customer, vendor, conversationId } = await pair(server);
    const vs = await server.connect(vendor.token);
    const personal = recorder(vs, 'new_chat_message');
    const rounds = 100;
    const acks = await Promise.all(
      Array.from({ length: rounds }, (_, i) => {
        const socket = io(server.socketUrl, {
          auth: { token: customer.token },
          transports: ['websocket'],
          reconnection: false,
          forceNew: true,
        });
        server.sockets.add(socket);
        const ack = (event, payload) =>
          new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no ack for ${event} in round ${i}`)), 10_000);
            socket.emit(event, payload, (reply) => {
              clearTimeout(timer);
              resolve(reply);
            });
          });
        // Emitted before the handshake: the client buffers it and sends it
        // right after the server's CONNECT.
        const buffered = ack('join_chat_room', { conversationId });
        const onConnect = new Promise((resolve) => {
          socket.on('connect', () => resolve(ack('send_message', { conversationId, text: `hello ${i}` })));
        });
        return Promise.all([buffered, onConnect]).finally(() => socket.disconnect());
      }),
    );
    for (const [joined, sent] of acks) {
      assert.deepEqual(joined, { ok: true, conversationId, replayed: 0 });
      assert.equal(sent.ok, true, JSON.stringify(sent));
    }
    await personal.count(rounds);
  });

  it('leaves a room on leave_chat_room', async () => {
    const { customer, vendor, conversationId } = await pair(server);
    const cs = await server.connect(customer.token);
    const vs = await server.connect(vendor.token);
    const room = recorder(vs, 'receive_message');
    await call(vs, 'join_chat_room', { conversationId });
    await call(cs, 'send_message', { conversationId, text: 'one' });
    await room.next();
    assert.deepEqual(await call(vs, 'leave_chat_room', { conversationId }), { ok: true, conversationId });
    const personal = recorder(vs, 'new_chat_message');
    await call(cs, 'send_message', { conversationId, text: 'two' });
    await personal.next();
    await sleep(200);
    assert.deepEqual(room.seen.map((m) => m.text), ['one']);
  });
});
