// Presence, the per-socket rate limit, and CORS.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, disconnected, pair, recorder, sleep, startServer, uid } from './helpers.mjs';

describe('presence', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  it('announces online on the first socket and offline with lastSeenAt on the last', async () => {
    const { customer, vendor } = await pair(server);
    const stranger = server.token(uid('v'), 'vendor', 'Stranger');
    const vs = await server.connect(vendor.token);
    const ss = await server.connect(stranger);
    const online = recorder(vs, 'user_online');
    const offline = recorder(vs, 'user_offline');
    const strangerHeard = [];
    ss.onAny((event) => strangerHeard.push(event));

    const tab1 = await server.connect(customer.token);
    assert.deepEqual(await online.next(), { userId: customer.id });
    const tab2 = await server.connect(customer.token);
    tab1.disconnect();
    await sleep(300);
    assert.equal(online.seen.length, 1, 'a second tab is not news');
    assert.equal(offline.seen.length, 0, 'still online in the other tab');

    const closedAt = Date.now();
    tab2.disconnect();
    const gone = await offline.next();
    assert.equal(gone.userId, customer.id);
    assert.match(gone.lastSeenAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const seen = Date.parse(gone.lastSeenAt);
    assert.ok(Math.abs(seen - closedAt) < 5_000, `${gone.lastSeenAt} vs ${new Date(closedAt).toISOString()}`);

    const list = await server.rest(vendor.token, 'GET', '/api/vendor/chat/conversations');
    const conv = list.body.conversations[0];
    assert.equal(conv.customer.online, false);
    assert.equal(conv.customer.lastSeenAt, gone.lastSeenAt);

    // And back.
    await server.connect(customer.token);
    assert.deepEqual(await online.next(), { userId: customer.id });
    const again = await server.rest(vendor.token, 'GET', '/api/vendor/chat/conversations');
    assert.equal(again.body.conversations[0].customer.online, true);
    await sleep(200);
    assert.deepEqual(strangerHeard, [], 'no shared conversation, no presence');
  });
});

describe('limits', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  it('acks rate_limited past the per-socket burst and does nothing for those events', async () => {
    const { customer, vendor, conversationId } = await pair(server);
    const cs = await server.connect(customer.token);
    const vs = await server.connect(vendor.token);
    const personal = recorder(vs, 'new_chat_message');
    // A flood, all at once: more than any burst the server allows.
    const acks = await Promise.all(
      Array.from({ length: 150 }, (_, i) => call(cs, 'send_message', { conversationId, text: `flood ${i}` })),
    );
    const ok = acks.filter((a) => a.ok);
    const limited = acks.filter((a) => !a.ok);
    assert.ok(ok.length >= 1, 'the burst goes through');
    assert.ok(limited.length >= 1, 'the rest is refused');
    for (const a of limited) assert.equal(a.error.code, 'rate_limited', JSON.stringify(a));
    // Exactly the accepted ones were recorded and relayed.
    await personal.count(ok.length);
    await sleep(300);
    assert.equal(personal.seen.length, ok.length);
    const unread = await server.rest(vendor.token, 'GET', '/api/vendor/chat/unread');
    assert.equal(unread.body.total, ok.length);
    // The counters say so.
    const metrics = await (await fetch(`${server.http}/metrics`)).text();
    const counter = (name) => Number(metrics.match(new RegExp(`^${name} (\\d+)$`, 'm'))?.[1]);
    assert.ok(counter('souk_socket_rate_limited_total') >= limited.length, metrics);
    assert.ok(counter('souk_socket_events_total') >= acks.length);
    assert.ok(counter('souk_socket_connections_total') >= 2);
    assert.ok(counter('souk_relayed_events_total') >= ok.length);
    // The socket is still usable, and the bucket refills.
    assert.ok(cs.connected);
    await sleep(1_100);
    const later = await call(cs, 'typing_start', { conversationId });
    assert.deepEqual(later, { ok: true });
    // Another socket of the same user has its own bucket.
    const other = await server.connect(customer.token);
    assert.equal((await call(other, 'typing_stop', { conversationId })).ok, true);
  });

  it('closes a connection that sends a packet over the payload cap', async () => {
    const { customer, conversationId } = await pair(server);
    const cs = await server.connect(customer.token);
    const closed = disconnected(cs);
    cs.emit('send_message', { conversationId, text: 'x'.repeat(100 * 1024) });
    const reason = await closed;
    assert.ok(['transport close', 'transport error'].includes(reason), reason);
    const history = await server.rest(customer.token, 'GET', `/api/chat/${conversationId}/messages`);
    assert.deepEqual(history.body.messages, []);
  });

  it('allows CORS from the web app on the same host and refuses other origins', async () => {
    const socketPort = new URL(server.socketUrl).port;
    const httpPort = new URL(server.http).port;
    const url = `http://127.0.0.1:${socketPort}/socket.io/?EIO=4&transport=polling`;
    const same = await fetch(url, { headers: { origin: `http://127.0.0.1:${httpPort}` } });
    assert.equal(same.headers.get('access-control-allow-origin'), `http://127.0.0.1:${httpPort}`);
    await same.text();
    const preflight = await fetch(url, {
      method: 'OPTIONS',
      headers: {
        origin: `http://127.0.0.1:${httpPort}`,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    assert.equal(preflight.headers.get('access-control-allow-origin'), `http://127.0.0.1:${httpPort}`);
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
    await preflight.text();
    const evil = await fetch(url, { headers: { origin: 'http://evil.example' } });
    assert.equal(evil.headers.get('access-control-allow-origin'), null);
    await evil.text();
  });
});
