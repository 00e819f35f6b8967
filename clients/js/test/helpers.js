// Test doubles: messages, tokens, a fake fetch and a fake socket.io-client.

export const CONV = '49316337-9ec1-52e4-8b6c-d7dc6d8ef7a9';

export const msg = (seq, sender = 'c-1', extra = {}) => ({
  id: `0193f0c3-0000-7000-8000-${String(seq).padStart(12, '0')}`,
  conversationId: extra.conversationId ?? 'conv',
  seq,
  sender: { id: sender, role: sender.startsWith('v') ? 'vendor' : 'customer' },
  kind: 'text',
  text: `m${seq}`,
  product: null,
  clientMessageId: null,
  sentAt: `2026-12-01T04:19:${String(seq % 60).padStart(2, '0')}.000Z`,
  readAt: null,
  ...extra,
});

export function jwt(payload) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}.signature`;
}

/**
 * A stand-in for souk's Socket.IO edge and socket.io-client's `io`: `server.io`
 * makes FakeSockets; `server.handle(event, fn)` answers a client event
 * (`fn(payload, socket)` returns the ack, or undefined for no ack at all).
 */
export class FakeServer {
  constructor() {
    this.handlers = new Map();
    this.sockets = [];
    /** Every client event: `{ event, payload, volatile }`. */
    this.emitted = [];
    this.io = (url, options) => {
      const s = new FakeSocket(this, url, options);
      this.sockets.push(s);
      return s;
    };
  }

  handle(event, fn) {
    this.handlers.set(event, fn);
  }

  get socket() {
    return this.sockets[this.sockets.length - 1];
  }

  sent(event) {
    return this.emitted.filter((e) => e.event === event).map((e) => e.payload);
  }
}

export class FakeSocket {
  constructor(server, url, options) {
    this.server = server;
    this.url = url;
    this.options = options;
    this.auth = options.auth;
    this.connected = false;
    this.listeners = new Map();
    this.connectCalls = 0;
    this.disconnectCalls = 0;
    this.volatile = { emit: (event, payload) => this.record(event, payload, true) };
  }

  on(event, handler) {
    if (!this.listeners.has(event)) this.listeners.set(event, []);
    this.listeners.get(event).push(handler);
    return this;
  }

  off(event, handler) {
    const list = this.listeners.get(event) ?? [];
    this.listeners.set(
      event,
      list.filter((h) => h !== handler),
    );
    return this;
  }

  removeAllListeners() {
    this.listeners.clear();
    return this;
  }

  /** The server sends an event (or the client library reports one). */
  fire(event, ...args) {
    for (const h of [...(this.listeners.get(event) ?? [])]) h(...args);
  }

  /** The handshake succeeds. */
  up() {
    this.connected = true;
    this.fire('connect');
  }

  /** The connection drops. */
  drop(reason = 'transport close') {
    this.connected = false;
    this.fire('disconnect', reason);
  }

  connect() {
    this.connectCalls += 1;
    return this;
  }

  disconnect() {
    this.disconnectCalls += 1;
    this.connected = false;
    return this;
  }

  record(event, payload, volatile = false) {
    this.server.emitted.push({ event, payload, volatile });
    return this.server.handlers.get(event);
  }

  emit(event, payload) {
    const handler = this.record(event, payload);
    handler?.(payload, this);
    return this;
  }

  timeout(ms) {
    return {
      emit: (event, payload, cb) => {
        const handler = this.record(event, payload);
        Promise.resolve(handler ? handler(payload, this) : undefined).then((ack) => {
          if (ack === undefined) setTimeout(() => cb(new Error('operation has timed out')), ms);
          else cb(null, ack);
        });
        return this;
      },
    };
  }
}

/**
 * A fetch for REST routes: `routes['GET /api/chat/unread'] = (req) => body`
 * (or `{ status, body }` via `reply`, or a thrown error for no answer).
 * `calls` lists `{ method, path, query, body, headers }`.
 */
export function fakeFetch(routes = {}) {
  const calls = [];
  async function fetch(url, init = {}) {
    const u = new URL(url, 'http://page.example');
    const req = {
      method: init.method ?? 'GET',
      url,
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      body: init.body === undefined ? undefined : JSON.parse(init.body),
      headers: init.headers ?? {},
    };
    calls.push(req);
    const handler = routes[`${req.method} ${req.path}`];
    let out = handler ? await handler(req) : reply(404, { error: { code: 'not_found', message: `no route ${req.path}` } });
    if (!(out && out[REPLY])) out = reply(200, out);
    const text = out.body === undefined ? '' : typeof out.body === 'string' ? out.body : JSON.stringify(out.body);
    return { ok: out.status >= 200 && out.status < 300, status: out.status, text: async () => text };
  }
  return Object.assign(fetch, { calls, routes });
}

const REPLY = Symbol('reply');

export function reply(status, body) {
  return { [REPLY]: true, status, body };
}
