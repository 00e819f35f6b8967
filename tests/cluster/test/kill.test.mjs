// SIGKILL one node of three while messages flow through all of them: every
// acknowledged message is in the log exactly once, the dead node's clients
// move to another node, rejoin with sinceSeq and miss nothing, the other
// nodes see its users go offline within the lease bound, and the node,
// started again on its data directory, catches up with the log.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { startFollower, startWriter } from './flow.mjs';
import {
  OFFLINE_BOUND_MS,
  auditEvents,
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
  startNode,
  testPgUrl,
  verifyProjections,
} from './helpers.mjs';

describe('a node killed under load', () => {
  let cluster;
  let db;
  let restarted;
  before(async () => {
    db = freshDatabase(testPgUrl(), 'kill');
    cluster = await startCluster({ logUrl: db.url });
  });
  after(async () => {
    await restarted?.stop();
    restarted?.remove();
    await cluster?.destroy();
    if (db) dropDatabase(testPgUrl(), db.name);
  });

  it('loses no acknowledged message, its clients miss nothing elsewhere, its users go offline', async (t) => {
    const [A, B, C] = cluster.nodes;
    const { customer, vendor, conversationId } = await pair(cluster, A);

    // A second customer who is only ever connected to C, in a conversation
    // with the same vendor: C's death must take them offline everywhere.
    const onlyOnC = await pair(cluster, B, { customer: 'Carol' });
    const vendorOnA = await A.connect(onlyOnC.vendor.token);
    const online = recorder(vendorOnA, 'user_online');
    const offline = recorder(vendorOnA, 'user_offline');
    const carol = await C.connect(onlyOnC.customer.token);
    await online.next((p) => p.userId === onlyOnC.customer.id);
    assert.ok(carol.connected);
    // The customer of the busy conversation is connected to A too, so they
    // must stay online when C dies.
    const watcherOnB = await B.connect(vendor.token);
    const mainOffline = recorder(watcherOnB, 'user_offline');

    // Followers: one on C (moves to A when C dies), one on B (never moves).
    const followerC = await startFollower({ name: 'on C', who: customer, node: C, fallback: A, conversationId });
    const followerB = await startFollower({ name: 'on B', who: vendor, node: B, fallback: null, conversationId });

    // Writers on every node, over both transports; C's move to A and resend
    // whatever C never answered.
    const writers = [
      startWriter({ name: 'cA-socket', who: customer, via: 'socket', node: A, conversationId }),
      startWriter({ name: 'vB-rest', who: vendor, via: 'rest', node: B, conversationId, pace: 30 }),
      startWriter({ name: 'cC-socket', who: customer, via: 'socket', node: C, fallback: A, conversationId }),
      startWriter({ name: 'vC-rest', who: vendor, via: 'rest', node: C, fallback: A, conversationId, pace: 30 }),
      startWriter({ name: 'vC-socket', who: vendor, via: 'socket', node: C, fallback: B, conversationId }),
    ];
    try {
      // Let traffic flow through every writer, then kill C mid-stream.
      await Promise.all(writers.map((w) => w.until((x) => x.acked.size >= 5, 20_000, '5 acks')));
      const killedAt = Date.now();
      const how = await C.kill();
      assert.equal(how.signal, 'SIGKILL');

      // Traffic goes on elsewhere: every writer gets acks after the kill.
      await Promise.all(
        writers.map((w) =>
          w.until(
            (x) => [...x.attempts].filter((a) => a.kind === 'acked' && a.startedAt > killedAt).length >= 5,
            20_000,
            '5 acks after the kill',
          ),
        ),
      );

      // Carol goes offline for the vendor on A within the bound; the
      // customer of the busy conversation (still on A) does not.
      const gone = await offline.next((p) => p.userId === onlyOnC.customer.id, OFFLINE_BOUND_MS + 5_000);
      const after = Date.now() - killedAt;
      assert.ok(after <= OFFLINE_BOUND_MS, `offline ${after} ms after the kill, bound ${OFFLINE_BOUND_MS} ms`);
      t.diagnostic(`offline on A ${after} ms after the kill (bound ${OFFLINE_BOUND_MS} ms)`);
      assert.ok(Date.parse(gone.lastSeenAt) <= Date.now());
      assert.equal(
        mainOffline.seen.filter((p) => p.userId === customer.id).length,
        0,
        'a user still connected to A went offline with C',
      );
      const list = await B.rest(vendor.token, 'GET', '/api/vendor/chat/conversations');
      assert.equal(list.body.conversations.find((c) => c.id === conversationId).customer.online, true);
    } finally {
      await Promise.all(writers.map((w) => w.stop()));
    }

    // Every answer was an ack: no send failed outright.
    for (const w of writers) assert.deepEqual(w.unexpected, [], `writer ${w.name}`);
    assert.ok(
      writers.filter((w) => w.name.includes('C-')).every((w) => w.node !== C),
      'the writers of C moved to another node',
    );

    // The log: every acknowledged message exactly once, with the acked id
    // and seq; nothing but what the writers sent; seq 1..N.
    const events = await auditEvents(A, customer.token, conversationId);
    const sent = events.filter((e) => e.type === 'MessageSent').map((e) => e.data);
    const N = sent.length;
    assert.deepEqual(sent.map((m) => m.seq), oneTo(N));
    assert.deepEqual(repeated(sent.map((m) => m.clientMessageId)), [], 'a clientMessageId recorded twice');
    const logged = new Map(sent.map((m) => [m.clientMessageId, m]));
    let ackedTotal = 0;
    for (const w of writers) {
      for (const [cmid, message] of w.acked) {
        ackedTotal += 1;
        const inLog = logged.get(cmid);
        assert.ok(inLog, `${cmid} was acknowledged (seq ${message.seq}) but is not in the log`);
        assert.equal(inLog.messageId, message.id, `${cmid}: the log and the ack name different messages`);
        assert.equal(inLog.seq, message.seq);
      }
    }
    assert.equal(ackedTotal, N, 'every message in the log was acknowledged to its writer');
    const resent = writers.flatMap((w) => w.resent);
    t.diagnostic(`${N} messages; resent after the kill: ${resent.join(', ') || 'none'}`);

    // The followers: the one that lived on C moved to A and, with sinceSeq,
    // has exactly 1..N; so has the one on B.
    await followerC.has(N);
    await followerB.has(N);
    followerC.stop();
    followerB.stop();
    assert.deepEqual(followerC.errors, []);
    assert.ok(followerC.rejoins.length >= 1, 'the follower on C rejoined elsewhere');
    assert.equal(followerC.node, A);
    t.diagnostic(`the follower of C rejoined: ${JSON.stringify(followerC.rejoins)}`);
    const seqsC = followerC.received.map((m) => m.seq);
    assert.deepEqual(seqsC, oneTo(N), `${seqDiff(seqsC, N)}; rejoins: ${JSON.stringify(followerC.rejoins)}`);
    const seqsB = followerB.received.map((m) => m.seq);
    assert.deepEqual(seqsB, oneTo(N), seqDiff(seqsB, N));

    // C, started again on its data directory, catches up with the log.
    restarted = await startNode({ name: 'C again', logUrl: db.url, secret: cluster.secret, dataDir: C.dataDir });
    const reference = await history(A, customer.token, conversationId);
    assert.equal(reference.length, N);
    await eventually(
      async () => isDeepStrictEqual(await history(restarted, customer.token, conversationId), reference),
      { what: 'the restarted node to hold the same history as A' },
    );

    // Stopped, every node's read models equal a rebuild from the log.
    await cluster.stop();
    await restarted.stop();
    for (const node of [A, B, restarted]) {
      const v = await verifyProjections(node);
      assert.equal(v.code, 0, `projections verify on node ${node.name}:\n${v.stdout}\n${v.stderr}`);
    }
  });
});
