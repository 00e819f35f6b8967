// Opening a Socket.IO connection to souk the way the JS test suites do
// (tests/socket, tests/cluster): one transport list, no reconnection, a new
// manager each time. Plain ES module with no imports of its own: each suite
// is its own npm project and passes in the `io` of its own socket.io-client.

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
