// A graceful stop (SIGTERM) closes every socket and exits cleanly.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { call, disconnected, pair, startServer } from './helpers.mjs';

describe('shutdown', () => {
  it('closes every socket, over both transports, and exits 0', async () => {
    const server = await startServer();
    try {
      const { customer, vendor, conversationId } = await pair(server);
      const ws = await server.connect(customer.token);
      const polling = await server.connect(vendor.token, { transports: ['polling'] });
      await call(ws, 'join_chat_room', { conversationId });
      await call(polling, 'join_chat_room', { conversationId });
      const closed = [disconnected(ws), disconnected(polling)];
      const exited = new Promise((resolve) => server.proc.once('exit', (code, signal) => resolve({ code, signal })));
      const started = Date.now();
      server.proc.kill('SIGTERM');
      const reasons = await Promise.all(closed);
      for (const reason of reasons) {
        assert.ok(
          ['io server disconnect', 'transport close', 'transport error'].includes(reason),
          reason,
        );
      }
      assert.deepEqual(await exited, { code: 0, signal: null });
      assert.ok(Date.now() - started < 10_000, `stopped in ${Date.now() - started} ms`);
    } finally {
      await server.stop();
    }
  });
});
