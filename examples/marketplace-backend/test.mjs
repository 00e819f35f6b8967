// Starts the example backend and a real souk that sends it webhooks, then
// leaves two messages unread by an offline vendor: the backend must log
// "email vendor v-7: 2 unread". Also checks that the backend refuses a
// forged signature and an old (replayed) timestamp, and handles an id once.
//
//   SOUK_BIN=target/release/souk node --test examples/marketplace-backend/test.mjs
//
// Without SOUK_BIN it runs target/release/souk, then target/debug/souk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import crypto from 'node:crypto';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const souk =
  process.env.SOUK_BIN ??
  ['release', 'debug'].map((p) => join(root, 'target', p, 'souk')).find((p) => existsSync(p));
const SECRET = 'marketplace-webhook-secret';
const JWT_SECRET = 'marketplace-jwt-secret-0123456789';

/** Starts a process; resolves with it and a function waiting for a stdout line. */
function start(command, args, env) {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = [];
  const waiters = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters]) if (w.match(line)) w.resolve(line);
  });
  const waitFor = (match, ms = 20000, what = String(match)) =>
    new Promise((resolveLine, reject) => {
      const found = lines.find((l) => match(l));
      if (found) return resolveLine(found);
      const timer = setTimeout(() => reject(new Error(`no line ${what} in ${ms} ms: ${lines.join('\n')}`)), ms);
      waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          resolveLine(l);
        },
      });
    });
  return { child, lines, waitFor };
}

function signed(body, timestamp = Math.floor(Date.now() / 1000)) {
  const hmac = crypto.createHmac('sha256', SECRET).update(`${timestamp}.${body}`).digest('hex');
  return {
    'content-type': 'application/json',
    'souk-webhook-id': JSON.parse(body).id,
    'souk-webhook-timestamp': String(timestamp),
    'souk-webhook-signature': `v1=${hmac}`,
  };
}

test('the marketplace backend emails a vendor about unread messages', async (t) => {
  assert.ok(souk, 'build souk first (cargo build --release -p souk-api) or set SOUK_BIN');
  const dataDir = mkdtempSync(join(tmpdir(), 'souk-marketplace-'));
  const backend = start(process.execPath, [join(here, 'server.mjs')], {
    PORT: '0',
    SOUK_WEBHOOK_SECRET: SECRET,
  });
  t.after(() => backend.child.kill());
  const port = (await backend.waitFor((l) => l.startsWith('marketplace backend listening'))).split(' ').pop();
  const hooks = `http://127.0.0.1:${port}/souk`;

  // The backend's own checks, before souk is involved.
  const reminder = (id, unreadCount) =>
    JSON.stringify({
      id,
      type: 'message.unread_reminder',
      occurredAt: new Date().toISOString(),
      conversationId: '00000000-0000-4000-8000-000000000000',
      data: { recipient: { id: 'v-test', role: 'vendor' }, unreadCount },
    });
  const body = reminder('1-message.unread_reminder', 3);
  const forged = { ...signed(body), 'souk-webhook-signature': `v1=${'0'.repeat(64)}` };
  assert.equal((await fetch(hooks, { method: 'POST', body, headers: forged })).status, 401);
  const old = signed(body, Math.floor(Date.now() / 1000) - 600);
  assert.equal((await fetch(hooks, { method: 'POST', body, headers: old })).status, 401, 'a replay');
  for (let i = 0; i < 2; i++) {
    assert.equal((await fetch(hooks, { method: 'POST', body, headers: signed(body) })).status, 204);
  }
  await backend.waitFor((l) => l === 'email vendor v-test: 3 unread');

  // souk, sending it webhooks.
  const server = start(souk, ['serve'], {
    SOUK_DATA_DIR: dataDir,
    SOUK_HTTP_ADDR: '127.0.0.1:0',
    SOUK_SOCKET_ADDR: '127.0.0.1:0',
    SOUK_JWT_SECRET: JWT_SECRET,
    SOUK_WEBHOOK_URL: hooks,
    SOUK_WEBHOOK_SECRET: SECRET,
    SOUK_WEBHOOK_REMINDER_AFTER: '1s',
    SOUK_LOG: 'warn',
  });
  t.after(() => {
    server.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  const listening = JSON.parse(await server.waitFor((l) => l.includes('"listening"')));
  const api = `http://${listening.http}`;
  const token = execFileSync(souk, [
    'token', '--data-dir', dataDir, '--jwt-secret', JWT_SECRET, '--user', 'c-1', '--role', 'customer',
  ]).toString().trim();
  const call = async (path, payload) => {
    const res = await fetch(`${api}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    });
    assert.ok(res.ok, `${path}: ${res.status} ${await res.clone().text()}`);
    return res.json();
  };
  const conversation = await call('/api/chat/conversation', { vendorId: 'v-7', vendorName: 'Bolt Bikes' });
  await call('/api/chat/send', { conversationId: conversation.id, text: 'Is the red bike still available?' });
  await call('/api/chat/send', { conversationId: conversation.id, text: 'I can pick it up today.' });

  await backend.waitFor((l) => l === 'email vendor v-7: 2 unread', 20000, '"email vendor v-7: 2 unread"');
  assert.equal(backend.lines.filter((l) => l.startsWith('email vendor v-test')).length, 1, 'one id, one email');
});
