// Stop PostgreSQL under load, then start it again (same port): while it is
// down every write answers 503 (REST) or `unavailable` (socket) and none of
// them shows up in the log later; the nodes say so on /healthz; afterwards
// every node takes writes again without a restart, the readers miss
// nothing, and every node's read models equal a rebuild from the log.
//
// This file runs its own PostgreSQL (scripts/pg.sh), since it stops it.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFollower, startWriter } from './flow.mjs';
import {
  auditEvents,
  eventually,
  freshDatabase,
  oneTo,
  pair,
  privatePostgres,
  repeated,
  seqDiff,
  startCluster,
  startNode,
  verifyProjections,
} from './helpers.mjs';

describe('PostgreSQL stopped under load, then started again', () => {
  let pg;
  let cluster;
  before(async () => {
    pg = await privatePostgres();
    const db = freshDatabase(pg.url, 'pgstop');
    cluster = await startCluster({ logUrl: db.url });
  });
  after(async () => {
    await cluster?.destroy();
    await pg?.destroy();
  });

  it('refuses writes with 503 while it is down, records none of them, and resumes without a restart', async (t) => {
    const { nodes } = cluster;
    const [A, B, C] = nodes;
    const { customer, vendor, conversationId } = await pair(cluster, A);

    const followers = [
      await startFollower({ name: 'on B', who: vendor, node: B, fallback: B, conversationId }),
      await startFollower({ name: 'on C', who: customer, node: C, fallback: C, conversationId }),
    ];
    const writers = [
      startWriter({ name: 'cA-socket', who: customer, via: 'socket', node: A, conversationId }),
      startWriter({ name: 'vA-rest', who: vendor, via: 'rest', node: A, conversationId, pace: 30 }),
      startWriter({ name: 'vB-socket', who: vendor, via: 'socket', node: B, conversationId }),
      startWriter({ name: 'cC-rest', who: customer, via: 'rest', node: C, conversationId, pace: 30 }),
    ];
    const acksSince = (w, t) => w.attempts.filter((a) => a.kind === 'acked' && a.startedAt > t).length;
    const refusedSince = (w, t) => w.attempts.filter((a) => a.kind === 'refused' && a.startedAt > t).length;
    let downFrom;
    let downUntil;
    try {
      await Promise.all(writers.map((w) => w.until((x) => x.acked.size >= 5, 20_000, '5 acks')));

      // Down, under load.
      await pg.stop();
      downFrom = Date.now();
      await Promise.all(
        nodes.map((n) => eventually(async () => (await n.health()) === 503, { ms: 15_000, what: `/healthz 503 on ${n.name}` })),
      );
      // Every writer is refused again and again while it is down.
      await Promise.all(writers.map((w) => w.until((x) => refusedSince(x, downFrom) >= 10, 30_000, '10 refusals while down')));
      // Reads are served from each node's read models meanwhile.
      for (const n of nodes) {
        const page = await n.rest(customer.token, 'GET', `/api/chat/${conversationId}/messages?limit=5`);
        assert.equal(page.status, 200, `history on ${n.name} while PostgreSQL is down: ${JSON.stringify(page.body)}`);
        assert.ok(page.body.messages.length > 0);
      }

      // Up again, on the same port: the nodes recover by themselves.
      downUntil = Date.now();
      await pg.start();
      await Promise.all(
        nodes.map((n) => eventually(async () => (await n.health()) === 200, { ms: 30_000, what: `/healthz 200 on ${n.name}` })),
      );
      const upAt = Date.now();
      await Promise.all(writers.map((w) => w.until((x) => acksSince(x, upAt) >= 5, 30_000, '5 acks after the restart')));
    } finally {
      await Promise.all(writers.map((w) => w.stop()));
    }

    // Only acks and refusals, and every write sent while it was down was refused.
    for (const w of writers) {
      assert.deepEqual(w.unexpected, [], `writer ${w.name}: answers other than an ack or a 503`);
      const whileDown = w.attempts.filter((a) => a.startedAt > downFrom && a.answeredAt <= downUntil);
      assert.ok(whileDown.length >= 10, `writer ${w.name}: ${whileDown.length} writes while down`);
      for (const a of whileDown) assert.equal(a.kind, 'refused', `${a.clientMessageId} sent while down: ${JSON.stringify(a)}`);
    }
    const refused = new Set(writers.flatMap((w) => [...w.refused.keys()]));
    const acked = new Map(writers.flatMap((w) => [...w.acked.entries()]));
    assert.ok(refused.size >= 40);

    // The log: acknowledged ones exactly once, refused ones never, 1..N.
    const events = await auditEvents(B, customer.token, conversationId);
    const sent = events.filter((e) => e.type === 'MessageSent').map((e) => e.data);
    const N = sent.length;
    assert.deepEqual(sent.map((m) => m.seq), oneTo(N));
    assert.deepEqual(repeated(sent.map((m) => m.clientMessageId)), []);
    const surprises = sent.filter((m) => refused.has(m.clientMessageId)).map((m) => m.clientMessageId);
    assert.deepEqual(surprises, [], 'refused with 503, yet recorded');
    for (const [cmid, message] of acked) {
      const inLog = sent.find((m) => m.clientMessageId === cmid);
      assert.ok(inLog, `${cmid} acknowledged but not in the log`);
      assert.equal(inLog.messageId, message.id);
    }
    assert.equal(acked.size, N, 'everything in the log was acknowledged');
    t.diagnostic(`${N} messages recorded, ${refused.size} refused with 503 / unavailable; down for ${downUntil - downFrom} ms`);

    // The readers (never restarted, rejoining with sinceSeq on the same node
    // if it ever dropped them) have 1..N.
    for (const f of followers) {
      await f.has(N, 30_000);
      f.stop();
      assert.deepEqual(f.errors, []);
      const seqs = f.received.map((m) => m.seq);
      assert.deepEqual(seqs, oneTo(N), `follower ${f.name}: ${seqDiff(seqs, N)}`);
      assert.deepEqual(f.rejoins, [], `follower ${f.name}: its socket stays connected while PostgreSQL is away`);
    }

    // The same after every node drained: nothing refused shows up late.
    await cluster.stop();
    const again = await freshLook();
    assert.deepEqual(again, sent.map((m) => m.clientMessageId), 'the log changed after the nodes stopped');
    for (const node of nodes) {
      const v = await verifyProjections(node);
      assert.equal(v.code, 0, `projections verify on node ${node.name}:\n${v.stdout}\n${v.stderr}`);
    }

    /** The conversation's clientMessageIds, read from the log by a new node. */
    async function freshLook() {
      const probe = await startNode({ name: 'probe', logUrl: A.logUrl, secret: cluster.secret });
      try {
        const evs = await auditEvents(probe, customer.token, conversationId);
        return evs.filter((e) => e.type === 'MessageSent').map((e) => e.data.clientMessageId);
      } finally {
        await probe.stop();
        probe.remove();
      }
    }
  });
});
