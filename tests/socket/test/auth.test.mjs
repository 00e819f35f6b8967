// The handshake: only a valid token connects; everything else gets a
// connect_error whose message is `unauthorized`, before anything is emitted.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io } from 'socket.io-client';
import { serverSecret, signJwt, startServer, uid } from './helpers.mjs';

describe('handshake', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  /** Connects and resolves with the connect_error message, failing on connect. */
  function refusal(auth) {
    return new Promise((resolve, reject) => {
      const socket = io(server.socketUrl, {
        auth,
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
      });
      const received = [];
      socket.onAny((event) => received.push(event));
      socket.on('connect', () => {
        socket.close();
        reject(new Error('connected without a valid token'));
      });
      socket.on('connect_error', (err) => {
        socket.close();
        resolve({ message: err.message, received, active: socket.active });
      });
    });
  }

  const now = () => Math.floor(Date.now() / 1000);

  it('refuses a socket without a token', async () => {
    for (const auth of [undefined, {}, { token: '' }, { token: 42 }, { bearer: 'x' }]) {
      const r = await refusal(auth);
      assert.equal(r.message, 'unauthorized', JSON.stringify(auth));
      assert.deepEqual(r.received, []);
      // A refused handshake is final: the client does not retry on its own.
      assert.equal(r.active, false);
    }
  });

  it('refuses a malformed or forged token', async () => {
    const forged = signJwt(
      { sub: uid('c'), role: 'customer', exp: now() + 3600 },
      'not-the-server-secret-at-all',
    );
    for (const token of ['not.a.jwt', 'garbage', forged]) {
      const r = await refusal({ token });
      assert.equal(r.message, 'unauthorized', token);
      assert.deepEqual(r.received, []);
    }
  });

  it('refuses an expired token and one with a wrong role', async () => {
    const secret = serverSecret(server.dataDir);
    const expired = signJwt({ sub: uid('c'), role: 'customer', exp: now() - 5 }, secret);
    const admin = signJwt({ sub: uid('c'), role: 'admin', exp: now() + 3600 }, secret);
    // Sanity: the same secret makes tokens the server accepts.
    const good = signJwt({ sub: uid('c'), role: 'customer', exp: now() + 3600 }, secret);
    for (const token of [expired, admin]) {
      const r = await refusal({ token });
      assert.equal(r.message, 'unauthorized');
    }
    const socket = await server.connect(good);
    assert.ok(socket.connected);
    socket.disconnect();
  });

  it('accepts a minted token, over websocket and long-polling', async () => {
    const token = server.token(uid('v'), 'vendor', 'Bolt Bikes');
    for (const transports of [['websocket'], ['polling']]) {
      const socket = await server.connect(token, { transports });
      assert.ok(socket.connected);
      assert.equal(socket.io.engine.transport.name, transports[0]);
      socket.disconnect();
    }
  });
});
