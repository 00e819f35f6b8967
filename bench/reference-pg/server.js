// The durable peer of souk's benchmark: the chat backend as a marketplace's
// seed would run it in production — Express and Socket.IO v4 on one Node.js
// process, every message committed to PostgreSQL before anyone hears of it —
// with the routes, events and payloads of the repository's docs/api.md that
// the load and a chat client use.
//
// Each send is one transaction: the conversation row is updated (its next
// seq, updatedAt, the recipient's unread counter; the row lock orders the
// sends of one conversation) and the message inserted; after COMMIT (with
// PostgreSQL's default synchronous_commit = on, so the message is on disk)
// it is emitted to the room and to the recipient. Written to be strong, not
// a strawman:
// - one pg Pool (default 10 connections, PG_POOL_SIZE), named prepared
//   statements (parsed and planned once per connection);
// - the recipient's unread total comes back from the same statement that
//   updates the conversation (one round trip, not two);
// - the indexes every query needs, and no others;
// - the Socket.IO and Express advice of the in-memory reference
//   (bench/reference): bufferutil, the handshake request dropped after
//   connect, no ETag, no x-powered-by, NODE_ENV=production; tokens verified
//   with a KeyObject made once.
// What it leaves out of docs/api.md: product cards, typing, presence,
// search. History (with catch-up on join), unread figures and reads are in.
//
// Usage: DATABASE_URL=postgres://... JWT_SECRET=... node server.js
//        [--http-addr 127.0.0.1:0] [--schema NAME]
// --schema (or PG_SCHEMA) puts the tables in their own schema (created when
// missing): the benchmark gives every run a fresh one. Prints
// {"event":"listening","http":"HOST:PORT","socket":"HOST:PORT"} once it
// listens (Express and Socket.IO share one port).

'use strict';

const crypto = require('node:crypto');
const http = require('node:http');
const express = require('express');
const jwt = require('jsonwebtoken');
const pg = require('pg');
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
const DATABASE_URL = flag('--database-url') || process.env.DATABASE_URL;
if (!DATABASE_URL) {
  console.error('set DATABASE_URL (postgres://user@host:port/db)');
  process.exit(2);
}
const SCHEMA = flag('--schema') || process.env.PG_SCHEMA || 'public';
if (!/^[a-z_][a-z0-9_]{0,62}$/.test(SCHEMA)) {
  console.error('the schema name must be lower-case letters, digits and _');
  process.exit(2);
}
const POOL_SIZE = Number(process.env.PG_POOL_SIZE || 10);
const ADDR = flag('--http-addr') || process.env.HTTP_ADDR || '127.0.0.1:8092';
const [HOST, PORT] = [ADDR.slice(0, ADDR.lastIndexOf(':')), Number(ADDR.slice(ADDR.lastIndexOf(':') + 1))];
const KEY = crypto.createSecretKey(Buffer.from(SECRET));

const TEXT_MAX = 4000;
const CLIENT_ID_MAX = 64;
const REPLAY_MAX = 500;
const ID_RE = /^[A-Za-z0-9_.:@-]{1,128}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// ------------------------------------------------------------------ errors

const STATUS = { invalid_request: 400, unauthorized: 401, forbidden: 403, not_found: 404, payload_too_large: 413 };

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
const other = (role) => (role === 'customer' ? 'vendor' : 'customer');
const personalRoom = (role, id) => `user:${role}:${id}`;
const chatRoom = (conversationId) => `chat:${conversationId}`;

function uuidv7() {
  const b = crypto.randomBytes(16);
  const ms = Date.now();
  b.writeUIntBE(ms, 0, 6);
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function object(body, what) {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalid(`${what}: the payload must be a JSON object`);
  return body;
}

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

function conversationIdOf(body) {
  const id = str(body, 'conversationId', { required: true });
  if (!UUID_RE.test(id)) throw invalid('conversationId: must be a UUID');
  return id;
}

function seqOf(v, name) {
  if (v === undefined || v === null) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw invalid(`${name}: must be a non-negative integer`);
  return n;
}

// ---------------------------------------------------------------- database

const pool = new pg.Pool({
  connectionString: DATABASE_URL,
  max: POOL_SIZE,
  options: `-c search_path=${SCHEMA}`,
});

const SCHEMA_SQL = `
CREATE SCHEMA IF NOT EXISTS ${SCHEMA};
CREATE TABLE IF NOT EXISTS ${SCHEMA}.conversations (
  id uuid PRIMARY KEY,
  customer_id text NOT NULL,
  vendor_id text NOT NULL,
  customer_name text,
  vendor_name text,
  last_seq integer NOT NULL DEFAULT 0,
  customer_unread integer NOT NULL DEFAULT 0,
  vendor_unread integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  UNIQUE (customer_id, vendor_id)
);
CREATE INDEX IF NOT EXISTS conversations_by_vendor ON ${SCHEMA}.conversations (vendor_id);
CREATE TABLE IF NOT EXISTS ${SCHEMA}.messages (
  id uuid PRIMARY KEY,
  conversation_id uuid NOT NULL REFERENCES ${SCHEMA}.conversations (id),
  seq integer NOT NULL,
  sender_id text NOT NULL,
  sender_role text NOT NULL,
  text text NOT NULL,
  client_message_id text,
  sent_at timestamptz NOT NULL,
  read_at timestamptz,
  UNIQUE (conversation_id, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_client_id
  ON ${SCHEMA}.messages (conversation_id, client_message_id) WHERE client_message_id IS NOT NULL;
`;

// Named statements: each connection parses and plans them once.
const SQL = {
  openAsCustomer: `INSERT INTO conversations (id, customer_id, vendor_id, customer_name, vendor_name, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, now(), now())
    ON CONFLICT (customer_id, vendor_id) DO UPDATE SET customer_name = COALESCE(EXCLUDED.customer_name, conversations.customer_name)
    RETURNING *, (xmax = 0) AS created`,
  openAsVendor: `INSERT INTO conversations (id, customer_id, vendor_id, customer_name, vendor_name, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, now(), now())
    ON CONFLICT (customer_id, vendor_id) DO UPDATE SET vendor_name = COALESCE(EXCLUDED.vendor_name, conversations.vendor_name)
    RETURNING *, (xmax = 0) AS created`,
  participants: 'SELECT customer_id, vendor_id FROM conversations WHERE id = $1',
  // The sender's conversation gets its next seq and the recipient one more
  // unread; the recipient's total over their conversations comes back too.
  bumpFromCustomer: `WITH c AS (
      UPDATE conversations SET last_seq = last_seq + 1, vendor_unread = vendor_unread + 1, updated_at = $3
      WHERE id = $1 AND customer_id = $2 RETURNING id, vendor_id AS recipient, last_seq, vendor_unread AS unread)
    SELECT c.recipient, c.last_seq AS seq, c.unread,
      c.unread + (SELECT COALESCE(sum(o.vendor_unread), 0) FROM conversations o WHERE o.vendor_id = c.recipient AND o.id <> c.id)::int AS total
    FROM c`,
  bumpFromVendor: `WITH c AS (
      UPDATE conversations SET last_seq = last_seq + 1, customer_unread = customer_unread + 1, updated_at = $3
      WHERE id = $1 AND vendor_id = $2 RETURNING id, customer_id AS recipient, last_seq, customer_unread AS unread)
    SELECT c.recipient, c.last_seq AS seq, c.unread,
      c.unread + (SELECT COALESCE(sum(o.customer_unread), 0) FROM conversations o WHERE o.customer_id = c.recipient AND o.id <> c.id)::int AS total
    FROM c`,
  insertMessage: `INSERT INTO messages (id, conversation_id, seq, sender_id, sender_role, text, client_message_id, sent_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (conversation_id, client_message_id) WHERE client_message_id IS NOT NULL DO NOTHING
    RETURNING id`,
  byClientId: 'SELECT * FROM messages WHERE conversation_id = $1 AND client_message_id = $2',
  after: 'SELECT * FROM messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
  before: 'SELECT * FROM messages WHERE conversation_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3',
  seqOfMessage: 'SELECT seq FROM messages WHERE id = $1 AND conversation_id = $2',
  markRead: `UPDATE messages SET read_at = $4 WHERE conversation_id = $1 AND seq <= $2 AND sender_role = $3 AND read_at IS NULL
    RETURNING id, seq`,
  readByCustomer: `UPDATE conversations SET customer_unread = customer_unread - $2 WHERE id = $1 RETURNING customer_unread AS unread`,
  readByVendor: `UPDATE conversations SET vendor_unread = vendor_unread - $2 WHERE id = $1 RETURNING vendor_unread AS unread`,
  unreadOfCustomer: 'SELECT id, customer_unread AS n FROM conversations WHERE customer_id = $1 AND customer_unread > 0',
  unreadOfVendor: 'SELECT id, vendor_unread AS n FROM conversations WHERE vendor_id = $1 AND vendor_unread > 0',
};

const q = (db, name, values) => db.query({ name, text: SQL[name], values });

async function inTransaction(fn) {
  const db = await pool.connect();
  try {
    await db.query('BEGIN');
    const out = await fn(db);
    await db.query(out && out.rollback ? 'ROLLBACK' : 'COMMIT');
    return out;
  } catch (e) {
    await db.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    db.release();
  }
}

function messageOf(row) {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    seq: row.seq,
    sender: { id: row.sender_id, role: row.sender_role },
    kind: 'text',
    text: row.text,
    product: null,
    clientMessageId: row.client_message_id,
    sentAt: row.sent_at.toISOString(),
    readAt: row.read_at ? row.read_at.toISOString() : null,
  };
}

/** Rejects unless `user` takes part in the conversation. */
async function checkParticipant(user, conversationId) {
  const { rows } = await q(pool, 'participants', [conversationId]);
  const c = rows[0];
  if (!c || (user.role === 'customer' ? c.customer_id : c.vendor_id) !== user.id) {
    throw notFound(`conversation ${conversationId} not found`);
  }
  return c;
}

// -------------------------------------------------------------- operations

async function openConversation(user, body) {
  object(body, 'conversation');
  const otherRole = other(user.role);
  const otherId = str(body, `${otherRole}Id`, { required: true });
  if (!ID_RE.test(otherId)) throw invalid(`${otherRole}Id: 1 to 128 of [A-Za-z0-9_.:@-]`);
  const otherName = str(body, `${otherRole}Name`, { max: 100 }) ?? null;
  const customer = user.role === 'customer' ? [user.id, user.name] : [otherId, otherName];
  const vendor = user.role === 'vendor' ? [user.id, user.name] : [otherId, otherName];
  const name = user.role === 'customer' ? 'openAsCustomer' : 'openAsVendor';
  const { rows } = await q(pool, name, [crypto.randomUUID(), customer[0], vendor[0], customer[1], vendor[1]]);
  const c = rows[0];
  return {
    created: c.created,
    view: {
      id: c.id,
      customer: { id: c.customer_id, name: c.customer_name },
      vendor: { id: c.vendor_id, name: c.vendor_name },
      product: null,
      unreadCount: user.role === 'customer' ? c.customer_unread : c.vendor_unread,
      createdAt: c.created_at.toISOString(),
      updatedAt: c.updated_at.toISOString(),
    },
  };
}

async function sendMessage(user, body) {
  object(body, 'send_message');
  const conversationId = conversationIdOf(body);
  let text = str(body, 'text', { required: true }).trim();
  if (!text) throw invalid('text: must not be empty');
  if (text.length > TEXT_MAX) throw invalid(`text: at most ${TEXT_MAX} characters`);
  const clientMessageId = str(body, 'clientMessageId', { max: CLIENT_ID_MAX }) ?? null;
  const sentAt = new Date();
  const id = uuidv7();
  const out = await inTransaction(async (db) => {
    const bump = user.role === 'customer' ? 'bumpFromCustomer' : 'bumpFromVendor';
    const { rows } = await q(db, bump, [conversationId, user.id, sentAt]);
    if (rows.length === 0) throw notFound(`conversation ${conversationId} not found`);
    const c = rows[0];
    const inserted = await q(db, 'insertMessage', [id, conversationId, c.seq, user.id, user.role, text, clientMessageId, sentAt]);
    if (inserted.rowCount === 0) {
      // A repeat of a known clientMessageId: nothing recorded.
      const earlier = await q(db, 'byClientId', [conversationId, clientMessageId]);
      return { rollback: true, duplicate: messageOf(earlier.rows[0]) };
    }
    return { c };
  });
  if (out.duplicate) return { created: false, message: out.duplicate };
  const { c } = out;
  const message = {
    id,
    conversationId,
    seq: c.seq,
    sender: { id: user.id, role: user.role },
    kind: 'text',
    text,
    product: null,
    clientMessageId,
    sentAt: sentAt.toISOString(),
    readAt: null,
  };
  // Committed: now everyone may hear of it.
  io.to(chatRoom(conversationId)).emit('receive_message', message);
  io.to(personalRoom(other(user.role), c.recipient)).emit('new_chat_message', {
    conversationId,
    message,
    unreadCount: c.unread,
    totalUnread: c.total,
  });
  return { created: true, message };
}

/** Marks the other side's messages up to `seq` (all without it) read. */
async function markRead(user, conversationId, messageId) {
  const conv = await checkParticipant(user, conversationId);
  const readAt = new Date();
  const out = await inTransaction(async (db) => {
    let upTo = 2 ** 31 - 1;
    if (messageId !== undefined) {
      const { rows } = await q(db, 'seqOfMessage', [messageId, conversationId]);
      if (rows.length === 0) throw notFound(`message ${messageId} not found`);
      upTo = rows[0].seq;
    }
    const marked = await q(db, 'markRead', [conversationId, upTo, other(user.role), readAt]);
    const n = marked.rowCount;
    const counter = await q(db, user.role === 'customer' ? 'readByCustomer' : 'readByVendor', [conversationId, n]);
    const last = marked.rows.reduce((a, r) => (a && a.seq > r.seq ? a : r), null);
    return { n, unread: counter.rows[0].unread, last };
  });
  if (out.n > 0) {
    const otherRole = other(user.role);
    const otherId = otherRole === 'customer' ? conv.customer_id : conv.vendor_id;
    const targets = io.to(chatRoom(conversationId)).to(personalRoom(otherRole, otherId));
    if (messageId !== undefined) {
      targets.emit('message_read', { conversationId, messageId: out.last.id, readerId: user.id, readAt: readAt.toISOString() });
    } else {
      targets.emit('all_messages_read', { conversationId, readerId: user.id, readAt: readAt.toISOString() });
    }
  }
  return { conversationId, readAt: readAt.toISOString(), unreadCount: out.unread };
}

async function unread(user) {
  const { rows } = await q(pool, user.role === 'customer' ? 'unreadOfCustomer' : 'unreadOfVendor', [user.id]);
  const conversations = {};
  let total = 0;
  for (const r of rows) {
    conversations[r.id] = r.n;
    total += r.n;
  }
  return { total, conversations };
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
      if (!h || !/^bearer /i.test(h)) throw new Error('missing bearer token');
      user = verify(h.slice(7));
    } catch (e) {
      return next(new ApiError('unauthorized', `invalid token: ${e.message}`));
    }
    if (user.role !== side) return next(new ApiError('forbidden', `these routes are for ${side}s; the token is a ${user.role}'s`));
    req.user = user;
    next();
  };
}

// -------------------------------------------------------------------- REST

function chatRouter(side) {
  const r = express.Router();
  r.use(authenticate(side));
  r.post('/conversation', async (req, res) => {
    const { created, view } = await openConversation(req.user, req.body);
    res.status(created ? 201 : 200).json(view);
  });
  r.post('/send', async (req, res) => {
    const { created, message } = await sendMessage(req.user, req.body);
    res.status(created ? 201 : 200).json({ message });
  });
  r.get('/unread', async (req, res) => res.json(await unread(req.user)));
  r.get('/:conversationId/messages', async (req, res) => {
    const id = conversationIdOf(req.params);
    await checkParticipant(req.user, id);
    const limit = req.query.limit === undefined ? 30 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw invalid('limit: must be an integer from 1 to 100');
    const before = seqOf(req.query.before, 'before') ?? 2 ** 31 - 1;
    const { rows } = await q(pool, 'before', [id, before, limit + 1]);
    const hasMore = rows.length > limit;
    res.json({ messages: rows.slice(0, limit).reverse().map(messageOf), hasMore });
  });
  r.put('/:conversationId/read', async (req, res) => res.json(await markRead(req.user, conversationIdOf(req.params))));
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
  res.status(errorOf(err).status).json({ error: errorOf(err) });
});

function errorOf(err) {
  if (err instanceof ApiError) return err;
  if (err.type === 'entity.too.large') return new ApiError('payload_too_large', 'the body is larger than 64 KiB');
  if (err.type === 'entity.parse.failed') return invalid('the body is not valid JSON');
  console.error(err);
  return new ApiError('internal', 'internal error');
}

// --------------------------------------------------------------- Socket.IO

const server = http.createServer(app);
const io = new Server(server, { cors: { origin: true } });

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
  return async (payload, ack) => {
    if (typeof payload === 'function') {
      ack = payload;
      payload = undefined;
    }
    let reply;
    try {
      reply = { ok: true, ...(await fn(payload)) };
    } catch (e) {
      reply = { ok: false, error: errorOf(e) };
    }
    if (typeof ack === 'function') ack(reply);
  };
}

io.on('connection', (socket) => {
  const user = socket.data.user;
  socket.join(personalRoom(user.role, user.id));

  socket.on(
    'join_chat_room',
    handle(async (payload) => {
      object(payload, 'join_chat_room');
      const id = conversationIdOf(payload);
      const since = seqOf(payload.sinceSeq, 'sinceSeq');
      await checkParticipant(user, id);
      let replayed = 0;
      let hasMore = false;
      if (since !== undefined) {
        const { rows } = await q(pool, 'after', [id, since, REPLAY_MAX + 1]);
        hasMore = rows.length > REPLAY_MAX;
        for (const row of rows.slice(0, REPLAY_MAX)) {
          socket.emit('receive_message', messageOf(row));
          replayed += 1;
        }
      }
      socket.join(chatRoom(id));
      return hasMore ? { conversationId: id, replayed, hasMore } : { conversationId: id, replayed };
    }),
  );

  socket.on(
    'leave_chat_room',
    handle(async (payload) => {
      const id = conversationIdOf(object(payload, 'leave_chat_room'));
      socket.leave(chatRoom(id));
      return { conversationId: id };
    }),
  );

  socket.on(
    'send_message',
    handle(async (payload) => {
      const { created, message } = await sendMessage(user, payload);
      return { message, duplicate: !created };
    }),
  );

  socket.on(
    'mark_read',
    handle(async (payload) => {
      object(payload, 'mark_read');
      const id = conversationIdOf(payload);
      const messageId = str(payload, 'messageId');
      if (messageId !== undefined && !UUID_RE.test(messageId)) throw invalid('messageId: must be a UUID');
      return markRead(user, id, messageId);
    }),
  );
});

async function main() {
  await pool.query(SCHEMA_SQL);
  server.listen(PORT, HOST, () => {
    const a = server.address();
    const addr = `${a.address}:${a.port}`;
    process.stdout.write(`${JSON.stringify({ event: 'listening', http: addr, socket: addr })}\n`);
  });
}

function shutdown() {
  io.close();
  server.close(() => pool.end().finally(() => process.exit(0)));
  setTimeout(() => process.exit(0), 3000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
