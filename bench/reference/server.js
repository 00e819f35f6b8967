// The baseline of souk's benchmark: the chat backend as the seed's own stack
// would run it — Express and Socket.IO v4 on one Node.js process, state in
// memory (nothing persisted), with the routes, events and payloads of
// the repository's docs/api.md that the load and a chat client use.
//
// It is meant to be a fair, strong baseline, so it follows the Socket.IO
// performance guide and the usual Express production advice:
// - `bufferutil` installed (ws masks and unmasks frames natively);
// - the handshake's HTTP request is dropped once a socket is connected
//   (`rawSocket.request = null`), which saves memory per socket;
// - no per-message deflate (Socket.IO's default), no ETag, no x-powered-by;
// - run with NODE_ENV=production;
// - every lookup is a Map hit; unread counts are kept incrementally, never
//   recounted; each broadcast is serialized once by Socket.IO.
// Tokens are verified on every request and every handshake (HS256).
//
// Usage: JWT_SECRET=... node server.js [--http-addr 127.0.0.1:0]
// Prints {"event":"listening","http":"HOST:PORT","socket":"HOST:PORT"} once
// it listens (Express and Socket.IO share one port, as the seed's did).

'use strict';

const crypto = require('node:crypto');
const http = require('node:http');
const express = require('express');
const jwt = require('jsonwebtoken');
const { Server } = require('socket.io');

// ---------------------------------------------------------------- settings

function flag(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const SECRET = flag('--jwt-secret') || process.env.JWT_SECRET || process.env.SOUK_JWT_SECRET;
if (!SECRET || SECRET.length < 16) {
  console.error('set JWT_SECRET (at least 16 characters)');
  process.exit(2);
}
const ADDR = flag('--http-addr') || process.env.HTTP_ADDR || '127.0.0.1:8090';
const [HOST, PORT] = splitAddr(ADDR);

function splitAddr(addr) {
  const i = addr.lastIndexOf(':');
  return [addr.slice(0, i), Number(addr.slice(i + 1))];
}

// A KeyObject, made once: given the secret as a string, jsonwebtoken first
// tries (and fails) to parse it as a PEM public key on every verify, which
// costs more than the rest of a request.
const KEY = crypto.createSecretKey(Buffer.from(SECRET));

const TEXT_MAX = 4000;
const CLIENT_ID_MAX = 64;
const TYPING_EXPIRY_MS = 5000;
const ID_RE = /^[A-Za-z0-9_.:@-]{1,128}$/;

// ------------------------------------------------------------------ errors

const STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
};

class ApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
  get status() {
    return STATUS[this.code] || 500;
  }
  toJSON() {
    return { code: this.code, message: this.message };
  }
}

const invalid = (m) => new ApiError('invalid_request', m);
const notFound = (m) => new ApiError('not_found', m);

// ------------------------------------------------------------------- state

/** id -> conversation */
const conversations = new Map();
/** "customerId\0vendorId" -> conversation id */
const byPair = new Map();
/** message id -> message */
const messagesById = new Map();
/** "role:id" -> Set of conversation ids */
const userConversations = new Map();
/** "role:id" -> total unread */
const totalUnread = new Map();
/** "role:id" -> { sockets, lastSeenAt } */
const presence = new Map();
/** "conversation:role:id" -> typing expiry timer */
const typingTimers = new Map();

const key = (role, id) => `${role}:${id}`;
const other = (role) => (role === 'customer' ? 'vendor' : 'customer');
const personalRoom = (role, id) => `user:${role}:${id}`;
const chatRoom = (conversationId) => `chat:${conversationId}`;
const now = () => new Date().toISOString();

// Message ids are UUID v7 (time-ordered), as in docs/api.md.
function uuidv7() {
  const b = crypto.randomBytes(16);
  const ms = Date.now();
  b[0] = Math.floor(ms / 2 ** 40) & 0xff;
  b[1] = Math.floor(ms / 2 ** 32) & 0xff;
  b[2] = (ms >>> 24) & 0xff;
  b[3] = (ms >>> 16) & 0xff;
  b[4] = (ms >>> 8) & 0xff;
  b[5] = ms & 0xff;
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function addTotal(role, id, delta) {
  const k = key(role, id);
  const n = (totalUnread.get(k) || 0) + delta;
  totalUnread.set(k, n);
  return n;
}

function participantView(role, id, name) {
  const p = presence.get(key(role, id));
  const view = { id, name: name || null, online: !!p && p.sockets > 0 };
  if (!view.online && p && p.lastSeenAt) view.lastSeenAt = p.lastSeenAt;
  return view;
}

function conversationView(c, user) {
  return {
    id: c.id,
    customer: participantView('customer', c.customerId, c.customerName),
    vendor: participantView('vendor', c.vendorId, c.vendorName),
    product: c.product,
    lastMessage: c.messages.length ? c.messages[c.messages.length - 1] : null,
    unreadCount: c.unread[user.role],
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
  };
}

/** The conversation if `user` takes part in it, else not_found. */
function ownConversation(user, conversationId) {
  const c = typeof conversationId === 'string' ? conversations.get(conversationId) : undefined;
  if (!c || (user.role === 'customer' ? c.customerId : c.vendorId) !== user.id) {
    throw notFound(`conversation ${conversationId} not found`);
  }
  return c;
}

// --------------------------------------------------------------- parsing

function str(body, field, { required = false, max = Infinity } = {}) {
  const v = body[field];
  if (v === undefined || v === null) {
    if (required) throw invalid(`${field}: required`);
    return undefined;
  }
  if (typeof v !== 'string') throw invalid(`${field}: must be a string`);
  if (v.length > max) throw invalid(`${field}: at most ${max} characters`);
  return v;
}

function userId(body, field, required = true) {
  const v = str(body, field, { required });
  if (v !== undefined && !ID_RE.test(v)) throw invalid(`${field}: 1 to 128 of [A-Za-z0-9_.:@-]`);
  return v;
}

function product(body, field) {
  const p = body[field];
  if (p === undefined || p === null) return null;
  if (typeof p !== 'object' || Array.isArray(p)) throw invalid(`${field}: must be an object`);
  const id = userId(p, 'id');
  const name = str(p, 'name', { required: true, max: 200 }).trim();
  if (!name) throw invalid(`${field}.name: must not be empty`);
  const card = { id, name };
  if (p.priceMinor !== undefined) {
    if (!Number.isSafeInteger(p.priceMinor) || p.priceMinor < 0) {
      throw invalid(`${field}.priceMinor: must be a non-negative integer`);
    }
    card.priceMinor = p.priceMinor;
  }
  for (const f of ['currency', 'imageUrl', 'url']) {
    const v = str(p, f, { max: f === 'currency' ? 3 : 2048 });
    if (v !== undefined) card[f] = v;
  }
  return card;
}

function object(body, what) {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw invalid(`${what}: the payload must be a JSON object`);
  }
  return body;
}

// -------------------------------------------------------------- operations

function openConversation(user, body) {
  object(body, 'conversation');
  const otherRole = other(user.role);
  const otherId = userId(body, `${otherRole}Id`);
  const otherName = str(body, `${otherRole}Name`, { max: 100 });
  const card = product(body, 'product');
  const customerId = user.role === 'customer' ? user.id : otherId;
  const vendorId = user.role === 'vendor' ? user.id : otherId;
  const pair = `${customerId}\u0000${vendorId}`;
  const existing = byPair.get(pair);
  if (existing) return { created: false, conversation: conversations.get(existing) };
  const at = now();
  const c = {
    id: crypto.randomUUID(),
    customerId,
    vendorId,
    customerName: user.role === 'customer' ? user.name : otherName,
    vendorName: user.role === 'vendor' ? user.name : otherName,
    product: card,
    messages: [],
    byClientId: new Map(),
    readSeq: { customer: 0, vendor: 0 },
    readAt: { customer: null, vendor: null },
    unread: { customer: 0, vendor: 0 },
    createdAt: at,
    updatedAt: at,
  };
  conversations.set(c.id, c);
  byPair.set(pair, c.id);
  for (const [role, id] of [['customer', customerId], ['vendor', vendorId]]) {
    const k = key(role, id);
    let set = userConversations.get(k);
    if (!set) userConversations.set(k, (set = new Set()));
    set.add(c.id);
  }
  return { created: true, conversation: c };
}

function sendMessage(user, body) {
  object(body, 'send_message');
  const c = ownConversation(user, str(body, 'conversationId', { required: true }));
  const card = product(body, 'product');
  let text = str(body, 'text');
  if (text !== undefined) {
    text = text.trim();
    if (!text) {
      if (!card) throw invalid('text: must not be empty');
      text = null;
    } else if (text.length > TEXT_MAX) {
      throw invalid(`text: at most ${TEXT_MAX} characters`);
    }
  } else if (!card) {
    throw invalid('a message needs text or a product');
  }
  const clientMessageId = str(body, 'clientMessageId', { max: CLIENT_ID_MAX });
  if (clientMessageId !== undefined) {
    const earlier = c.byClientId.get(clientMessageId);
    if (earlier) return { created: false, message: earlier };
  }
  const at = now();
  const message = {
    id: uuidv7(),
    conversationId: c.id,
    seq: c.messages.length + 1,
    sender: { id: user.id, role: user.role },
    kind: card ? 'product' : 'text',
    text: text ?? null,
    product: card,
    clientMessageId: clientMessageId ?? null,
    sentAt: at,
    readAt: null,
  };
  c.messages.push(message);
  messagesById.set(message.id, message);
  if (clientMessageId !== undefined) c.byClientId.set(clientMessageId, message);
  c.updatedAt = at;
  const to = other(user.role);
  const toId = to === 'customer' ? c.customerId : c.vendorId;
  c.unread[to] += 1;
  const total = addTotal(to, toId, 1);
  stopTyping(c, user);
  io.to(chatRoom(c.id)).emit('receive_message', message);
  io.to(personalRoom(to, toId)).emit('new_chat_message', {
    conversationId: c.id,
    message,
    unreadCount: c.unread[to],
    totalUnread: total,
  });
  return { created: true, message };
}

/** Marks the other side's messages up to `seq` read; tells everyone. */
function markRead(user, c, seq, messageId) {
  const at = now();
  let marked = 0;
  for (let s = c.readSeq[user.role] + 1; s <= seq; s++) {
    const m = c.messages[s - 1];
    if (m.sender.role !== user.role && m.readAt === null) {
      m.readAt = at;
      marked += 1;
    }
  }
  if (seq > c.readSeq[user.role]) c.readSeq[user.role] = seq;
  if (marked > 0 || !c.readAt[user.role]) c.readAt[user.role] = at;
  const readAt = c.readAt[user.role];
  let total = totalUnread.get(key(user.role, user.id)) || 0;
  if (marked > 0) {
    c.unread[user.role] -= marked;
    total = addTotal(user.role, user.id, -marked);
    const otherRole = other(user.role);
    const otherId = otherRole === 'customer' ? c.customerId : c.vendorId;
    const targets = io.to(chatRoom(c.id)).to(personalRoom(otherRole, otherId));
    if (messageId) {
      targets.emit('message_read', { conversationId: c.id, messageId, readerId: user.id, readAt });
    } else {
      targets.emit('all_messages_read', { conversationId: c.id, readerId: user.id, readAt });
    }
    io.to(personalRoom(user.role, user.id)).emit('unread_count', {
      conversationId: c.id,
      unreadCount: c.unread[user.role],
      totalUnread: total,
    });
  }
  return { conversationId: c.id, readAt, unreadCount: c.unread[user.role] };
}

function readMessage(user, messageId, conversationId) {
  const m = typeof messageId === 'string' ? messagesById.get(messageId) : undefined;
  if (!m || (conversationId !== undefined && m.conversationId !== conversationId)) {
    throw notFound(`message ${messageId} not found`);
  }
  const c = ownConversation(user, m.conversationId);
  const receipt = markRead(user, c, m.seq, m.id);
  return { conversationId: c.id, messageId: m.id, readAt: receipt.readAt, unreadCount: receipt.unreadCount };
}

function readAll(user, conversationId) {
  const c = ownConversation(user, conversationId);
  return markRead(user, c, c.messages.length, null);
}

function unread(user) {
  const out = {};
  for (const id of userConversations.get(key(user.role, user.id)) || []) {
    const n = conversations.get(id).unread[user.role];
    if (n > 0) out[id] = n;
  }
  return { total: totalUnread.get(key(user.role, user.id)) || 0, conversations: out };
}

function typing(user, conversationId, start) {
  const c = ownConversation(user, conversationId);
  const k = `${c.id}:${key(user.role, user.id)}`;
  if (start) {
    const had = typingTimers.get(k);
    if (had) clearTimeout(had);
    else
      io.to(chatRoom(c.id))
        .except(personalRoom(user.role, user.id))
        .emit('user_typing', { conversationId: c.id, userId: user.id });
    typingTimers.set(k, setTimeout(() => stopTyping(c, user), TYPING_EXPIRY_MS));
  } else {
    stopTyping(c, user, 'stopped');
  }
}

function stopTyping(c, user) {
  const k = `${c.id}:${key(user.role, user.id)}`;
  const timer = typingTimers.get(k);
  if (!timer) return;
  clearTimeout(timer);
  typingTimers.delete(k);
  io.to(chatRoom(c.id))
    .except(personalRoom(user.role, user.id))
    .emit('user_stopped_typing', { conversationId: c.id, userId: user.id });
}

function counterpartRooms(user) {
  const rooms = [];
  for (const id of userConversations.get(key(user.role, user.id)) || []) {
    const c = conversations.get(id);
    rooms.push(user.role === 'customer' ? personalRoom('vendor', c.vendorId) : personalRoom('customer', c.customerId));
  }
  return rooms;
}

// -------------------------------------------------------------------- auth

function verify(token) {
  const claims = jwt.verify(token, KEY, { algorithms: ['HS256'] });
  if (typeof claims.sub !== 'string' || !ID_RE.test(claims.sub)) throw new Error('bad sub');
  if (claims.role !== 'customer' && claims.role !== 'vendor') throw new Error('bad role');
  if (typeof claims.exp !== 'number') throw new Error('no exp');
  return { id: claims.sub, role: claims.role, name: typeof claims.name === 'string' ? claims.name : null };
}

function authenticate(side) {
  return (req, res, next) => {
    const h = req.headers.authorization;
    let user;
    try {
      if (!h || !h.startsWith('Bearer ')) throw new Error('missing bearer token');
      user = verify(h.slice(7));
    } catch (e) {
      return next(new ApiError('unauthorized', `invalid token: ${e.message}`));
    }
    if (side && user.role !== side) {
      return next(new ApiError('forbidden', `these routes are for ${side}s; the token is a ${user.role}'s`));
    }
    req.user = user;
    next();
  };
}

// -------------------------------------------------------------------- REST

function limitOf(q, dflt, max) {
  if (q === undefined) return dflt;
  const n = Number(q);
  if (!Number.isInteger(n) || n < 1 || n > max) throw invalid(`limit: must be an integer from 1 to ${max}`);
  return n;
}

function seqOf(q, name) {
  if (q === undefined) return undefined;
  const n = Number(q);
  if (!Number.isInteger(n) || n < 0) throw invalid(`${name}: must be a non-negative integer`);
  return n;
}

function chatRouter(side) {
  const r = express.Router();
  r.use(authenticate(side));

  r.post('/conversation', (req, res) => {
    const { created, conversation } = openConversation(req.user, req.body);
    res.status(created ? 201 : 200).json(conversationView(conversation, req.user));
  });

  r.get('/conversations', (req, res) => {
    const limit = limitOf(req.query.limit, 20, 100);
    const offset = req.query.cursor ? Number(req.query.cursor) || 0 : 0;
    const search = typeof req.query.search === 'string' ? req.query.search.trim().toLowerCase() : '';
    let list = [...(userConversations.get(key(req.user.role, req.user.id)) || [])].map((id) => conversations.get(id));
    if (search) {
      list = list.filter((c) => {
        const otherName = (req.user.role === 'customer' ? c.vendorName : c.customerName) || '';
        return (
          otherName.toLowerCase().includes(search) ||
          (c.product && c.product.name.toLowerCase().includes(search)) ||
          c.messages.some((m) => m.text && m.text.toLowerCase().includes(search))
        );
      });
    }
    list.sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : 0));
    const page = list.slice(offset, offset + limit).map((c) => conversationView(c, req.user));
    res.json({
      conversations: page,
      nextCursor: offset + limit < list.length ? String(offset + limit) : null,
      totalUnread: totalUnread.get(key(req.user.role, req.user.id)) || 0,
    });
  });

  r.get('/unread', (req, res) => res.json(unread(req.user)));

  r.get('/:conversationId/messages', (req, res) => {
    const c = ownConversation(req.user, req.params.conversationId);
    const limit = limitOf(req.query.limit, 30, 100);
    const before = seqOf(req.query.before, 'before');
    const after = seqOf(req.query.after, 'after');
    const all = c.messages;
    let page;
    let hasMore;
    if (after !== undefined) {
      page = all.slice(after, after + limit);
      hasMore = after + limit < all.length;
    } else {
      const end = before !== undefined ? Math.min(Math.max(before - 1, 0), all.length) : all.length;
      const begin = Math.max(0, end - limit);
      page = all.slice(begin, end);
      hasMore = begin > 0;
    }
    res.json({ messages: page, hasMore });
  });

  r.post('/send', (req, res) => {
    const { created, message } = sendMessage(req.user, req.body);
    res.status(created ? 201 : 200).json({ message });
  });

  r.put('/message/:messageId/read', (req, res) => res.json(readMessage(req.user, req.params.messageId)));

  r.put('/:conversationId/read', (req, res) => res.json(readAll(req.user, req.params.conversationId)));

  return r;
}

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.use(express.json({ limit: '64kb' }));
app.get('/healthz', (req, res) => res.json({ status: 'ok' }));
app.use('/api/chat', chatRouter('customer'));
app.use('/api/vendor/chat', chatRouter('vendor'));
app.use((req, res) => res.status(404).json({ error: { code: 'not_found', message: `no route ${req.method} ${req.path}` } }));
// eslint-disable-next-line no-unused-vars
app.use((err, req, res, next) => {
  let e = err;
  if (!(e instanceof ApiError)) {
    if (err.type === 'entity.too.large') e = new ApiError('payload_too_large', 'the body is larger than 64 KiB');
    else if (err.type === 'entity.parse.failed') e = invalid('the body is not valid JSON');
    else {
      console.error(err);
      e = new ApiError('internal', 'internal error');
    }
  }
  res.status(e.status).json({ error: e });
});

// --------------------------------------------------------------- Socket.IO

const server = http.createServer(app);
const io = new Server(server, { cors: { origin: true } });

// Performance guide: the handshake request is not needed once connected.
io.engine.on('connection', (rawSocket) => {
  rawSocket.request = null;
});

io.use((socket, next) => {
  try {
    const token = socket.handshake.auth && socket.handshake.auth.token;
    if (typeof token !== 'string') throw new Error('no token');
    socket.data.user = verify(token);
    next();
  } catch {
    next(new Error('unauthorized'));
  }
});

/** Runs a client event: the ack gets `{ok:true,...}` or `{ok:false,error}`. */
function handle(fn) {
  return (payload, ack) => {
    if (typeof payload === 'function') {
      ack = payload;
      payload = undefined;
    }
    let reply;
    try {
      reply = { ok: true, ...fn(payload) };
    } catch (e) {
      if (!(e instanceof ApiError)) console.error(e);
      reply = { ok: false, error: e instanceof ApiError ? e : { code: 'internal', message: 'internal error' } };
    }
    if (typeof ack === 'function') ack(reply);
  };
}

io.on('connection', (socket) => {
  const user = socket.data.user;
  const k = key(user.role, user.id);
  socket.join(personalRoom(user.role, user.id));
  let p = presence.get(k);
  if (!p) presence.set(k, (p = { sockets: 0, lastSeenAt: null }));
  p.sockets += 1;
  if (p.sockets === 1) {
    const rooms = counterpartRooms(user);
    if (rooms.length) io.to(rooms).emit('user_online', { userId: user.id });
  }

  socket.on(
    'join_chat_room',
    handle((payload) => {
      object(payload, 'join_chat_room');
      const c = ownConversation(user, str(payload, 'conversationId', { required: true }));
      const since = payload.sinceSeq === undefined || payload.sinceSeq === null ? undefined : seqOf(payload.sinceSeq, 'sinceSeq');
      let replayed = 0;
      if (since !== undefined) {
        for (let s = since; s < c.messages.length; s++) {
          socket.emit('receive_message', c.messages[s]);
          replayed += 1;
        }
      }
      socket.join(chatRoom(c.id));
      return { conversationId: c.id, replayed };
    }),
  );

  socket.on(
    'leave_chat_room',
    handle((payload) => {
      object(payload, 'leave_chat_room');
      const id = str(payload, 'conversationId', { required: true });
      socket.leave(chatRoom(id));
      return { conversationId: id };
    }),
  );

  socket.on('typing_start', handle((payload) => void typing(user, object(payload, 'typing_start').conversationId, true)));
  socket.on('typing_stop', handle((payload) => void typing(user, object(payload, 'typing_stop').conversationId, false)));

  socket.on(
    'send_message',
    handle((payload) => {
      const { created, message } = sendMessage(user, payload);
      return { message, duplicate: !created };
    }),
  );

  socket.on(
    'mark_read',
    handle((payload) => {
      object(payload, 'mark_read');
      const conversationId = str(payload, 'conversationId', { required: true });
      const messageId = str(payload, 'messageId');
      const r = messageId === undefined ? readAll(user, conversationId) : readMessage(user, messageId, conversationId);
      return { unreadCount: r.unreadCount };
    }),
  );

  socket.on('disconnect', () => {
    p.sockets -= 1;
    if (p.sockets === 0) {
      p.lastSeenAt = now();
      const rooms = counterpartRooms(user);
      if (rooms.length) io.to(rooms).emit('user_offline', { userId: user.id, lastSeenAt: p.lastSeenAt });
    }
  });
});

server.listen(PORT, HOST, () => {
  const a = server.address();
  const addr = `${a.address}:${a.port}`;
  process.stdout.write(`${JSON.stringify({ event: 'listening', http: addr, socket: addr })}\n`);
});

function shutdown() {
  io.close();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
