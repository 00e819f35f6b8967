#!/usr/bin/env node
// souk soak: a long run of mixed traffic against a real `souk serve`.
//
// Starts the server over a fresh data directory, opens one conversation per
// customer-vendor pair, connects one socket per participant and drives a
// steady mix of operations for --minutes: socket and REST sends (with a
// clientMessageId), reads (socket and REST), typing, a socket that drops and
// rejoins with sinceSeq every few seconds, history pages and searches. Every
// minute it samples the server's RSS, open file descriptors and CPU, and the
// minute's send-to-delivery latency. At the end it checks that every
// acknowledged message is in the log exactly once, that every socket saw
// every message once and in order, stops the server with SIGTERM and runs
// `souk projections verify`. See README.md.

import { spawn, execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { io } from 'socket.io-client';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');

// ---------------------------------------------------------------- options

const { values: opt } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    rate: { type: 'string', default: '200' },
    pairs: { type: 'string', default: '100' },
    souk: { type: 'string' },
    out: { type: 'string' },
    'reconnect-every': { type: 'string', default: '2' },
    'rate-per-user': { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (opt.help) {
  console.log(`usage: node bench/soak/soak.mjs [--minutes 30] [--rate 200] [--pairs 100]
       [--souk target/release/souk] [--out report.md] [--reconnect-every 2]
       [--rate-per-user N] [--keep]

  --minutes          how long the load runs (a sample every minute)
  --rate             operations per second over all pairs (steady, open loop)
  --pairs            customer-vendor pairs: one conversation and two sockets each
  --souk             the souk binary (default: target/release/souk of the repository)
  --out              write the markdown report there too
  --reconnect-every  seconds between two socket reconnects (a socket drops, waits, rejoins with sinceSeq)
  --rate-per-user    pass --rest-rate-per-user to souk serve (default: souk's own, 50/s)
  --keep             keep the data directory (it is always kept when a check fails)`);
  process.exit(0);
}

const MINUTES = positive('minutes');
const RATE = positive('rate');
const PAIRS = positive('pairs');
const RECONNECT_EVERY_S = Number(opt['reconnect-every']);
const SOUK_GIVEN = opt.souk ? path.resolve(opt.souk) : path.join(repoRoot, 'target', 'release', 'souk');
// A copy, so that the server, `souk token` and `souk projections verify` are
// the same build even when the shared target directory is rebuilt meanwhile.
let SOUK = SOUK_GIVEN;
let SOUK_BUILT = null;
try {
  SOUK_BUILT = statSync(SOUK_GIVEN).mtime;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'souk-soak-bin-'));
  SOUK = path.join(dir, 'souk');
  copyFileSync(SOUK_GIVEN, SOUK);
  chmodSync(SOUK, 0o755);
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
} catch (e) {
  console.error(`cannot copy ${SOUK_GIVEN}: ${e.message} (build it: cargo build --release -p souk-api)`);
  process.exit(2);
}
const ACK_TIMEOUT_MS = 10_000;
const REST_TIMEOUT_MS = 10_000;

function positive(name) {
  const v = Number(opt[name]);
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`--${name} must be a positive number, got ${opt[name]}`);
    process.exit(2);
  }
  return v;
}

// The mix: weights out of 100. Reconnects run on their own clock.
const MIX = [
  ['socketSend', 55],
  ['restSend', 10],
  ['socketRead', 8],
  ['restRead', 6],
  ['typing', 10],
  ['history', 6],
  ['search', 5],
];
const MIX_TOTAL = MIX.reduce((a, [, w]) => a + w, 0);

const WORDS = ['bike', 'helmet', 'saddle', 'pedal', 'chain', 'lantern', 'basket', 'bell', 'tyre', 'pump',
  'gloves', 'jacket', 'delivery', 'invoice', 'discount', 'colour', 'size', 'refund', 'tomorrow', 'warranty'];

// ---------------------------------------------------------------- utilities

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pick = (a) => a[Math.floor(Math.random() * a.length)];
const pad = (n, w = 3) => String(n).padStart(w, '0');
const log = (...a) => console.log(...a);

function pct(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
const fmtMs = (v) => (v === null || v === undefined ? '-' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));
const mean = (a) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : null);

// ---------------------------------------------------------------- errors and per-minute figures

const errors = []; // { at (s since load start), kind, detail }
let loadStart = 0;
let bucket = newBucket();
const samples = [];

function newBucket() {
  return { ops: 0, sends: 0, delivered: 0, lat: [], rest: [], errors: 0, reconnects: 0, replayed: 0 };
}

function error(kind, detail) {
  errors.push({ at: loadStart ? (now() - loadStart) / 1000 : 0, kind, detail: String(detail).slice(0, 300) });
  bucket.errors += 1;
  if (errors.length <= 20) log(`  ! ${kind}: ${String(detail).slice(0, 300)}`);
}

// ---------------------------------------------------------------- the server

const CLK_TCK = 100;

function procStats(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  // The heap (anonymous memory) apart from the files mapped in.
  const anonKb = Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const threads = Number(/Threads:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuTicks = Number(fields[11]) + Number(fields[12]); // utime + stime
  return { rssKb, anonKb, threads, fds, cpuTicks };
}

/** The value of gauge `name` on the server's /metrics, or null. */
async function gauge(server, name) {
  try {
    const res = await fetch(`${server.http}/metrics`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.slice(name.length + 1)) : null;
  } catch {
    return null;
  }
}

function logBytes(dataDir) {
  let total = 0;
  for (const f of ['events.db', 'events.db-wal']) {
    try {
      total += statSync(path.join(dataDir, f)).size;
    } catch {
      /* not there */
    }
  }
  return total;
}

async function startServer() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'souk-soak-'));
  const args = ['serve', '--data-dir', dataDir, '--http-addr', '127.0.0.1:0', '--socket-addr', '127.0.0.1:0'];
  if (opt['rate-per-user']) args.push('--rest-rate-per-user', opt['rate-per-user']);
  const proc = spawn(SOUK, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SOUK_LOG: process.env.SOUK_LOG ?? 'warn' },
  });
  const stderrLines = [];
  createInterface({ input: proc.stderr }).on('line', (line) => {
    stderrLines.push(line);
    if (stderrLines.length > 2000) stderrLines.shift();
  });
  const listening = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`souk serve did not start in 60 s:\n${stderrLines.join('\n')}`)), 60_000);
    proc.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${SOUK}: ${e.message} (build it: cargo build --release -p souk-api)`));
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`souk serve exited with ${code}:\n${stderrLines.join('\n')}`));
    });
    createInterface({ input: proc.stdout }).on('line', (line) => {
      try {
        const msg = JSON.parse(line);
        if (msg.event === 'listening') {
          clearTimeout(timer);
          resolve(msg);
        }
      } catch {
        /* not ours */
      }
    });
  });
  proc.removeAllListeners('exit');
  return { dataDir, proc, stderrLines, http: `http://${listening.http}`, socketUrl: `http://${listening.socket}` };
}

// ---------------------------------------------------------------- REST and socket calls

let server;
const inflight = new Set();

function track(p) {
  inflight.add(p);
  p.finally(() => inflight.delete(p));
  return p;
}

async function rest(token, method, route, body) {
  const t0 = now();
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(`${server.http}${route}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REST_TIMEOUT_MS),
    });
  } catch (e) {
    return { status: 0, body: null, error: e.name === 'TimeoutError' ? 'timeout' : e.message };
  }
  const text = await res.text();
  bucket.rest.push(now() - t0);
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, body: json };
}

function restError(what, r) {
  const code = r.body?.error?.code ?? r.error ?? '';
  error(`rest ${what}`, `${r.status} ${code} ${r.body?.error?.message ?? ''}`.trim());
}

async function emit(socket, event, payload) {
  try {
    return await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
  } catch (e) {
    return { ok: false, error: { code: 'no_ack', message: e.message } };
  }
}

// ---------------------------------------------------------------- pairs, sides and sockets

const pairs = [];
const acked = new Map(); // message id -> { pair, seq, cmid }
const sendTimes = new Map(); // cmid -> t0 of a socket send, until the other side's socket gets it
const counters = { socketSends: 0, restSends: 0, retries: 0, socketReads: 0, restReads: 0, typing: 0, history: 0,
  search: 0, reconnects: 0, replayed: 0, heldAtJoin: 0, lateAfterJoin: 0, resent: 0, dropped: 0, notifications: 0, typingEvents: 0, readEvents: 0, skipped: 0 };
let stopping = false;

function mintToken(user, role, name) {
  return execFileSync(SOUK, ['token', '--data-dir', server.dataDir, '--user', user, '--role', role, '--name', name, '--ttl', '7d'],
    { encoding: 'utf8' }).trim();
}

function newSide(pair, role) {
  const id = role === 'customer' ? `soak-c-${pad(pair.i)}` : `soak-v-${pad(pair.i)}`;
  const name = role === 'customer' ? `Buyer K${pad(pair.i)}W` : `Vendor Q${pad(pair.i)}Z`;
  return {
    pair, role, id, name,
    base: role === 'customer' ? '/api/chat' : '/api/vendor/chat',
    token: mintToken(id, role, name),
    socket: null,
    state: 'down', // down | connecting | joining | live
    high: 0, // the highest seq this socket saw, every one before it seen once and in order
    replay: null,
    n: 0, // cmid counter
    lastOwn: null, // { id, seq } of this side's last acknowledged message
    typing: false,
    reconnecting: false,
  };
}

function other(side) {
  return side === side.pair.customer ? side.pair.vendor : side.pair.customer;
}

function onReceive(side, s, m) {
  if (s !== side.socket) return;
  if (m.conversationId !== side.pair.id) {
    error('delivery', `${side.id}: receive_message of another conversation ${m.conversationId}`);
    return;
  }
  if (m.seq !== side.high + 1) {
    error('delivery', `${side.id} (${side.state}): receive_message seq ${m.seq}, expected ${side.high + 1}`);
    if (m.seq <= side.high) return;
  }
  side.high = m.seq;
  if (side.state === 'joining') {
    side.replay.push(m);
    return;
  }
  if (m.sender.role !== side.role && m.clientMessageId) {
    const t0 = sendTimes.get(m.clientMessageId);
    if (t0 !== undefined) {
      sendTimes.delete(m.clientMessageId);
      bucket.lat.push(now() - t0);
      bucket.delivered += 1;
    }
  }
}

function openSocket(side) {
  const s = io(server.socketUrl, {
    auth: { token: side.token },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: 10_000,
  });
  side.socket = s;
  side.state = 'connecting';
  s.on('receive_message', (m) => onReceive(side, s, m));
  s.on('new_chat_message', () => (counters.notifications += 1));
  s.on('user_typing', () => (counters.typingEvents += 1));
  s.on('user_stopped_typing', () => (counters.typingEvents += 1));
  s.on('message_read', () => (counters.readEvents += 1));
  s.on('all_messages_read', () => (counters.readEvents += 1));
  s.on('disconnect', (reason) => {
    if (s !== side.socket || reason === 'io client disconnect') return;
    error('disconnect', `${side.id}: the server side closed the socket (${reason})`);
    side.state = 'down';
    if (!stopping) track(reconnect(side, 500, false));
  });
  return new Promise((resolve, reject) => {
    s.once('connect', () => {
      s.off('connect_error');
      resolve(s);
    });
    s.once('connect_error', (e) => {
      s.off('connect');
      s.close();
      reject(e);
    });
  });
}

/** Connects the side's socket and joins its conversation with sinceSeq = what it holds. */
async function bringUp(side, since) {
  for (;;) {
    if (stopping) return false;
    try {
      await openSocket(side);
      break;
    } catch (e) {
      error('connect', `${side.id}: ${e.message}`);
      await sleep(1000);
    }
  }
  side.high = since;
  side.replay = [];
  side.state = 'joining';
  const ackedMaxAtJoin = side.pair.ackedMax;
  const ack = await emit(side.socket, 'join_chat_room', { conversationId: side.pair.id, sinceSeq: since });
  const got = side.replay;
  side.replay = null;
  if (!ack.ok) {
    error('join', `${side.id}: ${ack.error?.code} ${ack.error?.message ?? ''}`);
    side.state = 'down';
    side.socket.disconnect();
    return false;
  }
  side.state = 'live';
  // Exactly the missed messages: the replay is since+1 .. since+replayed,
  // in order, once each, with the ids the senders were acknowledged. Live
  // messages held during the replay are released right after it, before
  // the ack (api/src/edge/book.rs), and continue the sequence; the
  // per-socket order check in onReceive covers them.
  if (ack.hasMore) error('join', `${side.id}: hasMore after missing ${ack.replayed}+ messages`);
  if (got.length < ack.replayed) error('join', `${side.id}: ack says replayed ${ack.replayed}, got ${got.length} before the ack`);
  got.forEach((m, k) => {
    if (m.seq !== since + 1 + k) error('join', `${side.id}: message #${k} after the join has seq ${m.seq}, expected ${since + 1 + k}`);
    const known = side.pair.bySeq.get(m.seq);
    if (known && known !== m.id) error('join', `${side.id}: replayed seq ${m.seq} is ${m.id}, acknowledged as ${known}`);
  });
  counters.replayed += ack.replayed;
  counters.heldAtJoin += got.length - ack.replayed;
  bucket.replayed += ack.replayed;
  // And nothing missed: every message acknowledged before the join reaches
  // this socket (at once, or live within 5 s when the relay was behind).
  if (side.high < ackedMaxAtJoin) {
    counters.lateAfterJoin += 1;
    const s = side.socket;
    const deadline = now() + 5000;
    while (side.high < ackedMaxAtJoin && now() < deadline && s === side.socket) await sleep(50);
    if (s === side.socket && side.high < ackedMaxAtJoin) {
      error('join', `${side.id}: joined with sinceSeq ${since}, replayed ${ack.replayed}; seq ${ackedMaxAtJoin}, acknowledged before the join, has not reached it 5 s later (it has ${side.high})`);
    }
  }
  return true;
}

async function reconnect(side, downMs, planned) {
  if (side.reconnecting) return;
  side.reconnecting = true;
  try {
    const since = side.high;
    if (planned) {
      side.state = 'down';
      side.typing = false;
      side.socket.closedByUs = true;
      side.socket.disconnect();
    }
    await sleep(downMs);
    if (stopping) return;
    while (!(await bringUp(side, since)) && !stopping) await sleep(1000);
    counters.reconnects += 1;
    bucket.reconnects += 1;
  } finally {
    side.reconnecting = false;
  }
}

// ---------------------------------------------------------------- operations

function recordAck(side, msg, via) {
  const pair = side.pair;
  const known = acked.get(msg.id);
  if (known) {
    error('send', `${side.id}: ${via} send acknowledged message ${msg.id} again (cmid ${msg.clientMessageId})`);
    return;
  }
  const atSeq = pair.bySeq.get(msg.seq);
  if (atSeq && atSeq !== msg.id) error('send', `${side.id}: seq ${msg.seq} acknowledged for ${atSeq} and ${msg.id}`);
  acked.set(msg.id, { pair, seq: msg.seq, cmid: msg.clientMessageId });
  pair.bySeq.set(msg.seq, msg.id);
  if (msg.seq > pair.ackedMax) pair.ackedMax = msg.seq;
  side.lastOwn = { id: msg.id, seq: msg.seq };
  bucket.sends += 1;
}

/** Whether an event got no ack because the soak itself closed its socket (a planned reconnect). */
function cutByUs(side, s, ack) {
  return ack.error?.code === 'no_ack' && (s !== side.socket || side.state !== 'live') && s.closedByUs === true;
}

function text(cmid) {
  return `${pick(WORDS)} ${pick(WORDS)} ${pick(WORDS)} (${cmid})`;
}

const ops = {
  async socketSend(side) {
    if (side.state !== 'live') return ops.restSend(side);
    counters.socketSends += 1;
    const cmid = `${side.role[0]}${pad(side.pair.i)}-${++side.n}`;
    sendTimes.set(cmid, now());
    const s = side.socket;
    const body = { conversationId: side.pair.id, text: text(cmid), clientMessageId: cmid };
    const ack = await emit(s, 'send_message', body);
    if (!ack.ok) {
      sendTimes.delete(cmid);
      if (cutByUs(side, s, ack)) {
        // Our own reconnect closed the socket before the ack: the message
        // may or may not be recorded. Send it again over REST with the same
        // clientMessageId, as a client would: 201 or 200, never twice.
        counters.resent += 1;
        const r = await rest(side.token, 'POST', `${side.base}/send`, body);
        if (r.status !== 201 && r.status !== 200) return restError('send (after a cut socket)', r);
        if (!acked.has(r.body.message.id)) recordAck(side, r.body.message, 'rest');
        return;
      }
      error('socket send_message', `${ack.error?.code} ${ack.error?.message ?? ''}`);
      return;
    }
    if (ack.duplicate) error('socket send_message', `${side.id}: a first send of ${cmid} answered duplicate`);
    recordAck(side, ack.message, 'socket');
  },

  async restSend(side) {
    counters.restSends += 1;
    const pair = side.pair;
    // One in ten repeats this side's last clientMessageId: it must answer
    // 200 with the same message and record nothing.
    if (side.lastOwn && Math.random() < 0.1) {
      counters.retries += 1;
      const prev = side.lastOwn;
      const cmid = acked.get(prev.id).cmid;
      const r = await rest(side.token, 'POST', `${side.base}/send`, { conversationId: pair.id, text: 'a retry', clientMessageId: cmid });
      if (r.status !== 200) return restError('send (retry)', r);
      if (r.body.message.id !== prev.id) error('rest send (retry)', `${side.id}: retry of ${cmid} answered ${r.body.message.id}, first ${prev.id}`);
      return;
    }
    const cmid = `${side.role[0]}${pad(pair.i)}-${++side.n}`;
    const body = { conversationId: pair.id, text: text(cmid), clientMessageId: cmid };
    if (Math.random() < 0.2) body.product = { id: `p-${pad(pair.i)}-${side.n}`, name: `${pick(WORDS)} ${side.n}`, priceMinor: 1000 + side.n, currency: 'EUR' };
    const r = await rest(side.token, 'POST', `${side.base}/send`, body);
    if (r.status !== 201) return restError('send', r);
    recordAck(side, r.body.message, 'rest');
  },

  async socketRead(side) {
    if (side.state !== 'live') return ops.restRead(side);
    counters.socketReads += 1;
    const theirs = other(side).lastOwn;
    const payload = { conversationId: side.pair.id };
    if (theirs && Math.random() < 0.5) payload.messageId = theirs.id;
    const s = side.socket;
    const ack = await emit(s, 'mark_read', payload);
    if (!ack.ok && cutByUs(side, s, ack)) counters.dropped += 1;
    else if (!ack.ok) error('socket mark_read', `${ack.error?.code} ${ack.error?.message ?? ''}`);
  },

  async restRead(side) {
    counters.restReads += 1;
    const theirs = other(side).lastOwn;
    const route = theirs && Math.random() < 0.5 ? `${side.base}/message/${theirs.id}/read` : `${side.base}/${side.pair.id}/read`;
    const r = await rest(side.token, 'PUT', route);
    if (r.status !== 200) restError('read', r);
  },

  async typing(side) {
    if (side.state !== 'live') return ops.history(side);
    counters.typing += 1;
    side.typing = !side.typing;
    const s = side.socket;
    const ack = await emit(s, side.typing ? 'typing_start' : 'typing_stop', { conversationId: side.pair.id });
    if (!ack.ok && cutByUs(side, s, ack)) counters.dropped += 1;
    else if (!ack.ok) error('socket typing', `${ack.error?.code} ${ack.error?.message ?? ''}`);
  },

  async history(side) {
    counters.history += 1;
    const pair = side.pair;
    const limit = 1 + Math.floor(Math.random() * 50);
    const before = pair.ackedMax > 2 && Math.random() < 0.5 ? 1 + Math.floor(Math.random() * pair.ackedMax) : null;
    const own = side.lastOwn;
    const r = await rest(side.token, 'GET', `${side.base}/${pair.id}/messages?limit=${limit}${before ? `&before=${before}` : ''}`);
    if (r.status !== 200) return restError('history', r);
    const msgs = r.body.messages;
    if (!Array.isArray(msgs) || msgs.length > limit) return error('rest history', `${side.id}: ${msgs?.length} messages for limit ${limit}`);
    for (let k = 1; k < msgs.length; k++) {
      if (msgs[k].seq !== msgs[k - 1].seq + 1) error('rest history', `${side.id}: seq ${msgs[k - 1].seq} then ${msgs[k].seq}`);
    }
    for (const m of msgs) {
      const known = pair.bySeq.get(m.seq);
      if (known && known !== m.id) error('rest history', `${side.id}: seq ${m.seq} is ${m.id}, acknowledged as ${known}`);
      if (before && m.seq >= before) error('rest history', `${side.id}: seq ${m.seq} in a page before ${before}`);
    }
    // Read your writes: the newest page holds this side's last acknowledged message.
    if (!before && own && (msgs.length === 0 || msgs[msgs.length - 1].seq < own.seq)) {
      error('rest history', `${side.id}: newest page ends at ${msgs.at(-1)?.seq ?? 'nothing'}, own message ${own.seq} was acknowledged before`);
    }
    if (before && msgs.length && r.body.hasMore !== msgs[0].seq > 1) error('rest history', `${side.id}: hasMore ${r.body.hasMore} with the page starting at ${msgs[0].seq}`);
  },

  async search(side) {
    counters.search += 1;
    const o = other(side);
    // Half the searches name the other participant (must find this
    // conversation), half a word of the messages (any answer).
    const byName = Math.random() < 0.5;
    const term = byName ? o.name.split(' ')[1].toLowerCase() : pick(WORDS);
    const r = await rest(side.token, 'GET', `${side.base}/conversations?search=${encodeURIComponent(term)}&limit=20`);
    if (r.status !== 200) return restError('search', r);
    if (!Array.isArray(r.body.conversations)) return error('rest search', `${side.id}: no conversations array`);
    if (byName && !r.body.conversations.some((c) => c.id === side.pair.id)) {
      error('rest search', `${side.id}: search "${term}" did not find the conversation with ${o.id}`);
    }
  },
};

function chooseOp() {
  let r = Math.random() * MIX_TOTAL;
  for (const [name, w] of MIX) {
    if ((r -= w) < 0) return name;
  }
  return MIX[0][0];
}

// ---------------------------------------------------------------- the end: checks

async function readLog(pair) {
  const events = [];
  let from = 0;
  for (;;) {
    const r = await rest(pair.customer.token, 'GET', `/api/chat/${pair.id}/events?from=${from}&limit=1000`);
    if (r.status !== 200) throw new Error(`events of ${pair.id}: ${r.status} ${JSON.stringify(r.body)?.slice(0, 200)}`);
    events.push(...r.body.events);
    if (r.body.next === null || r.body.next === undefined) return events;
    from = r.body.next;
  }
}

async function checkLog() {
  const problems = [];
  const counts = { messages: 0, reads: 0, typing: 0, other: 0, events: 0 };
  const seen = new Map(); // message id -> count
  const queue = [...pairs];
  const worker = async () => {
    for (let pair; (pair = queue.shift()); ) {
      let events;
      try {
        events = await readLog(pair);
      } catch (e) {
        problems.push(e.message);
        continue;
      }
      counts.events += events.length;
      const cmids = new Set();
      let seq = 0;
      for (const e of events) {
        if (e.type === 'MessageSent') {
          counts.messages += 1;
          const d = e.data;
          seen.set(d.messageId, (seen.get(d.messageId) ?? 0) + 1);
          if (d.seq !== seq + 1) problems.push(`${pair.id}: MessageSent seq ${d.seq} after ${seq}`);
          seq = d.seq;
          const key = `${d.sender.role}/${d.clientMessageId}`;
          if (d.clientMessageId && cmids.has(key)) problems.push(`${pair.id}: clientMessageId ${key} recorded twice`);
          cmids.add(key);
          const a = acked.get(d.messageId);
          if (!a) problems.push(`${pair.id}: message ${d.messageId} (seq ${d.seq}, cmid ${d.clientMessageId}) is in the log but was never acknowledged`);
          else if (a.seq !== d.seq || a.pair !== pair) problems.push(`${pair.id}: message ${d.messageId} acknowledged as seq ${a.seq}, logged as ${d.seq}`);
        } else if (e.type === 'MessageRead') counts.reads += 1;
        else if (e.type === 'TypingStarted' || e.type === 'TypingStopped') counts.typing += 1;
        else counts.other += 1;
      }
      pair.logSeq = seq;
      for (const side of [pair.customer, pair.vendor]) {
        if (side.state === 'live' && side.high !== seq) problems.push(`${side.id}: its socket saw up to seq ${side.high}, the log holds ${seq}`);
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  for (const [id, a] of acked) {
    const n = seen.get(id) ?? 0;
    if (n !== 1) problems.push(`${a.pair.id}: acknowledged message ${id} (seq ${a.seq}) is in the log ${n} times`);
  }
  return { problems, counts };
}

function trend(values, minutes) {
  // The middle third against the last third (1-based, inclusive). The first
  // third is the warm-up: souk's caches are bounded (the read models' SQLite
  // page caches, the recent notifications, the actors' windows of recent
  // ids) but fill while the data grows, which at this load takes about
  // fifteen minutes; a trend is growth that goes on after that. A run
  // shorter than 20 minutes compares its first half (after minute 1) with
  // its second half, which says little.
  const n = values.length;
  let base, tail, label;
  if (n < 2) return { label: 'one minute: no trend', base: null, tail: null, growth: null, decisive: false };
  if (n >= 20) {
    const third = Math.floor(n / 3);
    base = values.slice(third, n - third);
    tail = values.slice(n - third);
    label = `minutes ${third + 1}-${n - third} vs ${n - third + 1}-${n}`;
  } else {
    const h = Math.max(1, Math.floor(n / 2));
    base = values.slice(n >= 4 ? 1 : 0, h);
    tail = values.slice(h);
    label = `minutes ${n >= 4 ? 2 : 1}-${h} vs ${h + 1}-${n} (short run)`;
  }
  const b = mean(base.filter((v) => v !== null));
  const t = mean(tail.filter((v) => v !== null));
  const growth = b && t !== null ? (t - b) / b : null;
  return { label, base: b, tail: t, growth, decisive: minutes >= 20 };
}

function slope(values) {
  // Least squares over minutes 5..n (after warm-up), per minute.
  const pts = values.map((v, i) => [i + 1, v]).filter(([x, v]) => x >= 5 && v !== null);
  if (pts.length < 3) return null;
  const mx = mean(pts.map((p) => p[0]));
  const my = mean(pts.map((p) => p[1]));
  let num = 0;
  let den = 0;
  for (const [x, y] of pts) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return num / den;
}

// ---------------------------------------------------------------- main

async function main() {
  const startedAt = new Date();
  let commit = '';
  try {
    commit = execFileSync('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    /* not a checkout */
  }
  log(`soak: ${MINUTES} min, ${RATE} ops/s over ${PAIRS} pairs, reconnect every ${RECONNECT_EVERY_S} s, souk ${SOUK_GIVEN} (run from a copy)`);
  server = await startServer();
  const pid = server.proc.pid;
  let serverExit = null;
  server.proc.on('exit', (code, signal) => {
    serverExit = { code, signal };
    if (!stopping) {
      error('server', `souk serve exited during the load (code ${code}, signal ${signal})`);
      stopping = true;
    }
  });
  log(`server pid ${pid}, REST ${server.http}, Socket.IO ${server.socketUrl}, data ${server.dataDir}`);

  // Tokens, conversations, sockets.
  const tSetup = now();
  for (let i = 0; i < PAIRS; i++) {
    const pair = { i, id: null, ackedMax: 0, bySeq: new Map() };
    pair.customer = newSide(pair, 'customer');
    pair.vendor = newSide(pair, 'vendor');
    const r = await rest(pair.customer.token, 'POST', '/api/chat/conversation', {
      vendorId: pair.vendor.id,
      vendorName: pair.vendor.name,
      product: { id: `p-${pad(i)}`, name: `${pick(WORDS)} ${pad(i)}`, priceMinor: 4999, currency: 'EUR' },
    });
    if (r.status !== 201) throw new Error(`opening conversation ${i}: ${r.status} ${JSON.stringify(r.body)}`);
    pair.id = r.body.id;
    pairs.push(pair);
  }
  for (const pair of pairs) {
    for (const side of [pair.customer, pair.vendor]) {
      if (!(await bringUp(side, 0))) throw new Error(`cannot bring up ${side.id}`);
    }
  }
  const base0 = procStats(pid);
  log(`setup: ${PAIRS} conversations, ${PAIRS * 2} sockets in ${((now() - tSetup) / 1000).toFixed(1)} s; RSS ${(base0.rssKb / 1024).toFixed(1)} MiB, ${base0.fds} fds`);

  // The load: open loop, steady rate.
  loadStart = now();
  bucket = newBucket();
  let issued = 0;
  const ticker = setInterval(() => {
    if (stopping) return;
    const due = Math.floor((RATE * (now() - loadStart)) / 1000);
    if (due - issued > RATE) {
      // More than a second behind (the client stalled): do not burst.
      counters.skipped += due - issued - RATE;
      issued = due - RATE;
    }
    for (; issued < due; issued++) {
      const pair = pairs[Math.floor(Math.random() * pairs.length)];
      const side = Math.random() < 0.5 ? pair.customer : pair.vendor;
      const name = chooseOp();
      bucket.ops += 1;
      track(ops[name](side).catch((e) => error(`op ${name}`, e.stack ?? e.message)));
    }
  }, 10);
  const reconnector = setInterval(() => {
    if (stopping) return;
    for (let k = 0; k < 10; k++) {
      const pair = pairs[Math.floor(Math.random() * pairs.length)];
      const side = Math.random() < 0.5 ? pair.customer : pair.vendor;
      if (side.state === 'live' && !side.reconnecting) {
        track(reconnect(side, 200 + Math.random() * 2800, true));
        return;
      }
    }
  }, RECONNECT_EVERY_S * 1000);

  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let prev = procStats(pid);
  let prevT = now();
  let prevCpu = process.cpuUsage();
  log('');
  log('min  ops/s  sends  p50ms  p99ms  maxms  rest-p99  err  reconn  rss-MiB  anon-MiB  actors-MiB  fds  thr  cpu%  gen-cpu%  log-MiB  loadavg');
  for (let m = 1; m <= MINUTES && !stopping; m++) {
    const wake = loadStart + m * 60_000;
    while (now() < wake && !stopping) await sleep(Math.min(1000, wake - now()));
    if (stopping) break;
    const b = bucket;
    bucket = newBucket();
    let st;
    try {
      st = procStats(pid);
    } catch (e) {
      error('sample', e.message);
      break;
    }
    // What the live actors' states hold, by their own count.
    const actorBytes = await gauge(server, 'souk_actor_state_bytes');
    const dt = (now() - prevT) / 1000;
    const cpu = ((st.cpuTicks - prev.cpuTicks) / CLK_TCK / dt) * 100;
    const gen = process.cpuUsage(prevCpu);
    const genCpu = ((gen.user + gen.system) / 1e6 / dt) * 100;
    prev = st;
    prevT = now();
    prevCpu = process.cpuUsage();
    const lat = b.lat.sort((x, y) => x - y);
    const restLat = b.rest.sort((x, y) => x - y);
    // Socket sends still waiting for the other side after a minute were sent
    // to a socket that was reconnecting; drop them from the latency map.
    const cutoff = now() - 60_000;
    for (const [k, t0] of sendTimes) if (t0 < cutoff) sendTimes.delete(k);
    const s = {
      minute: m,
      opsPerS: b.ops / dt,
      sends: b.sends,
      delivered: b.delivered,
      p50: pct(lat, 50),
      p99: pct(lat, 99),
      max: lat.length ? lat[lat.length - 1] : null,
      restP99: pct(restLat, 99),
      errors: b.errors,
      reconnects: b.reconnects,
      replayed: b.replayed,
      rssMiB: st.rssKb / 1024,
      anonMiB: st.anonKb / 1024,
      actorsMiB: actorBytes === null ? null : actorBytes / 1048576,
      fds: st.fds,
      threads: st.threads,
      cpu,
      genCpu,
      loopP99: loop.percentile(99) / 1e6,
      logMiB: logBytes(server.dataDir) / 1048576,
      loadavg: os.loadavg()[0],
    };
    loop.reset();
    samples.push(s);
    log(`${String(m).padStart(3)}  ${s.opsPerS.toFixed(0).padStart(5)}  ${String(s.sends).padStart(5)}  ${fmtMs(s.p50).padStart(5)}  ${fmtMs(s.p99).padStart(5)}  ${fmtMs(s.max).padStart(5)}  ${fmtMs(s.restP99).padStart(8)}  ${String(s.errors).padStart(3)}  ${String(s.reconnects).padStart(6)}  ${s.rssMiB.toFixed(1).padStart(7)}  ${s.anonMiB.toFixed(1).padStart(8)}  ${(s.actorsMiB?.toFixed(1) ?? '-').padStart(10)}  ${String(s.fds).padStart(3)}  ${String(s.threads).padStart(3)}  ${s.cpu.toFixed(0).padStart(4)}  ${s.genCpu.toFixed(0).padStart(8)}  ${s.logMiB.toFixed(1).padStart(7)}  ${s.loadavg.toFixed(1).padStart(7)}`);
  }

  // Stop the load, let everything in flight finish and deliveries drain.
  stopping = true;
  clearInterval(ticker);
  clearInterval(reconnector);
  const loadSeconds = (now() - loadStart) / 1000;
  log(`\nload stopped after ${loadSeconds.toFixed(0)} s; waiting for ${inflight.size} operations in flight`);
  while (inflight.size) await Promise.allSettled([...inflight]);
  await sleep(3000);

  const failures = [];
  let logCheck = { problems: ['the server is gone: the log was not read'], counts: {} };
  if (!serverExit) {
    logCheck = await checkLog();
  }
  if (logCheck.problems.length) failures.push(`log and deliveries: ${logCheck.problems.length} problems`);

  // Close the sockets, stop the server with SIGTERM.
  for (const pair of pairs) for (const side of [pair.customer, pair.vendor]) side.socket?.disconnect();
  let stopMs = null;
  if (!serverExit) {
    const exited = new Promise((r) => server.proc.once('exit', (code, signal) => r({ code, signal })));
    const t0 = now();
    server.proc.kill('SIGTERM');
    const killer = setTimeout(() => server.proc.kill('SIGKILL'), 30_000);
    serverExit = await exited;
    clearTimeout(killer);
    stopMs = now() - t0;
  }
  if (serverExit.code !== 0) failures.push(`souk serve exited with code ${serverExit.code} signal ${serverExit.signal} after SIGTERM`);
  log(`server stopped with SIGTERM: exit ${serverExit.code}${serverExit.signal ? ` (${serverExit.signal})` : ''}${stopMs !== null ? ` in ${stopMs.toFixed(0)} ms` : ''}`);

  const verify = spawnSync(SOUK, ['projections', 'verify', '--data-dir', server.dataDir], {
    encoding: 'utf8',
    env: { ...process.env, SOUK_LOG: 'warn' },
  });
  const verifyOut = `${verify.stdout}${verify.stderr}`.trim();
  if (verify.status !== 0) failures.push(`souk projections verify exited ${verify.status}`);
  log(`souk projections verify: exit ${verify.status}\n${verifyOut.split('\n').slice(0, 20).join('\n')}`);

  if (errors.length) failures.push(`${errors.length} unexpected errors`);
  const serverLogLines = server.stderrLines.filter((l) => /\b(WARN|ERROR)\b/.test(l));
  if (serverLogLines.some((l) => /\bERROR\b/.test(l))) failures.push('the server logged errors');

  const rss = trend(samples.map((s) => s.rssMiB), MINUTES);
  const fds = trend(samples.map((s) => s.fds), MINUTES);
  const p99 = trend(samples.map((s) => s.p99), MINUTES);
  for (const [name, t] of [['RSS', rss], ['open fds', fds]]) {
    if (t.growth !== null && t.growth > 0.1) {
      if (t.decisive) failures.push(`${name} grew ${(t.growth * 100).toFixed(1)} % (${t.label})`);
    }
  }

  // ---------------------------------------------------------------- the report
  const sum = (k) => samples.reduce((a, s) => a + (s[k] ?? 0), 0);
  const grouped = new Map();
  for (const e of errors) {
    const k = `${e.kind}: ${e.detail.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<id>').replace(/\d+/g, 'N')}`;
    const g = grouped.get(k) ?? { n: 0, first: e };
    g.n += 1;
    grouped.set(k, g);
  }
  const pctStr = (t) => (t.growth === null ? '-' : `${t.growth >= 0 ? '+' : ''}${(t.growth * 100).toFixed(1)} %`);
  const memTotal = `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`;
  const md = [];
  md.push(`Command: \`node bench/soak/soak.mjs --minutes ${MINUTES} --rate ${RATE} --pairs ${PAIRS}${opt['reconnect-every'] !== '2' ? ` --reconnect-every ${RECONNECT_EVERY_S}` : ''}${opt['rate-per-user'] ? ` --rate-per-user ${opt['rate-per-user']}` : ''}\``);
  md.push('');
  md.push(`Started ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${os.cpus().length} cores (\`nproc\` ${os.availableParallelism()}), ${memTotal} RAM, Node ${process.version}; the souk binary built ${SOUK_BUILT.toISOString().slice(0, 16).replace('T', ' ')} UTC, HEAD \`${commit || '?'}\` at the start (a working tree may hold changes not in HEAD).`);
  md.push('');
  md.push('| minute | ops/s | sends acked | delivery p50 ms | p99 ms | max ms | REST p99 ms | errors | reconnects | RSS MiB | anon MiB | actors MiB | open fds | threads | souk CPU % | load CPU % | log MiB | machine loadavg |');
  md.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const s of samples) {
    md.push(`| ${s.minute} | ${s.opsPerS.toFixed(0)} | ${s.sends} | ${fmtMs(s.p50)} | ${fmtMs(s.p99)} | ${fmtMs(s.max)} | ${fmtMs(s.restP99)} | ${s.errors} | ${s.reconnects} | ${s.rssMiB.toFixed(1)} | ${s.anonMiB.toFixed(1)} | ${s.actorsMiB?.toFixed(1) ?? '-'} | ${s.fds} | ${s.threads} | ${s.cpu.toFixed(0)} | ${s.genCpu.toFixed(0)} | ${s.logMiB.toFixed(1)} | ${s.loadavg.toFixed(1)} |`);
  }
  md.push('');
  md.push('| trend | ' + rss.label + ' | growth | slope after minute 5 |');
  md.push('| --- | --- | ---: | ---: |');
  const rssSlope = slope(samples.map((s) => s.rssMiB));
  const sendsPerMin = mean(samples.filter((s) => s.minute >= 5).map((s) => s.sends));
  const perMessage = rssSlope !== null && sendsPerMin ? ` (${((rssSlope * 1024) / sendsPerMin).toFixed(2)} KiB per acknowledged message)` : '';
  md.push(`| RSS | ${rss.base?.toFixed(1) ?? '-'} → ${rss.tail?.toFixed(1) ?? '-'} MiB | ${pctStr(rss)} | ${rssSlope?.toFixed(3) ?? '-'} MiB/min${perMessage} |`);
  md.push(`| open fds | ${fds.base?.toFixed(1) ?? '-'} → ${fds.tail?.toFixed(1) ?? '-'} | ${pctStr(fds)} | ${slope(samples.map((s) => s.fds))?.toFixed(3) ?? '-'} /min |`);
  md.push(`| delivery p99 | ${fmtMs(p99.base)} → ${fmtMs(p99.tail)} ms | ${pctStr(p99)} | ${slope(samples.map((s) => s.p99))?.toFixed(3) ?? '-'} ms/min |`);
  md.push('');
  const c = logCheck.counts;
  md.push(`Totals over ${loadSeconds.toFixed(0)} s: ${acked.size} messages acknowledged (${counters.socketSends} socket sends, ${counters.restSends - counters.retries} REST sends, ${counters.retries} REST retries of a known \`clientMessageId\`), ${counters.socketReads} socket and ${counters.restReads} REST reads, ${counters.typing} typing changes, ${counters.history} history pages, ${counters.search} searches, ${counters.reconnects} reconnects replaying ${counters.replayed} missed messages (${counters.heldAtJoin} more live ones released before the join's ack; ${counters.lateAfterJoin} joins waited for a message acknowledged before them), ${counters.resent} socket sends cut by a reconnect and sent again over REST, ${counters.dropped} reads or typing changes cut by a reconnect; ${sum('delivered')} live deliveries timed; ${counters.skipped} operations skipped because the generator fell behind.`);
  md.push(`The log afterwards: ${c.events ?? '?'} events in ${PAIRS} conversations (${c.messages ?? '?'} MessageSent, ${c.reads ?? '?'} MessageRead, ${c.typing ?? '?'} typing).`);
  md.push('');
  md.push('Checks:');
  md.push(`- every acknowledged message in the log exactly once, seq gapless, no clientMessageId twice, every live socket saw every message once and in order: ${logCheck.problems.length ? `**${logCheck.problems.length} problems**` : 'yes'}`);
  md.push(`- unexpected errors (acks, REST statuses, deliveries, replays): ${errors.length ? `**${errors.length}**` : 'none'}`);
  md.push(`- server log (SOUK_LOG=warn): ${serverLogLines.length ? `${serverLogLines.length} warnings or errors` : 'nothing'}`);
  md.push(`- SIGTERM: exit ${serverExit.code}${stopMs !== null ? ` after ${(stopMs / 1000).toFixed(1)} s` : ''}`);
  md.push(`- \`souk projections verify\`: exit ${verify.status}${verify.status === 0 ? ' (no difference)' : ''}`);
  md.push(`- growth over 10 % of RSS or open fds (${rss.label}): ${[['RSS', rss], ['fds', fds]].filter(([, t]) => t.growth > 0.1).map(([n]) => n).join(', ') || 'none'}${rss.decisive ? '' : ' (not decisive in a run under 20 minutes)'}`);
  md.push(`- result: ${failures.length ? `**FAILED**: ${failures.join('; ')}` : 'passed'}`);
  if (grouped.size || logCheck.problems.length || serverLogLines.length) {
    md.push('');
    md.push('Problems:');
    for (const [k, g] of [...grouped].sort((a, b) => b[1].n - a[1].n).slice(0, 30)) md.push(`- ${g.n} × ${k} (first at ${g.first.at.toFixed(1)} s: ${g.first.detail})`);
    for (const p of logCheck.problems.slice(0, 30)) md.push(`- ${p}`);
    if (logCheck.problems.length > 30) md.push(`- ... ${logCheck.problems.length - 30} more`);
    for (const l of serverLogLines.slice(0, 20)) md.push(`- server: \`${l.slice(0, 300)}\``);
  }
  if (verify.status !== 0) {
    md.push('');
    md.push('```');
    md.push(verifyOut.split('\n').slice(0, 40).join('\n'));
    md.push('```');
  }
  const report = md.join('\n');
  log(`\n${report}\n`);
  if (opt.out) {
    writeFileSync(opt.out, `${report}\n`);
    log(`report written to ${opt.out}`);
  }

  if (failures.length || opt.keep) {
    log(`data directory kept: ${server.dataDir}`);
  } else {
    rmSync(server.dataDir, { recursive: true, force: true });
  }
  log(failures.length ? `SOAK FAILED: ${failures.join('; ')}` : 'soak passed');
  process.exit(failures.length ? 1 : 0);
}

process.on('SIGINT', () => {
  log('interrupted: stopping souk serve');
  try {
    server?.proc.kill('SIGTERM');
  } catch {
    /* gone */
  }
  process.exit(130);
});

main().catch((e) => {
  console.error(e.stack ?? e.message);
  try {
    if (server?.proc.exitCode === null) server.proc.kill('SIGTERM');
  } catch {
    /* gone */
  }
  if (server) console.error(`data directory kept: ${server.dataDir}`);
  process.exit(1);
});
