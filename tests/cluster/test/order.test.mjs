// One conversation written through three nodes at once: its messages get
// seq 1..N with no gap and no repeat, every node and every room member sees
// the same order, and a clientMessageId sent through two nodes at once is
// one message.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  auditEvents,
  call,
  dropDatabase,
  eventually,
  freshDatabase,
  history,
  oneTo,
  pair,
  recorder,
  repeated,
  seqDiff,
  startCluster,
  testPgUrl,
} from './helpers.mjs';

describe('global order across three nodes', () => {
  let cluster;
  let db;
  before(async () => {
    db = freshDatabase(testPgUrl(), 'order');
    cluster = await startCluster({ logUrl: db.url });
  });
  after(async () => {
    await cluster?.destroy();
    if (db) dropDatabase(testPgUrl(), db.name);
  });

  it('gives 60 senders spread over the nodes seq 1..N with no gap or repeat', async () => {
    const { nodes } = cluster;
    const [A] = nodes;
    const { customer, vendor, conversationId } = await pair(cluster, A);
    const PER_SENDER = 5;
    const SENDERS = 60;

    // A reader in the room on every node.
    const readers = [];
    for (const node of nodes) {
      const s = await node.connect(vendor.token);
      assert.equal((await call(s, 'join_chat_room', { conversationId })).ok, true);
      readers.push({ node, room: recorder(s, 'receive_message') });
    }

    // 60 senders, 20 per node: alternately the customer and the vendor,
    // alternately over the socket and over REST. All start at once.
    const senders = [];
    for (let k = 0; k < SENDERS; k++) {
      const node = nodes[k % nodes.length];
      const who = k % 2 === 0 ? customer : vendor;
      const role = who === customer ? 'customer' : 'vendor';
      const via = Math.floor(k / nodes.length) % 2 === 0 ? 'socket' : 'rest';
      const socket = via === 'socket' ? await node.connect(who.token) : null;
      senders.push({ k, node, who, role, via, socket });
    }
    const send = async ({ k, node, who, role, via, socket }, i) => {
      const body = { conversationId, text: `sender ${k} message ${i}`, clientMessageId: `s${k}-${i}` };
      if (via === 'socket') {
        const ack = await call(socket, 'send_message', body, 20_000);
        assert.equal(ack.ok, true, `sender ${k} on ${node.name}: ${JSON.stringify(ack)}`);
        return ack.message;
      }
      const route = role === 'customer' ? '/api/chat/send' : '/api/vendor/chat/send';
      const res = await node.rest(who.token, 'POST', route, body, { timeout: 20_000 });
      assert.equal(res.status, 201, `sender ${k} on ${node.name}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.message;
    };
    const acked = (
      await Promise.all(
        senders.map(async (s) => {
          // Each sender's messages in order (as one tab sends them), all
          // senders concurrently.
          const mine = [];
          for (let i = 0; i < PER_SENDER; i++) mine.push(await send(s, i));
          return mine;
        }),
      )
    ).flat();

    const N = SENDERS * PER_SENDER;
    assert.equal(acked.length, N);
    const seqs = acked.map((m) => m.seq).sort((a, b) => a - b);
    assert.deepEqual(repeated(seqs), [], 'a seq given twice');
    assert.deepEqual(seqs, oneTo(N), 'the acknowledged seqs are 1..N');
    // Each sender's own messages are in the order it sent them.
    for (const s of senders) {
      const mine = acked.filter((m) => m.clientMessageId.startsWith(`s${s.k}-`));
      const order = mine.map((m) => m.seq);
      assert.deepEqual(order, [...order].sort((a, b) => a - b), `sender ${s.k}'s messages out of order`);
    }

    // Every reader, on every node, heard 1..N once each, in order, and
    // exactly the acknowledged messages.
    const byId = new Map(acked.map((m) => [m.id, m]));
    for (const { node, room } of readers) {
      await room.count(N, 30_000);
      const heard = room.seen.map((m) => m.seq);
      assert.deepEqual(heard, oneTo(N), `the reader on node ${node.name}: ${seqDiff(heard, N)}`);
      for (const m of room.seen) assert.deepEqual(m, byId.get(m.id), `node ${node.name} relayed another message`);
    }

    // Every node's history and the log itself agree.
    for (const node of nodes) {
      const h = await eventually(
        async () => {
          const got = await history(node, customer.token, conversationId);
          return got.length === N ? got : null;
        },
        { what: `node ${node.name}'s history to hold ${N} messages` },
      );
      assert.deepEqual(h.map((m) => m.seq), oneTo(N));
      assert.deepEqual(h, readers[0].room.seen, `node ${node.name}'s history differs`);
    }
    const events = await auditEvents(A, customer.token, conversationId);
    const sentEvents = events.filter((e) => e.type === 'MessageSent');
    assert.deepEqual(sentEvents.map((e) => e.data.seq), oneTo(N));
    const positions = events.map((e) => e.position);
    assert.deepEqual(positions, [...positions].sort((a, b) => a - b), 'stream order follows the global order');
    assert.deepEqual(events.map((e) => e.revision), events.map((_, i) => i), 'stream revisions 0..');

    // Unread badges agree on every node.
    const customerSent = acked.filter((m) => m.sender.role === 'customer').length;
    for (const node of nodes) {
      await eventually(
        async () => {
          const u = await node.rest(vendor.token, 'GET', '/api/vendor/chat/unread');
          return u.body.total === customerSent;
        },
        { what: `node ${node.name} to count ${customerSent} unread for the vendor` },
      );
    }
  });

  it('records one message when the same clientMessageId goes through two nodes at once', async () => {
    const [A, B, C] = cluster.nodes;
    const { customer, conversationId } = await pair(cluster, A);
    const socketB = await B.connect(customer.token);
    const ROUNDS = 30;
    const outcomes = [];
    for (let r = 0; r < ROUNDS; r++) {
      const body = { conversationId, text: `twice ${r}`, clientMessageId: `dup-${r}` };
      // REST on A and the socket on B, or REST on A and on C, at the same time.
      const other =
        r % 2 === 0
          ? call(socketB, 'send_message', body).then((a) => ({ ok: a.ok, message: a.message, via: 'socket B', raw: a }))
          : C.rest(customer.token, 'POST', '/api/chat/send', body).then((res) => ({
              ok: res.status === 200 || res.status === 201,
              status: res.status,
              message: res.body?.message,
              via: 'REST C',
              raw: res.body,
            }));
      const viaA = A.rest(customer.token, 'POST', '/api/chat/send', body).then((res) => ({
        ok: res.status === 200 || res.status === 201,
        status: res.status,
        message: res.body?.message,
        via: 'REST A',
        raw: res.body,
      }));
      outcomes.push(await Promise.all([viaA, other]));
    }
    for (const [r, pairOf] of outcomes.entries()) {
      for (const o of pairOf) assert.equal(o.ok, true, `round ${r} ${o.via}: ${JSON.stringify(o.raw)}`);
      assert.deepEqual(pairOf[0].message, pairOf[1].message, `round ${r}: two nodes answered two messages`);
      const statuses = pairOf.map((o) => o.status).filter((s) => s !== undefined);
      if (statuses.length === 2) {
        assert.deepEqual([...statuses].sort(), [200, 201], `round ${r}: one creates (201), the repeat finds it (200)`);
      }
    }
    const events = await auditEvents(A, customer.token, conversationId);
    const sent = events.filter((e) => e.type === 'MessageSent');
    assert.equal(sent.length, ROUNDS, `${sent.length} MessageSent events for ${ROUNDS} clientMessageIds`);
    assert.deepEqual(repeated(sent.map((e) => e.data.clientMessageId)), []);
    assert.deepEqual(sent.map((e) => e.data.seq), oneTo(ROUNDS));
    const h = await eventually(
      async () => {
        const got = await history(B, customer.token, conversationId);
        return got.length === ROUNDS ? got : null;
      },
      { what: `node B's history to hold ${ROUNDS} messages` },
    );
    assert.deepEqual(h.map((m) => m.clientMessageId), oneTo(ROUNDS).map((i) => `dup-${i - 1}`));
  });
});
