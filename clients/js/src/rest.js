// The REST side of the wire contract (docs/api.md), for both sides.
//
// Customer routes live under /api/chat, vendor routes under /api/vendor/chat;
// every call carries `Authorization: Bearer <token>`. A failed call rejects with
// an ApiError that carries the server's `{ error: { code, message } }`, or the
// code `network` when the server could not be reached at all.
//
// Paths are relative to `baseUrl` ('' by default: the page's own origin, as for
// the bundled web app); a marketplace whose pages live on another origin passes
// souk's HTTP address (and sets SOUK_CORS_ORIGINS on the server). `fetch` can
// be replaced (tests, server-side rendering).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }

  /** Worth trying again later with the same request (idempotent sends). */
  get retryable() {
    return (
      this.code === 'network' ||
      this.code === 'timeout' ||
      this.code === 'unavailable' ||
      this.code === 'rate_limited' ||
      this.status >= 500
    );
  }
}

const CODE_BY_STATUS = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  429: 'rate_limited',
  503: 'unavailable',
};

/** Turns an `{ error: { code, message } }` body (or anything else) into an ApiError. */
export function errorFrom(status, body) {
  const err = body && typeof body === 'object' ? body.error : null;
  const code = err?.code ?? CODE_BY_STATUS[status] ?? 'internal';
  const message = err?.message ?? `request failed with status ${status}`;
  return new ApiError(status, code, message);
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

function joinUrl(baseUrl, path) {
  if (!baseUrl) return path;
  return `${String(baseUrl).replace(/\/+$/, '')}${path}`;
}

export async function request(method, path, { token, body, signal, baseUrl = '', fetch: fetchImpl, as = 'json' } = {}) {
  const headers = { Accept: as === 'text' ? 'text/html, text/plain, */*' : 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const doFetch = fetchImpl ?? globalThis.fetch;
  let res;
  try {
    res = await doFetch(joinUrl(baseUrl, path), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (e) {
    if (e?.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection.');
  }
  const text = await res.text();
  if (as === 'text' && res.ok) return text;
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) throw errorFrom(res.status, data);
  return data;
}

/**
 * The chat routes of one side. `role` is `customer` or `vendor`; the vendor's
 * routes mirror the customer's with customerId/customerName in place of
 * vendorId/vendorName. `options`: `{ baseUrl, fetch }` (see above).
 */
export function createChatApi(token, role, { baseUrl = '', fetch: fetchImpl } = {}) {
  const base = role === 'vendor' ? '/api/vendor/chat' : '/api/chat';
  const call = (method, path, opts) =>
    request(method, `${base}${path}`, { token, baseUrl, fetch: fetchImpl, ...opts });
  return {
    role,
    /** `{ conversations, nextCursor, totalUnread }`, newest activity first. */
    listConversations({ search, limit, cursor } = {}, signal) {
      return call('GET', `/conversations${query({ search, limit, cursor })}`, { signal });
    },
    /** Opens (201) or finds (200) the conversation with the other participant. */
    openConversation({ otherId, otherName, product }) {
      const body =
        role === 'vendor'
          ? { customerId: otherId, customerName: otherName }
          : { vendorId: otherId, vendorName: otherName };
      if (product) body.product = product;
      return call('POST', '/conversation', { body });
    },
    /** `{ messages, hasMore }` in ascending seq. */
    messages(conversationId, { before, after, limit } = {}) {
      return call('GET', `/${encodeURIComponent(conversationId)}/messages${query({ before, after, limit })}`);
    },
    /** `{ message }`; a repeat with the same clientMessageId returns the same message. */
    send({ conversationId, text, product, clientMessageId }) {
      return call('POST', '/send', { body: { conversationId, text, product, clientMessageId } });
    },
    markMessageRead(messageId) {
      return call('PUT', `/message/${encodeURIComponent(messageId)}/read`);
    },
    markAllRead(conversationId) {
      return call('PUT', `/${encodeURIComponent(conversationId)}/read`);
    },
    /** `{ total, conversations: { id: n } }`. */
    unread() {
      return call('GET', '/unread');
    },
    /** `{ events, next }`: the conversation's recorded events (audit), each with its hash. */
    events(conversationId, { from, limit } = {}) {
      return call('GET', `/${encodeURIComponent(conversationId)}/events${query({ from, limit })}`);
    },
    /**
     * The conversation as it was just after the event at stream revision `at`
     * (the latest when left out): `StateAt`.
     */
    state(conversationId, at) {
      return call('GET', `/${encodeURIComponent(conversationId)}/state${query({ at })}`);
    },
    /**
     * The dispute transcript: its JSON (`format` `json`, default) or the
     * printable HTML page as text; with `{ raw: true }` the body exactly as
     * served, as text (to save it to a file unchanged).
     */
    transcript(conversationId, format = 'json', { raw = false } = {}) {
      return call('GET', `/${encodeURIComponent(conversationId)}/transcript${query({ format })}`, {
        as: raw || format === 'html' ? 'text' : 'json',
      });
    },
  };
}

/**
 * The operator routes (`/api/operator`, a token with role `operator`): read
 * only, and every call names its `reason` (3 to 500 characters). Each
 * per-conversation call is recorded in that conversation's log first
 * (`SupportAccessed`), where its participants see it.
 */
export function createOperatorApi(token, { baseUrl = '', fetch: fetchImpl } = {}) {
  const call = (path, params, opts) =>
    request('GET', `/api/operator/conversations${path}${query(params)}`, { token, baseUrl, fetch: fetchImpl, ...opts });
  const one = (id) => `/${encodeURIComponent(id)}`;
  return {
    role: 'operator',
    /**
     * `{ conversations, hasMore }`: those where `participant` is the customer
     * or the vendor, newest activity first (records nothing).
     */
    searchConversations(participant, reason, { limit, signal } = {}) {
      return call('', { participant, reason, limit }, { signal });
    },
    /** `{ conversation, messages, hasMore }`: the conversation and a page of its messages (the newest unless `before`). */
    conversation(id, reason, { before, limit } = {}) {
      return call(one(id), { reason, before, limit });
    },
    /** `{ events, next }` as the participants' route. */
    events(id, reason, { from, limit } = {}) {
      return call(`${one(id)}/events`, { reason, from, limit });
    },
    /** `StateAt` at revision `at` (the latest when null or left out). */
    state(id, at, reason) {
      return call(`${one(id)}/state`, { reason, at });
    },
    /** The transcript: JSON, or the printable HTML page as text (`{ raw: true }`: as served, as text). */
    transcript(id, format = 'json', reason, { raw = false } = {}) {
      return call(`${one(id)}/transcript`, { reason, format }, { as: raw || format === 'html' ? 'text' : 'json' });
    },
  };
}

/** Vendor token only: `GET /api/vendor/analytics` over `[from, to)`. */
export function fetchAnalytics(token, { from, to } = {}, { baseUrl = '', fetch: fetchImpl } = {}) {
  return request('GET', `/api/vendor/analytics${query({ from, to })}`, { token, baseUrl, fetch: fetchImpl });
}

// --- Beyond docs/api.md's chat routes: how the bundled web app finds its socket, and demo mode. ---

let configPromise = null;

/** `{ demo, socketUrl, socketPort }`, fetched once per page load. */
export function fetchConfig({ baseUrl = '', fetch: fetchImpl } = {}) {
  if (!configPromise) {
    configPromise = request('GET', '/api/config', { baseUrl, fetch: fetchImpl }).catch((e) => {
      configPromise = null;
      throw e;
    });
  }
  return configPromise;
}

/**
 * Where the Socket.IO edge listens, as GET /api/config says: its `socketUrl`,
 * or the page's host (or `location`'s) with `socketPort`.
 */
export function socketUrlOf(config, location = globalThis.location) {
  if (config?.socketUrl) return config.socketUrl;
  const port = config?.socketPort ?? 8081;
  const protocol = location?.protocol ?? 'http:';
  const hostname = location?.hostname ?? '127.0.0.1';
  return `${protocol}//${hostname}:${port}`;
}

/** Demo mode only: `{ customers, vendors, products }`. */
export function fetchDemoUsers({ baseUrl = '', fetch: fetchImpl } = {}) {
  return request('GET', '/api/demo/users', { baseUrl, fetch: fetchImpl });
}

/** Demo mode only: `{ token, user: { id, role, name } }`. */
export function fetchDemoToken(userId, role, { baseUrl = '', fetch: fetchImpl } = {}) {
  return request('POST', '/api/demo/token', { body: { userId, role }, baseUrl, fetch: fetchImpl });
}
