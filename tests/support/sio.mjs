// Socket.IO helpers of the JS test suites (tests/socket, tests/cluster):
// opening a connection (one transport list, no reconnection, a new manager
// each time), emitting with an ack, recording what a socket receives. A
// plain ES module with no imports of its own: each suite is its own npm
// project and passes in the `io` of its own socket.io-client.

/**
 * Connects `io` to `url` with `token` (none when undefined) and resolves
 * with the socket once connected; rejects with the `connect_error` (the
 * socket closed). `track` sees the socket as soon as it exists, so a suite
 * can close it at the end whatever happens.
 */
export function openSocket(io, url, { token, transports = ['websocket'] } = {}, track = () => {}) {
  const socket = io(url, {
    auth: token === undefined ? undefined : { token },
    transports,
    reconnection: false,
    forceNew: true,
    timeout: 10_000,
  });
  track(socket);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => {
      socket.off('connect_error');
      resolve(socket);
    });
    socket.once('connect_error', (err) => {
      socket.off('connect');
      socket.close();
      reject(err);
    });
  });
}

/** Emits with an ack and returns it (fails after `ms`). */
export async function call(socket, event, payload, ms = 10_000) {
  try {
    return await socket.timeout(ms).emitWithAck(event, payload);
  } catch (err) {
    throw new Error(`no ack for ${event} ${JSON.stringify(payload)?.slice(0, 200)} on socket ${socket.id}: ${err.message}`);
  }
}

/**
 * Records every `event` the socket receives, from now on.
 * `next(pred)` waits for the first not-yet-taken one matching `pred`.
 */
export function recorder(socket, event) {
  const seen = [];
  const at = [];
  const waiters = [];
  let taken = 0;
  socket.on(event, (payload) => {
    seen.push(payload);
    at.push(Date.now());
    for (const w of [...waiters]) w();
  });
  const until = (ok, ms, what) => {
    if (ok()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (ok()) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms} ms waiting for ${what()}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        const i = waiters.indexOf(check);
        if (i >= 0) waiters.splice(i, 1);
      };
      waiters.push(check);
    });
  };
  return {
    seen,
    /** When each one arrived (Date.now()). */
    at,
    /** Waits until `count` have arrived in total. */
    async count(count, ms = 10_000) {
      await until(() => seen.length >= count, ms, () => `${count} × ${event}, got ${seen.length}`);
      return seen.slice(0, count);
    },
    /** Waits until one matching `pred` has arrived (taken or not). */
    async some(pred, ms = 10_000) {
      let found;
      await until(
        () => {
          found = seen.find(pred);
          return found !== undefined;
        },
        ms,
        () => `a matching ${event} (seen ${JSON.stringify(seen).slice(0, 2_000)})`,
      );
      return found;
    },
    /** The next one matching `pred` (default: any), after those taken before. */
    async next(pred = () => true, ms = 10_000) {
      let found;
      await until(
        () => {
          for (let i = taken; i < seen.length; i++) {
            if (pred(seen[i])) {
              found = seen[i];
              taken = i + 1;
              return true;
            }
          }
          return false;
        },
        ms,
        () => `a matching ${event} (seen ${JSON.stringify(seen).slice(0, 2_000)})`,
      );
      return found;
    },
  };
}
