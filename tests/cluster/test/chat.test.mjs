// A customer on node A and a vendor on node B, as a load balancer would
// spread them: everything one does reaches the other through the shared log
// (messages, typing, read receipts, unread badges) or through the shared
// presence table (online, offline).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import {
  call,
  dropDatabase,
  eventually,
  freshDatabase,
  history,
  pair,
  recorder,
  sleep,
  startCluster,
  testPgUrl,
  uid,
} from './helpers.mjs';

describe('a customer on node A and a vendor on node B', () => {
  let cluster;
  let db;
  let A;
  let B;
  let C;
  before(async () => {
    db = freshDatabase(testPgUrl(), 'chat');
    cluster = await startCluster({ logUrl: db.url });
    [A, B, C] = cluster.nodes;
  });
  after(async () => {
    await cluster?.destroy();
    if (db) dropDatabase(testPgUrl(), db.name);
  });

  it('reports healthy on every node', async () => {
    for (const node of cluster.nodes) {
      const res = await node.rest(null, 'GET', '/healthz');
      assert.equal(res.status, 200, `node ${node.name}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.status, 'ok');
    }
  });

  it('lets a conversation opened through A be joined and written at once through B and C', async () => {
    // A front end behind a load balancer opens the conversation over REST
    // (reaching A) and joins its room over the socket (reaching another
    // node) right away; the vendor answers through a third.
    const { customer, vendor, conversationId } = await pair(cluster, A, {}, { settle: false });
    const cs = await C.connect(customer.token);
    const vs = await B.connect(vendor.token);
    const [cJoin, vJoin] = await Promise.all([
      call(cs, 'join_chat_room', { conversationId }),
      call(vs, 'join_chat_room', { conversationId }),
    ]);
    assert.deepEqual(cJoin, { ok: true, conversationId, replayed: 0 }, 'the customer joins on C');
    assert.deepEqual(vJoin, { ok: true, conversationId, replayed: 0 }, 'the vendor joins on B');
    const room = recorder(cs, 'receive_message');
    const sent = await B.rest(vendor.token, 'POST', '/api/vendor/chat/send', { conversationId, text: 'Welcome!' });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    assert.deepEqual(await room.next(), sent.body.message);
  });

  it('delivers live messages both ways, over the socket and over REST, with the unread figures', async () => {
    const { customer, vendor, conversationId } = await pair(cluster, A);
    const cs = await A.connect(customer.token);
    const vs = await B.connect(vendor.token);
    for (const s of [cs, vs]) assert.equal((await call(s, 'join_chat_room', { conversationId })).ok, true);
    const vendorRoom = recorder(vs, 'receive_message');
    const vendorPersonal = recorder(vs, 'new_chat_message');
    const customerRoom = recorder(cs, 'receive_message');

    // Socket on A to the vendor on B.
    const ack = await call(cs, 'send_message', { conversationId, text: 'Is it still available?', clientMessageId: 'a-1' });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(ack.message.seq, 1);
    const heard = await vendorRoom.next();
    assert.deepEqual(heard, ack.message, 'node B relays the very message node A acknowledged');
    const note = await vendorPersonal.next();
    assert.equal(note.conversationId, conversationId);
    assert.deepEqual(note.message, ack.message);
    assert.equal(note.unreadCount, 1);
    assert.equal(note.totalUnread, 1);
    // The badge agrees with node B's REST right after the event.
    const unreadB = await B.rest(vendor.token, 'GET', '/api/vendor/chat/unread');
    assert.deepEqual(unreadB.body, { total: 1, conversations: { [conversationId]: 1 } });

    // REST on B to the customer on A.
    const sent = await B.rest(vendor.token, 'POST', '/api/vendor/chat/send', { conversationId, text: 'Yes, come by.' });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    assert.equal(sent.body.message.seq, 2);
    const back = await customerRoom.next((m) => m.seq === 2);
    assert.deepEqual(back, sent.body.message);

    // Both nodes (and the third) have the same history.
    const expected = [ack.message, sent.body.message];
    for (const node of cluster.nodes) {
      await eventually(
        async () => isDeepStrictEqual(await history(node, customer.token, conversationId), expected),
        { what: `node ${node.name}'s history to hold both messages` },
      );
    }
    // And the conversation lists agree on what each side last saw.
    const listA = await A.rest(customer.token, 'GET', '/api/chat/conversations');
    assert.equal(listA.body.conversations[0].lastMessage.seq, 2);
    const listB = await B.rest(vendor.token, 'GET', '/api/vendor/chat/conversations');
    assert.equal(listB.body.conversations[0].lastMessage.seq, 2);
    assert.equal(listB.body.conversations[0].unreadCount, 1);
  });

  it('relays typing across nodes, to the room but not the typist', async () => {
    const { customer, vendor, conversationId } = await pair(cluster, A);
    const cs = await A.connect(customer.token);
    const cs2 = await C.connect(customer.token); // the typist's tab on a third node
    const vs = await B.connect(vendor.token);
    for (const s of [cs, cs2, vs]) assert.equal((await call(s, 'join_chat_room', { conversationId })).ok, true);
    const typing = recorder(vs, 'user_typing');
    const stopped = recorder(vs, 'user_stopped_typing');
    const typistHeard = [];
    for (const s of [cs, cs2]) s.on('user_typing', (p) => typistHeard.push(p.userId));

    assert.deepEqual(await call(cs, 'typing_start', { conversationId }), { ok: true });
    assert.deepEqual(await typing.next(), { conversationId, userId: customer.id });
    assert.deepEqual(await call(cs, 'typing_stop', { conversationId }), { ok: true });
    assert.deepEqual(await stopped.next(), { conversationId, userId: customer.id });

    // The vendor types back: both customer tabs, on A and on C, hear it.
    const cTyping = recorder(cs, 'user_typing');
    const c2Typing = recorder(cs2, 'user_typing');
    await call(vs, 'typing_start', { conversationId });
    assert.deepEqual(await cTyping.next(), { conversationId, userId: vendor.id });
    assert.deepEqual(await c2Typing.next(), { conversationId, userId: vendor.id });
    await call(vs, 'typing_stop', { conversationId });
    assert.ok(typistHeard.every((u) => u === vendor.id), `the customer heard its own typing: ${typistHeard}`);
    assert.equal(typing.seen.length, 1, 'the vendor never hears its own typing');
  });

  it('relays read receipts and unread badges across nodes', async () => {
    const { customer, vendor, conversationId } = await pair(cluster, A);
    const cs = await A.connect(customer.token);
    const vs = await B.connect(vendor.token);
    const vsOtherTab = await C.connect(vendor.token);
    for (const s of [cs, vs]) await call(s, 'join_chat_room', { conversationId });
    const vendorNotes = recorder(vs, 'new_chat_message');
    const sentAcks = [];
    for (let i = 1; i <= 3; i++) {
      const a = await call(cs, 'send_message', { conversationId, text: `question ${i}` });
      assert.equal(a.ok, true, JSON.stringify(a));
      sentAcks.push(a.message);
    }
    const notes = await vendorNotes.count(3);
    assert.deepEqual(notes.map((n) => n.unreadCount), [1, 2, 3]);

    const customerRead = recorder(cs, 'message_read');
    const customerAllRead = recorder(cs, 'all_messages_read');
    const badgeB = recorder(vs, 'unread_count');
    const badgeC = recorder(vsOtherTab, 'unread_count');

    // The vendor on B reads up to the second message.
    const read = await call(vs, 'mark_read', { conversationId, messageId: sentAcks[1].id });
    assert.equal(read.ok, true, JSON.stringify(read));
    assert.equal(read.unreadCount, 1);
    const receipt = await customerRead.next();
    assert.equal(receipt.conversationId, conversationId);
    assert.equal(receipt.messageId, sentAcks[1].id);
    assert.equal(receipt.readerId, vendor.id);
    assert.match(receipt.readAt, /^\d{4}-\d\d-\d\dT/);
    for (const badge of [badgeB, badgeC]) {
      assert.deepEqual(await badge.next(), { conversationId, unreadCount: 1, totalUnread: 1 });
    }

    // Then everything, over REST on C.
    const all = await C.rest(vendor.token, 'PUT', `/api/vendor/chat/${conversationId}/read`);
    assert.equal(all.status, 200, JSON.stringify(all.body));
    const allRead = await customerAllRead.next();
    assert.equal(allRead.readerId, vendor.id);
    for (const badge of [badgeB, badgeC]) {
      assert.deepEqual(await badge.next(), { conversationId, unreadCount: 0, totalUnread: 0 });
    }
    const unreadB = await B.rest(vendor.token, 'GET', '/api/vendor/chat/unread');
    assert.deepEqual(unreadB.body, { total: 0, conversations: {} });

    // The customer's history on A shows the receipts.
    await eventually(
      async () => (await history(A, customer.token, conversationId)).every((m) => m.readAt !== null),
      { what: "node A's history to show every message read" },
    );
  });

  it('keeps a long-polling session on the node that opened it (why a load balancer needs sticky sessions for it)', async () => {
    const { customer, vendor, conversationId } = await pair(cluster, A);
    // A polling client pinned to B (as sticky sessions pin it) hears a
    // message sent through A.
    const polling = await B.connect(customer.token, { transports: ['polling'] });
    assert.equal(polling.io.engine.transport.name, 'polling');
    assert.equal((await call(polling, 'join_chat_room', { conversationId })).ok, true);
    const room = recorder(polling, 'receive_message');
    const sent = await A.rest(vendor.token, 'POST', '/api/vendor/chat/send', { conversationId, text: 'over polling' });
    assert.equal(sent.status, 201);
    assert.deepEqual(await room.next(), sent.body.message);

    // The same session's next poll sent to another node is refused: the
    // session exists only where it was opened.
    const handshake = await fetch(`${A.socketUrl}/socket.io/?EIO=4&transport=polling`);
    const text = await handshake.text();
    assert.equal(handshake.status, 200, text);
    const { sid } = JSON.parse(text.slice(text.indexOf('{')));
    const onA = await fetch(`${A.socketUrl}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '40' });
    assert.equal(onA.status, 200, await onA.text());
    const elsewhere = await fetch(`${C.socketUrl}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
    const refusal = await elsewhere.text();
    assert.equal(elsewhere.status, 400, refusal);
  });

  it('shows presence across nodes: online with the first tab anywhere, offline after the last', async () => {
    const { customer, vendor, conversationId } = await pair(cluster, A);
    const vs = await B.connect(vendor.token);
    const online = recorder(vs, 'user_online');
    const offline = recorder(vs, 'user_offline');
    const stranger = await C.connect(cluster.token(uid('v'), 'vendor', 'Stranger'));
    const strangerHeard = [];
    stranger.onAny((event) => strangerHeard.push(event));

    const tabA = await A.connect(customer.token);
    assert.deepEqual(await online.next((p) => p.userId === customer.id), { userId: customer.id });
    const listed = await B.rest(vendor.token, 'GET', '/api/vendor/chat/conversations');
    const conv = listed.body.conversations.find((c) => c.id === conversationId);
    assert.equal(conv.customer.online, true, JSON.stringify(conv));

    // A second tab on another node is not news; closing the first is not
    // the end.
    const tabC = await C.connect(customer.token);
    tabA.disconnect();
    // The vendor still gets the conversation's messages meanwhile: proof
    // that B is relaying while no offline arrives.
    await call(vs, 'join_chat_room', { conversationId });
    const room = recorder(vs, 'receive_message');
    assert.equal((await call(tabC, 'send_message', { conversationId, text: 'still here' })).ok, true);
    await room.next();
    const confirmed = await eventually(
      async () => {
        const l = await B.rest(vendor.token, 'GET', '/api/vendor/chat/conversations');
        return l.body.conversations.find((c) => c.id === conversationId);
      },
      { what: 'the conversation on B' },
    );
    assert.equal(confirmed.customer.online, true, 'online on C');
    assert.equal(offline.seen.filter((p) => p.userId === customer.id).length, 0, 'still online on C');
    assert.equal(online.seen.filter((p) => p.userId === customer.id).length, 1, 'a second tab is not news');

    const closedAt = Date.now();
    tabC.disconnect();
    const gone = await offline.next((p) => p.userId === customer.id);
    assert.match(gone.lastSeenAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Math.abs(Date.parse(gone.lastSeenAt) - closedAt) < 5_000, `${gone.lastSeenAt} vs ${new Date(closedAt).toISOString()}`);
    await eventually(
      async () => {
        const l = await B.rest(vendor.token, 'GET', '/api/vendor/chat/conversations');
        const c = l.body.conversations.find((x) => x.id === conversationId);
        return c.customer.online === false && c.customer.lastSeenAt === gone.lastSeenAt;
      },
      { what: 'node B to list the customer offline with the lastSeenAt it announced' },
    );

    // And back, on yet another node.
    await B.connect(customer.token);
    assert.deepEqual(await online.next((p) => p.userId === customer.id), { userId: customer.id });
    // The vendor's own presence reaches the customer on A the same way.
    const watcher = await A.connect(customer.token);
    const vendorOnline = recorder(watcher, 'user_online');
    const vendorOffline = recorder(watcher, 'user_offline');
    const vs2 = await C.connect(vendor.token);
    vs.disconnect();
    vs2.disconnect();
    const vendorGone = await vendorOffline.next((p) => p.userId === vendor.id);
    assert.equal(vendorGone.userId, vendor.id);
    assert.equal(vendorOnline.seen.filter((p) => p.userId === vendor.id).length, 0, 'the vendor was already online');
    await sleep(100);
    assert.deepEqual(
      strangerHeard.filter((e) => e === 'user_online' || e === 'user_offline'),
      [],
      'no shared conversation, no presence',
    );
  });
});
