// Shared helpers of the cluster suite: a fresh database on the test
// PostgreSQL for each file, `souk serve` nodes that share it as their event
// log, tokens minted with `souk token`, REST through fetch and Socket.IO
// through the official client, as a marketplace front end behind a load
// balancer would use them.
//
// Every wait is bounded: for an event (`recorder`), for a process line or
// exit, or a poll with a deadline (`eventually`) where only polling can tell
// (another node's read models catching up, a health check turning green).

import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { io } from 'socket.io-client';

import { call, openSocket, recorder } from '../../support/sio.mjs';

export { call, recorder };

const execFileAsync = promisify(execFile);

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..', '..');
export const soukBin = path.resolve(repoRoot, process.env.SOUK_BIN ?? 'target/release/souk');
const pgScript = path.join(repoRoot, 'scripts', 'pg.sh');

/**
 * A node's presence lease in these tests, and how often it renews it and
 * sweeps the leases of the others: a node that dies takes its users offline
 * on the others once its lease ran out and another node's sweep saw it.
 * Short, so that the fault tests stay short.
 */
export const PRESENCE_LEASE_MS = 2_000;
export const PRESENCE_HEARTBEAT_MS = 500;

/**
 * The bound within which the other nodes must see a dead node's users go
 * offline: the lease, one sweep, and 1.5 s for a busy machine.
 */
export const OFFLINE_BOUND_MS = PRESENCE_LEASE_MS + PRESENCE_HEARTBEAT_MS + 1_500;

// ---------------------------------------------------------------- PostgreSQL

/** The PostgreSQL the suite runs against (scripts/test.sh exports it). */
export function testPgUrl() {
  const url = process.env.SOUK_TEST_PG_URL;
  if (!url) {
    throw new Error(
      'SOUK_TEST_PG_URL is not set: start a PostgreSQL (scripts/pg.sh start DIR prints its URL) and export it, ' +
        'or run scripts/test.sh',
    );
  }
  return url;
}

/** Runs one SQL statement with psql and returns its unaligned output. */
export function psql(url, sql) {
  return execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-qAtX', '-c', sql], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/** A URL like `base` naming `database` instead. */
export function withDatabase(base, database) {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Creates a fresh, empty database on the server of `base` and returns its URL. */
export function freshDatabase(base, label) {
  const name = `souk_cluster_${label}_${process.pid}_${randomBytes(4).toString('hex')}`;
  psql(withDatabase(base, 'postgres'), `CREATE DATABASE ${name}`);
  return { name, url: withDatabase(base, name) };
}

/** Drops a database made by `freshDatabase` (after its nodes stopped). */
export function dropDatabase(base, name) {
  try {
    psql(withDatabase(base, 'postgres'), `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } catch {
    // Best effort: the server may be gone already.
  }
}

/**
 * A private PostgreSQL in a temporary directory, started with
 * `scripts/pg.sh start DIR` (which prints its URL) and stopped with
 * `scripts/pg.sh stop DIR`; `start()` again restarts it on the same port.
 */
export async function privatePostgres() {
  const dir = mkdtempSync(path.join(tmpdir(), 'souk-cluster-pg-'));
  const pg = {
    dir,
    url: null,
    async start() {
      const { stdout } = await execFileAsync(pgScript, ['start', dir], { encoding: 'utf8', timeout: 120_000 });
      const url = stdout.trim().split('\n').pop().trim();
      if (!/^postgres(ql)?:\/\//.test(url)) throw new Error(`scripts/pg.sh start printed ${JSON.stringify(stdout)}`);
      if (pg.url && new URL(pg.url).port !== new URL(url).port) {
        throw new Error(`PostgreSQL came back on another port: ${pg.url} then ${url}`);
      }
      pg.url = url;
      return url;
    },
    async stop() {
      await execFileAsync(pgScript, ['stop', dir], { encoding: 'utf8', timeout: 120_000 });
    },
    async destroy() {
      try {
        await pg.stop();
      } catch {
        // Already stopped.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await pg.start();
  return pg;
}

// ---------------------------------------------------------------- nodes

/**
 * Starts one `souk serve` node on free loopback ports, over its own fresh
 * data directory (or `dataDir`), with `logUrl` as its event log.
 */
export async function startNode({ name, logUrl, secret, dataDir, args = [] }) {
  dataDir ??= mkdtempSync(path.join(tmpdir(), `souk-cluster-${name}-`));
  const proc = spawn(
    soukBin,
    [
      'serve',
      '--data-dir', dataDir,
      '--http-addr', '127.0.0.1:0',
      '--socket-addr', '127.0.0.1:0',
      '--log-url', logUrl,
      '--rest-rate-per-user', '100000',
      '--presence-lease', `${PRESENCE_LEASE_MS}ms`,
      '--presence-heartbeat', `${PRESENCE_HEARTBEAT_MS}ms`,
      ...args,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SOUK_JWT_SECRET: secret, SOUK_LOG: process.env.SOUK_LOG ?? 'warn' },
    },
  );
  const node = {
    name,
    dataDir,
    logUrl,
    secret,
    args,
    proc,
    stderr: '',
    sockets: new Set(),
    exited: null,
  };
  node.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  proc.stderr.on('data', (chunk) => {
    node.stderr += chunk;
    if (node.stderr.length > 200_000) node.stderr = node.stderr.slice(-100_000);
    if (process.env.SOUK_TEST_LOG) process.stderr.write(`[${name}] ${chunk}`);
  });
  const listening = await new Promise((resolve, reject) => {
    // On any failure, the process does not outlive the test.
    const failed = (err) => {
      proc.kill('SIGKILL');
      reject(err);
    };
    const timer = setTimeout(() => failed(new Error(`node ${name} did not start in time:\n${node.stderr}`)), 60_000);
    node.exited.then(({ code, signal }) => {
      clearTimeout(timer);
      failed(new Error(`node ${name} exited with ${code ?? signal} before listening:\n${node.stderr}`));
    });
    proc.once('error', (err) => {
      clearTimeout(timer);
      failed(new Error(`cannot run ${soukBin} (cargo build --release -p souk-api, or set SOUK_BIN): ${err.message}`));
    });
    createInterface({ input: proc.stdout }).on('line', (line) => {
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      if (msg.event === 'listening') {
        clearTimeout(timer);
        resolve(msg);
      }
    });
  });
  Object.assign(node, {
    http: `http://${listening.http}`,
    socketUrl: `http://${listening.socket}`,
    /** A connected socket for `token` (rejects with the connect_error). */
    connect: (token, opts = {}) => connect(node, token, opts),
    /** REST as `token` (`token` null: no authorization header). */
    rest: (token, method, route, body, opts) => rest(node.http, token, method, route, body, opts),
    /** GET /healthz's status, or 0 when the node does not answer. */
    async health() {
      try {
        const res = await fetch(`${node.http}/healthz`, { signal: AbortSignal.timeout(5_000) });
        await res.text();
        return res.status;
      } catch {
        return 0;
      }
    },
    /** SIGTERM, and wait for the exit (SIGKILL after 15 s). */
    async stop() {
      for (const s of node.sockets) s.disconnect();
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
        const how = await node.exited;
        clearTimeout(timer);
        return how;
      }
      return node.exited;
    },
    /** SIGKILL: no drain, no goodbye to PostgreSQL. */
    async kill() {
      proc.kill('SIGKILL');
      return node.exited;
    },
    /** Removes the data directory (after stop or kill). */
    remove() {
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
  return node;
}

/**
 * `count` nodes over one log with one signing secret. `token()` mints with
 * `souk token`; a token is good on every node.
 */
export async function startCluster({ logUrl, count = 3, args = [] }) {
  const secret = randomBytes(32).toString('hex');
  const names = ['A', 'B', 'C', 'D', 'E'].slice(0, count);
  // One after the other: the first one creates the log's schema.
  const nodes = [];
  try {
    for (const name of names) nodes.push(await startNode({ name, logUrl, secret, args }));
  } catch (err) {
    for (const n of nodes) {
      await n.stop();
      n.remove();
    }
    throw err;
  }
  const tokenDir = mkdtempSync(path.join(tmpdir(), 'souk-cluster-tokens-'));
  const cluster = {
    nodes,
    secret,
    logUrl,
    token: (user, role, displayName) => mintToken(tokenDir, secret, user, role, displayName),
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
    async destroy() {
      await cluster.stop();
      for (const n of nodes) n.remove();
      rmSync(tokenDir, { recursive: true, force: true });
    },
  };
  return cluster;
}

export function mintToken(dataDir, secret, user, role, name) {
  const args = ['token', '--data-dir', dataDir, '--user', user, '--role', role];
  if (name) args.push('--name', name);
  return execFileSync(soukBin, args, { encoding: 'utf8', env: { ...process.env, SOUK_JWT_SECRET: secret } }).trim();
}

/**
 * `souk projections verify` on a stopped node: rebuilds its read models from
 * the log into a scratch copy and lists every difference from its own.
 */
export async function verifyProjections(node) {
  try {
    const { stdout, stderr } = await execFileAsync(
      soukBin,
      ['projections', 'verify', '--data-dir', node.dataDir, '--log-url', node.logUrl],
      { encoding: 'utf8', timeout: 120_000, env: { ...process.env, SOUK_LOG: 'warn' } },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    return { code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? String(err) };
  }
}

async function connect(node, token, opts) {
  try {
    return await openSocket(io, node.socketUrl, { token, transports: opts.transports }, (s) => node.sockets.add(s));
  } catch (err) {
    throw new Error(`connect to node ${node.name}: ${err.message}`);
  }
}

async function rest(base, token, method, route, body, { timeout = 15_000 } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${route}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeout),
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, body: json };
}

// ---------------------------------------------------------------- waiting

/**
 * Polls `probe` (async) until it returns a truthy value, every 50 ms, for at
 * most `ms`; returns that value, or fails naming `what` and the last value.
 */
export async function eventually(probe, { ms = 15_000, what = 'a condition' } = {}) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}; last: ${String(last?.stack ?? JSON.stringify(last)).slice(0, 2_000)}`);
    }
    await sleep(50);
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits for the socket's disconnect and returns its reason. */
export function disconnected(socket, ms = 10_000) {
  if (!socket.connected) return Promise.resolve('already');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no disconnect')), ms);
    socket.once('disconnect', (reason) => {
      clearTimeout(timer);
      resolve(reason);
    });
  });
}

let counter = 0;
/** A user id unique within the run. */
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

/**
 * A customer and a vendor with a conversation between them (opened on
 * `node`), each with a token good on every node. Unless `settle` is false,
 * it returns once every node of the cluster knows the conversation (the
 * cross-node read-your-writes case has its own test in chat.test.mjs).
 */
export async function pair(cluster, node, names = {}, { settle = true } = {}) {
  const customer = { id: uid('c'), name: names.customer ?? 'Alice', role: 'customer' };
  const vendor = { id: uid('v'), name: names.vendor ?? 'Bolt Bikes', role: 'vendor' };
  customer.token = cluster.token(customer.id, 'customer', customer.name);
  vendor.token = cluster.token(vendor.id, 'vendor', vendor.name);
  const opened = await node.rest(customer.token, 'POST', '/api/chat/conversation', {
    vendorId: vendor.id,
    vendorName: vendor.name,
  });
  if (opened.status !== 201) throw new Error(`open: ${opened.status} ${JSON.stringify(opened.body)}`);
  const conversationId = opened.body.id;
  if (settle) {
    for (const n of cluster.nodes) {
      await eventually(
        async () =>
          (await n.rest(customer.token, 'GET', `/api/chat/${conversationId}/messages`)).status === 200 &&
          (await n.rest(vendor.token, 'GET', `/api/vendor/chat/${conversationId}/messages`)).status === 200,
        { ms: 10_000, what: `node ${n.name} to know conversation ${conversationId}` },
      );
    }
  }
  return { customer, vendor, conversationId };
}

/** Every message of a conversation, as `node` has it (pages of 100), read with the customer's token. */
export async function history(node, token, conversationId) {
  const all = [];
  let after = 0;
  for (;;) {
    const page = await node.rest(token, 'GET', `/api/chat/${conversationId}/messages?after=${after}&limit=100`);
    if (page.status !== 200) throw new Error(`history on ${node.name}: ${page.status} ${JSON.stringify(page.body)}`);
    all.push(...page.body.messages);
    if (!page.body.hasMore || page.body.messages.length === 0) return all;
    after = page.body.messages[page.body.messages.length - 1].seq;
  }
}

/** Every recorded event of a conversation, from the log through `node`'s audit route (customer's token). */
export async function auditEvents(node, token, conversationId) {
  const all = [];
  let from = 0;
  for (let round = 0; round < 1_000; round++) {
    const page = await node.rest(token, 'GET', `/api/chat/${conversationId}/events?from=${from}&limit=500`);
    if (page.status !== 200) throw new Error(`events on ${node.name}: ${page.status} ${JSON.stringify(page.body)}`);
    all.push(...page.body.events);
    if (page.body.next === null || page.body.next === undefined || page.body.events.length === 0) return all;
    from = page.body.next;
  }
  throw new Error('the audit route never ended');
}

/** Asserts-friendly: `[1, 2, ..., n]`. */
export const oneTo = (n) => Array.from({ length: n }, (_, i) => i + 1);

/**
 * What differs between the seqs a reader got and 1..n: missing ones,
 * repeated ones, and the first place where the order breaks.
 */
export function seqDiff(seqs, n) {
  const got = new Set(seqs);
  const missing = oneTo(n).filter((s) => !got.has(s));
  const twice = repeated(seqs);
  const firstBreak = seqs.findIndex((s, i) => s !== i + 1);
  const around = firstBreak < 0 ? [] : seqs.slice(Math.max(0, firstBreak - 3), firstBreak + 4);
  return `missing ${JSON.stringify(missing)}, repeated ${JSON.stringify(twice)}, order breaks at index ${firstBreak} (${JSON.stringify(around)}), ${seqs.length} received of ${n}`;
}

/** Values of `xs` that occur more than once. */
export function repeated(xs) {
  const seen = new Set();
  const twice = new Set();
  for (const x of xs) (seen.has(x) ? twice : seen).add(x);
  return [...twice];
}
