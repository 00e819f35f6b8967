#!/usr/bin/env node
// How long a read receipt takes in a long conversation, by how old the
// message it names is: a conversation's actor keeps its last 1,000
// messages at hand and looks an older one (or an unknown id) up in the log.
//
//   node bench/soak/old-read.mjs [--messages 20000] [--reads 30] [--souk target/release/souk]
//
// Starts `souk serve` over a fresh data directory (per-user rate raised so
// the conversation fills quickly), sends --messages messages over REST
// (customer and vendor in turn), then times `PUT /api/chat/message/:id/read`
// by the customer, --reads times each, for: the newest vendor message, one
// 500 messages back (in the window), one 5,000 back, the second message of
// the conversation, and an unknown id (404). Prints the median and the
// slowest of each, in milliseconds, as a markdown table.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: opt } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    reads: { type: 'string', default: '30' },
    souk: { type: 'string' },
  },
});
const MESSAGES = Number(opt.messages);
const READS = Number(opt.reads);
const SOUK = opt.souk ? path.resolve(opt.souk) : path.join(repoRoot, 'target', 'release', 'souk');

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'souk-old-read-'));
const proc = spawn(
  SOUK,
  ['serve', '--data-dir', dataDir, '--http-addr', '127.0.0.1:0', '--socket-addr', '127.0.0.1:0', '--rest-rate-per-user', '1000000'],
  { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SOUK_LOG: process.env.SOUK_LOG ?? 'warn' } },
);
const http = await new Promise((resolve, reject) => {
  proc.once('exit', (code) => reject(new Error(`souk serve exited with ${code}`)));
  createInterface({ input: proc.stdout }).on('line', (line) => {
    try {
      const msg = JSON.parse(line);
      if (msg.event === 'listening') resolve(`http://${msg.http}`);
    } catch {
      /* not ours */
    }
  });
});

function token(user, role) {
  return execFileSync(SOUK, ['token', '--data-dir', dataDir, '--user', user, '--role', role, '--name', user, '--ttl', '1d'], {
    encoding: 'utf8',
  }).trim();
}

async function call(tok, method, route, body) {
  const res = await fetch(`${http}${route}`, {
    method,
    headers: { authorization: `Bearer ${tok}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

try {
  const customer = token('c-old-read', 'customer');
  const vendor = token('v-old-read', 'vendor');
  const opened = await call(customer, 'POST', '/api/chat/conversation', { vendorId: 'v-old-read', vendorName: 'Shop' });
  const conversationId = opened.body.id;
  const ids = []; // ids[seq - 1]
  const t0 = performance.now();
  for (let n = 1; n <= MESSAGES; n++) {
    const fromVendor = n % 2 === 1;
    const r = await call(fromVendor ? vendor : customer, 'POST', fromVendor ? '/api/vendor/chat/send' : '/api/chat/send', {
      conversationId,
      text: `message ${n}`,
    });
    if (r.status !== 201) throw new Error(`send ${n}: ${r.status} ${JSON.stringify(r.body)}`);
    ids.push(r.body.message.id);
  }
  const fill = (performance.now() - t0) / 1000;
  // Vendor messages have odd seqs.
  const vendorAt = (seq) => ids[(seq % 2 === 1 ? seq : seq - 1) - 1];
  const cases = [
    ['the newest vendor message', vendorAt(MESSAGES), 200],
    ['500 messages back', vendorAt(MESSAGES - 500), 200],
    ['5,000 messages back', vendorAt(MESSAGES - 5000), 200],
    ['the first vendor message', vendorAt(1), 200],
    ['an unknown id', '01900000-0000-7000-8000-000000000001', 404],
  ];
  const rows = [];
  for (const [what, id, expected] of cases) {
    const times = [];
    for (let i = 0; i < READS; i++) {
      const s = performance.now();
      const r = await call(customer, 'PUT', `/api/chat/message/${id}/read`);
      times.push(performance.now() - s);
      if (r.status !== expected) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    times.sort((a, b) => a - b);
    rows.push(`| ${what} | ${times[Math.floor(times.length / 2)].toFixed(2)} | ${times[times.length - 1].toFixed(2)} |`);
  }
  console.log(`${MESSAGES} messages sent in ${fill.toFixed(0)} s; ${READS} reads each, one at a time`);
  console.log('');
  console.log('| read of | median ms | slowest ms |');
  console.log('| --- | ---: | ---: |');
  for (const row of rows) console.log(row);
} finally {
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  rmSync(dataDir, { recursive: true, force: true });
}
