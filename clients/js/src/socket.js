// One Socket.IO connection per signed-in user (per tab), with the rooms it has
// open.
//
// The client reconnects by itself (socket.io-client's backoff, kept short, and
// at once when the browser says it is back online). Every time the connection
// comes up — the first time and after each drop — it joins again every open
// room with `join_chat_room { conversationId, sinceSeq }`, where `sinceSeq` is
// the last seq the store holds without a gap, so the server replays exactly
// the messages that were missed; the store drops anything it already has (by
// message id), so nothing shows twice.
//
// Outside a browser (tests, server-side rendering) there is no `online` event to
// listen to; `io` can be replaced by a fake with socket.io-client's surface.

import { io as realIo } from 'socket.io-client';
import { ApiError } from './rest.js';

const ACK_TIMEOUT_MS = 8000;

export class ChatSocket {
  /**
   * @param {string} url the Socket.IO edge (GET /api/config)
   * @param {string} token the user's JWT, sent as `auth: { token }`
   * @param {{ io?: Function, options?: object }} [opts] `io`: socket.io-client's
   *   `io` or a stand-in; `options`: extra options for it
   */
  constructor(url, token, { io = realIo, options = {} } = {}) {
    this.url = url;
    this.token = token;
    /** conversationId -> () => sinceSeq (the last seq held without a gap) */
    this.rooms = new Map();
    /** listeners of this wrapper: 'status', 'rejoined', 'join_more', 'join_error' */
    this.listeners = new Map();
    this.everConnected = false;
    this.socket = io(url, {
      auth: { token },
      // WebSocket first: no CORS preflight, no long-polling round trips; fall
      // back to polling where a proxy refuses WebSockets.
      transports: ['websocket', 'polling'],
      reconnection: true,
      reconnectionDelay: 400,
      reconnectionDelayMax: 3000,
      randomizationFactor: 0.3,
      timeout: 8000,
      ...options,
    });
    this.socket.on('connect', () => this.onConnect());
    this.socket.on('disconnect', (reason) => {
      this.emitLocal('status', { state: 'offline', reason });
      // A server-side disconnect does not reconnect by itself.
      if (reason === 'io server disconnect') this.socket.connect();
    });
    this.socket.on('connect_error', (err) => {
      const unauthorized = /unauthori[sz]ed/i.test(String(err?.message ?? ''));
      this.emitLocal('status', { state: unauthorized ? 'unauthorized' : 'offline', reason: err?.message });
    });
    this.onOnline = () => this.reconnectNow();
    globalThis.window?.addEventListener?.('online', this.onOnline);
  }

  get connected() {
    return this.socket.connected;
  }

  /**
   * A fresh token for the next (re)connection: the server checks a socket's
   * token at the handshake only, and ends the socket at its `exp`. Connects at
   * once when the socket is down (after `connect_error` `unauthorized`
   * socket.io-client does not retry by itself).
   */
  setToken(token) {
    this.token = token;
    this.socket.auth = { ...(this.socket.auth ?? {}), token };
    if (!this.socket.connected) this.socket.connect();
  }

  /** Skips the backoff wait when the browser reports the network is back. */
  reconnectNow() {
    if (this.socket.connected) return;
    this.socket.disconnect();
    this.socket.connect();
  }

  onConnect() {
    const reconnected = this.everConnected;
    this.everConnected = true;
    this.emitLocal('status', { state: 'online', reconnected });
    for (const conversationId of this.rooms.keys()) this.sendJoin(conversationId);
    if (reconnected) this.emitLocal('rejoined', {});
  }

  sendJoin(conversationId) {
    const sinceOf = this.rooms.get(conversationId);
    if (!sinceOf) return Promise.resolve(null);
    // null: the store holds no history yet, so there is nothing to catch up from.
    const sinceSeq = sinceOf();
    const payload = sinceSeq === null || sinceSeq === undefined ? { conversationId } : { conversationId, sinceSeq };
    return this.request('join_chat_room', payload).then((ack) => {
      // The server replays a bounded number of missed messages; the rest is
      // for the store to page with REST.
      if (ack?.hasMore) this.emitLocal('join_more', { conversationId });
      return ack;
    }).catch((e) => {
      // A failed join is retried on the next connect; the store shows the error.
      this.emitLocal('join_error', { conversationId, error: e });
      return null;
    });
  }

  /** Joins a conversation's room now (if connected) and after every reconnect. */
  joinRoom(conversationId, sinceOf) {
    this.rooms.set(conversationId, sinceOf);
    if (this.socket.connected) return this.sendJoin(conversationId);
    return Promise.resolve(null);
  }

  leaveRoom(conversationId) {
    if (!this.rooms.delete(conversationId)) return;
    if (this.socket.connected) this.socket.emit('leave_chat_room', { conversationId });
  }

  /** Fire and forget (typing). Dropped while disconnected rather than queued. */
  emitVolatile(event, payload) {
    if (this.socket.connected) this.socket.volatile.emit(event, payload);
  }

  /**
   * Emits with an acknowledgement; resolves `ack` when `ack.ok`, rejects with
   * an ApiError otherwise (code `timeout` when no ack comes back).
   */
  request(event, payload, timeoutMs = ACK_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      this.socket.timeout(timeoutMs).emit(event, payload, (err, ack) => {
        if (err) {
          reject(new ApiError(0, 'timeout', `no answer to ${event}`));
        } else if (ack && ack.ok) {
          resolve(ack);
        } else {
          const code = ack?.error?.code ?? 'internal';
          reject(new ApiError(0, code, ack?.error?.message ?? `${event} failed`));
        }
      });
    });
  }

  on(event, handler) {
    this.socket.on(event, handler);
    return () => this.socket.off(event, handler);
  }

  onLocal(event, handler) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(handler);
    return () => this.listeners.get(event)?.delete(handler);
  }

  emitLocal(event, data) {
    for (const h of this.listeners.get(event) ?? []) h(data);
  }

  close() {
    globalThis.window?.removeEventListener?.('online', this.onOnline);
    this.rooms.clear();
    this.listeners.clear();
    this.socket.removeAllListeners();
    this.socket.disconnect();
  }
}
