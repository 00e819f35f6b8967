// A client that drops and rejoins with sinceSeq gets every missed message
// exactly once, in order, then live ones, while others keep sending.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, pair, recorder, sleep, startServer } from './helpers.mjs';

describe('rejoin with sinceSeq', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  /** Joins with sinceSeq and returns the ack and what had arrived by then. */
  async function rejoin(socket, conversationId, sinceSeq) {
    const room = recorder(socket, 'receive_message');
    const ack = await call(socket, 'join_chat_room', { conversationId, sinceSeq });
    return { ack, room, beforeAck: room.seen.length };
  }

  it('replays what was missed before the ack, then live ones', async () => {
    const { customer, vendor, conversationId } = await pair(server);
    const vs = await server.connect(vendor.token);
    for (let i = 1; i <= 3; i++) await call(vs, 'send_message', { conversationId, text: `m${i}` });
    const cs = await server.connect(customer.token);
    const { ack, room, beforeAck } = await rejoin(cs, conversationId, 1);
    assert.deepEqual(ack, { ok: true, conversationId, replayed: 2 });
    assert.equal(beforeAck, 2, 'the replay arrives before the ack');
    assert.deepEqual(room.seen.map((m) => m.text), ['m2', 'm3']);
    await call(vs, 'send_message', { conversationId, text: 'm4' });
    await room.count(3);
    await sleep(100);
    assert.deepEqual(room.seen.map((m) => m.seq), [2, 3, 4]);
    // sinceSeq 0 replays everything; a sinceSeq past the end replays nothing.
    const other = await server.connect(customer.token);
    assert.equal((await rejoin(other, conversationId, 0)).ack.replayed, 4);
    const third = await server.connect(customer.token);
    assert.equal((await rejoin(third, conversationId, 99)).ack.replayed, 0);
  });

  it('never sends again what a client says it holds, even past what this server has read', async () => {
    // In a cluster a client may rejoin through a node whose read models are
    // behind the node it came from: its sinceSeq is past this node's newest
    // message, and the messages up to it then arrive here live. Asking with
    // a sinceSeq past the end stands for that on one node.
    const { customer, vendor, conversationId } = await pair(server);
    const vs = await server.connect(vendor.token);
    for (let i = 1; i <= 2; i++) await call(vs, 'send_message', { conversationId, text: `m${i}` });
    const cs = await server.connect(customer.token);
    const { ack, room } = await rejoin(cs, conversationId, 4);
    assert.deepEqual(ack, { ok: true, conversationId, replayed: 0 });
    for (let i = 3; i <= 5; i++) await call(vs, 'send_message', { conversationId, text: `m${i}` });
    await room.count(1);
    await sleep(100);
    assert.deepEqual(room.seen.map((m) => m.seq), [5], 'seq 3 and 4 are held by the client already');
  });

  it('misses nothing and repeats nothing across drops while two writers keep sending', async () => {
    const { customer, vendor, conversationId } = await pair(server);
    const writerSocket = await server.connect(customer.token); // the customer's other tab
    const total = { rest: 60, socket: 40 };
    let writing = true;
    const restWriter = (async () => {
      for (let i = 0; i < total.rest; i++) {
        const r = await server.rest(vendor.token, 'POST', '/api/vendor/chat/send', { conversationId, text: `rest ${i}` });
        assert.equal(r.status, 201);
        await sleep(5);
      }
    })();
    const socketWriter = (async () => {
      for (let i = 0; i < total.socket; i++) {
        const r = await call(writerSocket, 'send_message', { conversationId, text: `socket ${i}` });
        assert.equal(r.ok, true, JSON.stringify(r));
        // Under the per-socket rate limit (20/s by default).
        await sleep(60);
      }
    })();
    const writers = Promise.all([restWriter, socketWriter]).finally(() => {
      writing = false;
    });

    // The reader drops and rejoins again and again while the writers run.
    const received = [];
    let lastSeq = 0;
    let rounds = 0;
    let replayedTotal = 0;
    while (writing || rounds < 2) {
      const socket = await server.connect(customer.token);
      const { ack, room, beforeAck } = await rejoin(socket, conversationId, lastSeq);
      assert.equal(ack.ok, true, JSON.stringify(ack));
      assert.ok(beforeAck >= ack.replayed, 'the replay is emitted before the ack');
      replayedTotal += ack.replayed;
      await sleep(30 + Math.floor(Math.random() * 120));
      socket.disconnect();
      received.push(...room.seen);
      if (room.seen.length) lastSeq = room.seen[room.seen.length - 1].seq;
      rounds += 1;
      await sleep(Math.floor(Math.random() * 80));
    }
    await writers;
    // A last rejoin collects the tail.
    const socket = await server.connect(customer.token);
    const { ack, room } = await rejoin(socket, conversationId, lastSeq);
    const finalSeq = total.rest + total.socket;
    const missing = finalSeq - lastSeq;
    assert.equal(ack.replayed, missing);
    await room.count(missing);
    received.push(...room.seen);

    const seqs = received.map((m) => m.seq);
    const expected = Array.from({ length: finalSeq }, (_, i) => i + 1);
    assert.deepEqual(seqs, expected, `rounds ${rounds}, replayed ${replayedTotal}`);
    assert.ok(rounds >= 2);
    // The messages are whole and are the ones history shows.
    const history = await server.rest(customer.token, 'GET', `/api/chat/${conversationId}/messages?after=0&limit=100`);
    assert.deepEqual(received, history.body.messages);
  });
});
