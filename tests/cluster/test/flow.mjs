// Traffic for the fault tests: writers that keep sending into a conversation
// and remember what happened to every clientMessageId, and followers that
// keep reading its room and rejoin with sinceSeq when their node goes away,
// as a well-behaved front end does.

import { sleep } from './helpers.mjs';

/** A transport failure: the outcome of the send is unknown. */
class Unanswered extends Error {}

/** Sends on a socket; rejects with `Unanswered` if the socket drops first. */
function socketSend(socket, body, ms) {
  return new Promise((resolve, reject) => {
    if (!socket.connected) {
      reject(new Unanswered('socket not connected'));
      return;
    }
    const onDrop = (reason) => reject(new Unanswered(`socket dropped: ${reason}`));
    socket.once('disconnect', onDrop);
    socket.timeout(ms).emit('send_message', body, (err, ack) => {
      socket.off('disconnect', onDrop);
      if (err) reject(new Unanswered(`no ack in ${ms} ms`));
      else resolve(ack);
    });
  });
}

/**
 * One writer: `who` ({ id, token, role }) sends numbered messages through
 * `node` over `via` ('socket' or 'rest'), one at a time, every `pace` ms.
 *
 * Outcomes, by clientMessageId:
 * - `acked`: 200/201 or ack ok (with the message);
 * - `refused`: 503 or ack `unavailable` (the node said it did not record it);
 * - `unexpected`: any other answer (a test fails on it).
 *
 * When a send goes unanswered (the node died), the writer moves to
 * `fallback` and resends the same clientMessageId there, as a client that
 * never got its ack does; `resent` lists those.
 */
export function startWriter({ name, who, via, node, fallback, conversationId, pace = 60, answerMs = 15_000 }) {
  const w = {
    name,
    node,
    acked: new Map(),
    refused: new Map(),
    unexpected: [],
    resent: [],
    attempts: [],
    running: true,
    socket: null,
    done: null,
    /** Resolves once `pred(w)` holds (checked after every send). */
    until(pred, ms = 20_000, what = 'a writer condition') {
      return new Promise((resolve, reject) => {
        if (pred(w)) return resolve();
        const timer = setTimeout(() => {
          w.waiters.delete(check);
          reject(new Error(`writer ${name}: timed out after ${ms} ms waiting for ${what}`));
        }, ms);
        const check = () => {
          if (pred(w)) {
            clearTimeout(timer);
            w.waiters.delete(check);
            resolve();
          }
        };
        w.waiters.add(check);
      });
    },
    waiters: new Set(),
    async stop() {
      w.running = false;
      await w.done;
    },
  };
  const route = who.role === 'customer' ? '/api/chat/send' : '/api/vendor/chat/send';

  async function sendOnce(body) {
    if (via === 'socket') {
      if (!w.socket?.connected) {
        try {
          w.socket = await w.node.connect(who.token);
        } catch (err) {
          throw new Unanswered(err.message);
        }
      }
      const ack = await socketSend(w.socket, body, answerMs);
      if (ack.ok) return { kind: 'acked', message: ack.message };
      if (ack.error?.code === 'unavailable') return { kind: 'refused', detail: ack };
      return { kind: 'unexpected', detail: ack };
    }
    let res;
    try {
      res = await w.node.rest(who.token, 'POST', route, body, { timeout: answerMs });
    } catch (err) {
      throw new Unanswered(`REST: ${err.message}`);
    }
    if (res.status === 200 || res.status === 201) return { kind: 'acked', message: res.body.message };
    if (res.status === 503) return { kind: 'refused', detail: res.body };
    return { kind: 'unexpected', detail: { status: res.status, body: res.body } };
  }

  w.done = (async () => {
    for (let i = 0; w.running; i++) {
      const clientMessageId = `${name}-${i}`;
      const body = { conversationId, text: `${name} says ${i}`, clientMessageId };
      for (let attempt = 0; ; attempt++) {
        const startedAt = Date.now();
        let outcome;
        try {
          outcome = await sendOnce(body);
        } catch (err) {
          if (!(err instanceof Unanswered) || !fallback || w.node === fallback || attempt > 0) {
            outcome = { kind: 'unexpected', detail: { error: err.message, node: w.node.name } };
          } else {
            // The node is gone: the same message again, elsewhere.
            w.node = fallback;
            w.socket = null;
            w.resent.push(clientMessageId);
            continue;
          }
        }
        const answeredAt = Date.now();
        w.attempts.push({ clientMessageId, node: w.node.name, startedAt, answeredAt, ...outcome });
        if (outcome.kind === 'acked') w.acked.set(clientMessageId, outcome.message);
        else if (outcome.kind === 'refused') w.refused.set(clientMessageId, { startedAt, answeredAt });
        else w.unexpected.push({ clientMessageId, ...outcome });
        break;
      }
      for (const check of [...w.waiters]) check();
      await sleep(pace);
    }
    w.socket?.disconnect();
  })();
  return w;
}

/**
 * A reader in the conversation's room on `node`: records every
 * `receive_message`; when the socket drops and `fallback` is given, it
 * reconnects there and rejoins with `sinceSeq` = the last seq it has.
 */
export async function startFollower({ name, who, node, fallback, conversationId }) {
  const f = {
    name,
    node,
    received: [],
    rejoins: [],
    errors: [],
    stopping: false,
    socket: null,
    waiters: new Set(),
    lastSeq: () => f.received.at(-1)?.seq ?? 0,
    /** Waits until it has `n` messages. */
    has(n, ms = 20_000) {
      return new Promise((resolve, reject) => {
        if (f.received.length >= n) return resolve();
        const timer = setTimeout(() => {
          f.waiters.delete(check);
          reject(new Error(`follower ${name}: ${f.received.length} of ${n} messages after ${ms} ms (errors: ${f.errors.join('; ')})`));
        }, ms);
        const check = () => {
          if (f.received.length >= n) {
            clearTimeout(timer);
            f.waiters.delete(check);
            resolve();
          }
        };
        f.waiters.add(check);
      });
    },
    stop() {
      f.stopping = true;
      f.socket?.disconnect();
    },
  };

  async function attach(target) {
    const socket = await target.connect(who.token);
    f.socket = socket;
    f.node = target;
    socket.on('receive_message', (m) => {
      f.received.push(m);
      for (const check of [...f.waiters]) check();
    });
    socket.on('disconnect', (reason) => {
      if (f.stopping || !fallback) return;
      const since = f.lastSeq();
      const rejoinAt = Date.now();
      attach(fallback)
        .then((ack) => f.rejoins.push({ reason, since, replayed: ack.replayed, ms: Date.now() - rejoinAt }))
        .catch((err) => f.errors.push(`rejoin on ${fallback.name}: ${err.message}`));
    });
    const ack = await socket.timeout(10_000).emitWithAck('join_chat_room', { conversationId, sinceSeq: f.lastSeq() });
    if (!ack.ok) throw new Error(`join on ${target.name}: ${JSON.stringify(ack)}`);
    return ack;
  }

  await attach(node);
  return f;
}
