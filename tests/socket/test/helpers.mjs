// Shared helpers: start a real `souk serve`, mint tokens with `souk token`,
// talk REST with fetch and Socket.IO with the official client, exactly as a
// marketplace front end would.

import { spawn, execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';

import { call, openSocket, recorder } from '../../support/sio.mjs';

export { call, recorder };

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..', '..');
export const soukBin = path.resolve(repoRoot, process.env.SOUK_BIN ?? 'target/debug/souk');

/**
 * Starts `souk serve` on free ports over a fresh data directory. The rate
 * limit per user is raised: these tests drive the Socket.IO edge, and some of
 * them send hundreds of REST messages from one user in a burst. `extraArgs`
 * are more flags of `souk serve` (one of them may set the rate instead).
 */
export async function startServer(extraArgs = []) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'souk-socket-'));
  const proc = spawn(
    soukBin,
    ['serve', '--data-dir', dataDir, '--http-addr', '127.0.0.1:0', '--socket-addr', '127.0.0.1:0',
      ...(extraArgs.includes('--rest-rate-per-user') ? [] : ['--rest-rate-per-user', '100000']), ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SOUK_LOG: process.env.SOUK_LOG ?? 'warn' } },
  );
  let stderr = '';
  proc.stderr.on('data', (chunk) => {
    stderr += chunk;
    if (process.env.SOUK_TEST_LOG) process.stderr.write(chunk);
  });
  const listening = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`souk serve did not start in time:\n${stderr}`)), 60_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`souk serve exited with ${code}:\n${stderr}`));
    });
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${soukBin} (build it with cargo build -p souk-api, or set SOUK_BIN): ${err.message}`));
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
  const server = {
    dataDir,
    http: `http://${listening.http}`,
    socketUrl: `http://${listening.socket}`,
    proc,
    sockets: new Set(),
    token: (user, role, name) => mintToken(dataDir, user, role, name),
    /** A connected socket for `token` (rejects with the connect_error). */
    connect: (token, opts = {}) => connect(server, token, opts),
    /** REST as `token`. */
    rest: (token, method, route, body) => rest(server.http, token, method, route, body),
    async stop() {
      for (const s of server.sockets) s.disconnect();
      proc.removeAllListeners('exit');
      if (proc.exitCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}

export function mintToken(dataDir, user, role, name) {
  const args = ['token', '--data-dir', dataDir, '--user', user, '--role', role];
  if (name) args.push('--name', name);
  return execFileSync(soukBin, args, { encoding: 'utf8' }).trim();
}

/** An HS256 JWT made here, for tokens `souk token` will not make (expired, forged). */
export function signJwt(claims, secret) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  const sig = createHmac('sha256', secret).update(body).digest('base64url');
  return `${body}.${sig}`;
}

export function serverSecret(dataDir) {
  return readFileSync(path.join(dataDir, 'jwt-secret'), 'utf8').trim();
}

function connect(server, token, opts) {
  return openSocket(io, server.socketUrl, { token, transports: opts.transports }, (s) => server.sockets.add(s));
}

async function rest(base, token, method, route, body) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${route}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
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

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits for the socket's disconnect and returns its reason. */
export function disconnected(socket, ms = 10_000) {
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
 * A customer and a vendor with a conversation between them, each with a token.
 */
export async function pair(server, names = {}) {
  const customer = { id: uid('c'), name: names.customer ?? 'Alice' };
  const vendor = { id: uid('v'), name: names.vendor ?? 'Bolt Bikes' };
  customer.token = server.token(customer.id, 'customer', customer.name);
  vendor.token = server.token(vendor.id, 'vendor', vendor.name);
  const opened = await server.rest(customer.token, 'POST', '/api/chat/conversation', {
    vendorId: vendor.id,
    vendorName: vendor.name,
  });
  if (opened.status !== 201) throw new Error(`open: ${opened.status} ${JSON.stringify(opened.body)}`);
  return { customer, vendor, conversationId: opened.body.id };
}
