// A client that stops reading is disconnected instead of stalling others,
// and what it did get is a gapless prefix (nothing silently dropped).
//
// The slow client speaks engine.io v4 long-polling by hand, so that it can
// simply stop polling: the server then has to queue what it sends, and the
// queue fills.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, pair, recorder, startServer } from './helpers.mjs';

/** A bare engine.io v4 polling client on namespace `/`. */
class PollingClient {
  constructor(base) {
    this.base = `${base}/socket.io/?EIO=4&transport=polling`;
    this.sid = null;
  }

  async get() {
    const res = await fetch(`${this.base}&sid=${this.sid}&t=${Date.now()}`);
    const text = await res.text();
    if (res.status !== 200) return { closed: true, packets: [] };
    return { closed: false, packets: text.split('\x1e') };
  }

  async post(...packets) {
    const res = await fetch(`${this.base}&sid=${this.sid}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain;charset=UTF-8' },
      body: packets.join('\x1e'),
    });
    assert.equal(res.status, 200, await res.text());
  }

  async open(token) {
    const res = await fetch(this.base);
    const text = await res.text();
    assert.equal(text[0], '0', text);
    this.sid = JSON.parse(text.slice(1)).sid;
    await this.post(`40${JSON.stringify({ token })}`);
    const { packets } = await this.get();
    assert.ok(packets.some((p) => p.startsWith('40{')), `CONNECT: ${packets}`);
  }
}

describe('a slow client', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  it('is disconnected when its queue fills, without stalling the others', async () => {
    const { customer, vendor, conversationId } = await pair(server);
    const slow = new PollingClient(server.socketUrl);
    await slow.open(customer.token);
    await slow.post(`420${JSON.stringify(['join_chat_room', { conversationId }])}`);
    const joined = await slow.get();
    assert.ok(joined.packets.some((p) => p.startsWith('430[') && JSON.parse(p.slice(3))[0].ok === true), `${joined.packets}`);

    // A healthy tab of the same customer, in the same room.
    const healthy = await server.connect(customer.token);
    await call(healthy, 'join_chat_room', { conversationId });
    const room = recorder(healthy, 'receive_message');

    // Each message is two packets for the customer (receive_message and
    // new_chat_message): 700 of them overflow a 1024-packet queue.
    const total = 700;
    let next = 0;
    const sender = async () => {
      while (next < total) {
        next += 1;
        const r = await server.rest(vendor.token, 'POST', '/api/vendor/chat/send', { conversationId, text: `flood ${next}` });
        assert.equal(r.status, 201);
      }
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: 8 }, sender));
    // The healthy tab got every message, in order, while the slow one read
    // nothing.
    const got = await room.count(total, 30_000);
    assert.deepEqual(got.map((m) => m.seq), Array.from({ length: total }, (_, i) => i + 1));
    const elapsed = Date.now() - started;

    // Now the slow client reads what was queued for it: a prefix of the
    // conversation, then the disconnect.
    const seqs = [];
    let disconnected = false;
    let afterDisconnect = 0;
    for (let polls = 0; polls < 200 && !disconnected; polls++) {
      const { closed, packets } = await slow.get();
      if (closed) break;
      for (const p of packets) {
        if (disconnected) afterDisconnect += 1;
        if (p === '41') disconnected = true;
        if (p.startsWith('42["receive_message"')) seqs.push(JSON.parse(p.slice(2))[1].seq);
      }
    }
    assert.ok(disconnected, `the slow socket was told to disconnect (got ${seqs.length} messages)`);
    assert.equal(afterDisconnect, 0, 'nothing after the disconnect');
    assert.ok(seqs.length < total, 'the slow socket did not get everything');
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'a gapless prefix');
    assert.ok(healthy.connected);
    assert.ok(elapsed < 30_000);
  });
});
