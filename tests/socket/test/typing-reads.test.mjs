// Typing indicators and read receipts.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, pair, recorder, sleep, startServer } from './helpers.mjs';

describe('typing', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  it('tells the room but not the typist, on start and on stop', async () => {
    const { customer, vendor, conversationId } = await pair(server);
    const cs = await server.connect(customer.token);
    const cs2 = await server.connect(customer.token); // the typist's other tab
    const vs = await server.connect(vendor.token);
    for (const s of [cs, cs2, vs]) await call(s, 'join_chat_room', { conversationId });
    const typing = recorder(vs, 'user_typing');
    const stopped = recorder(vs, 'user_stopped_typing');
    const tabsHeard = [];
    for (const s of [cs, cs2]) s.onAny((event, payload) => tabsHeard.push([event, payload.userId]));

    assert.deepEqual(await call(cs, 'typing_start', { conversationId }), { ok: true });
    assert.deepEqual(await typing.next(), { conversationId, userId: customer.id });
    assert.deepEqual(await call(cs, 'typing_stop', { conversationId }), { ok: true });
    assert.deepEqual(await stopped.next(), { conversationId, userId: customer.id });

    // The vendor types back: the customer's tabs hear it.
    const cTyping = recorder(cs2, 'user_typing');
    await call(vs, 'typing_start', { conversationId });
    assert.deepEqual(await cTyping.next(), { conversationId, userId: vendor.id });
    await call(vs, 'typing_stop', { conversationId });
    await sleep(200);
    // Each customer tab heard the vendor start and stop, never its own typing.
    const sorted = (xs) => xs.map((x) => x.join(' ')).sort();
    assert.deepEqual(
      sorted(tabsHeard),
      sorted([
        ['user_typing', vendor.id],
        ['user_typing', vendor.id],
        ['user_stopped_typing', vendor.id],
        ['user_stopped_typing', vendor.id],
      ]),
    );
    assert.equal(typing.seen.length, 1, 'the vendor never hears its own typing');
  });

  it('stops by itself 5 s after the last typing_start', async () => {
    const { customer, vendor, conversationId } = await pair(server);
    const cs = await server.connect(customer.token);
    const vs = await server.connect(vendor.token);
    await call(vs, 'join_chat_room', { conversationId });
    const typing = recorder(vs, 'user_typing');
    const stopped = recorder(vs, 'user_stopped_typing');
    const started = Date.now();
    await call(cs, 'typing_start', { conversationId });
    await typing.next();
    const stop = await stopped.next(() => true, 9_000);
    const elapsed = Date.now() - started;
    assert.deepEqual(stop, { conversationId, userId: customer.id });
    assert.ok(elapsed >= 4_500 && elapsed < 8_000, `stopped after ${elapsed} ms`);
  });
});

describe('read receipts', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  it('relays message_read and all_messages_read, and unread_count to every tab of the reader', async () => {
    const { customer, vendor, conversationId } = await pair(server);
    const cs = await server.connect(customer.token);
    const vTab1 = await server.connect(vendor.token);
    const vTab2 = await server.connect(vendor.token); // not in the room
    await call(vTab1, 'join_chat_room', { conversationId });
    const sent = [];
    for (const text of ['one', 'two', 'three']) {
      sent.push((await call(cs, 'send_message', { conversationId, text })).message);
    }
    // The customer hears reads through its personal room (it is in no room).
    const cRead = recorder(cs, 'message_read');
    const cAll = recorder(cs, 'all_messages_read');
    const room = recorder(vTab1, 'message_read');
    const counts = [recorder(vTab1, 'unread_count'), recorder(vTab2, 'unread_count')];

    const ack = await call(vTab1, 'mark_read', { conversationId, messageId: sent[1].id });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(ack.unreadCount, 1);
    assert.equal(ack.conversationId, conversationId);
    assert.equal(ack.messageId, sent[1].id);
    const receipt = await cRead.next();
    assert.deepEqual(Object.keys(receipt).sort(), ['conversationId', 'messageId', 'readAt', 'readerId']);
    assert.equal(receipt.conversationId, conversationId);
    assert.equal(receipt.messageId, sent[1].id);
    assert.equal(receipt.readerId, vendor.id);
    assert.match(receipt.readAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(await room.next(), receipt, 'the room hears it too');
    for (const c of counts) {
      assert.deepEqual(await c.next(), { conversationId, unreadCount: 1, totalUnread: 1 });
    }
    const unread = await server.rest(vendor.token, 'GET', '/api/vendor/chat/unread');
    assert.deepEqual(unread.body, { total: 1, conversations: { [conversationId]: 1 } });
    const history = await server.rest(customer.token, 'GET', `/api/chat/${conversationId}/messages`);
    assert.deepEqual(
      history.body.messages.map((m) => m.readAt !== null),
      [true, true, false],
    );

    const all = await call(vTab2, 'mark_read', { conversationId });
    assert.equal(all.ok, true);
    assert.equal(all.unreadCount, 0);
    const allRead = await cAll.next();
    assert.deepEqual(Object.keys(allRead).sort(), ['conversationId', 'readAt', 'readerId']);
    assert.equal(allRead.readerId, vendor.id);
    for (const c of counts) {
      assert.deepEqual(await c.next(), { conversationId, unreadCount: 0, totalUnread: 0 });
    }
    const after = await server.rest(vendor.token, 'GET', '/api/vendor/chat/unread');
    assert.deepEqual(after.body, { total: 0, conversations: {} });
    await sleep(200);
    assert.equal(cRead.seen.length, 1, 'a read of everything is not also a message_read');
  });
});
