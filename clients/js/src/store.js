// The chat state of the signed-in user, kept by Zustand and fed by the REST
// routes and the socket events of docs/api.md.
//
// What it holds:
// - conversations by id, and `order`: the ids the list shows (newest activity
//   first, filtered by the search when there is one);
// - threads by conversation id: the confirmed messages (ascending seq, unique
//   by id) and the optimistic ones still on their way (`pending`, keyed by
//   clientMessageId);
// - who is typing, unread counts (per conversation and total), presence.
//
// How it stays exact:
// - every message goes through `receiveMessages`, which merges by id, so the
//   ack of a send, its socket echo, a replay after a reconnect and a REST page
//   can all arrive without doubling anything; a confirmed message removes the
//   pending one with the same clientMessageId;
// - a room is (re)joined with `sinceSeq` = the last seq held without a gap, and
//   a gap that still shows after a moment is filled from REST (`after`).
//
// `createChatStore(options)` makes one such store (a Zustand hook); each store
// has its own socket and REST client, made when the session starts.

import { create } from 'zustand';
import { ApiError, createChatApi } from './rest.js';
import { ChatSocket } from './socket.js';
import { userFromToken } from './token.js';

const PAGE = 30;
const TYPING_SEND_EVERY_MS = 3000;
const TYPING_IDLE_MS = 2500;
const TYPING_SHOW_MS = 6000;
const GAP_WAIT_MS = 400;
const AUTO_RETRIES = 3;

// --- Client message ids: `${tabId}-${counter}`, unique per tab and page load. ---

const tabId =
  (globalThis.crypto?.randomUUID?.() ?? Math.random().toString(36).slice(2)).replace(/-/g, '').slice(0, 10);
let counter = 0;

export function nextClientMessageId() {
  counter += 1;
  return `${tabId}-${String(counter).padStart(4, '0')}`;
}

// --- Pure helpers. ---

/** The participant on the other side of a conversation. */
export function otherOf(conversation, role) {
  if (!conversation) return null;
  return role === 'vendor' ? conversation.customer : conversation.vendor;
}

function byActivity(conversations) {
  return (a, b) => {
    const ta = conversations[a]?.updatedAt ?? '';
    const tb = conversations[b]?.updatedAt ?? '';
    return ta < tb ? 1 : ta > tb ? -1 : 0;
  };
}

/** Merges messages by id, keeps them in ascending seq; a known readAt is never lost. */
export function mergeMessages(existing, incoming) {
  if (incoming.length === 0) return existing;
  const byId = new Map(existing.map((m) => [m.id, m]));
  let changed = false;
  for (const m of incoming) {
    const old = byId.get(m.id);
    if (!old) {
      byId.set(m.id, m);
      changed = true;
    } else if (!old.readAt && m.readAt) {
      byId.set(m.id, { ...old, readAt: m.readAt });
      changed = true;
    }
  }
  if (!changed) return existing;
  return [...byId.values()].sort((a, b) => a.seq - b.seq);
}

/** The last seq held without a gap from the oldest loaded message (0 when none). */
export function contiguousEnd(messages) {
  if (messages.length === 0) return 0;
  let end = messages[0].seq;
  for (let i = 1; i < messages.length; i += 1) {
    if (messages[i].seq !== end + 1) break;
    end = messages[i].seq;
  }
  return end;
}

/**
 * Marks as read, at `readAt`, the messages that `readerId` did not send, up to
 * and including `messageId` (all of them when `messageId` is null).
 */
export function applyRead(messages, { messageId, readerId, readAt }) {
  let limit = Infinity;
  if (messageId) {
    const target = messages.find((m) => m.id === messageId);
    limit = target ? target.seq : null;
  }
  let changed = false;
  const out = messages.map((m) => {
    if (m.readAt || m.sender?.id === readerId) return m;
    // Message ids are UUID v7 and sort by time; used when the target is not loaded.
    const covered = limit === null ? m.id <= messageId : m.seq <= limit;
    if (!covered) return m;
    changed = true;
    return { ...m, readAt };
  });
  return changed ? out : messages;
}

function emptyThread() {
  return { messages: [], pending: [], hasMore: false, status: 'idle', loadingOlder: false, error: null };
}

function pageVisible() {
  return typeof document === 'undefined' || document.visibilityState === 'visible';
}

const initialState = {
  me: null,
  connection: 'idle', // 'connecting' | 'online' | 'offline' | 'unauthorized'
  conversations: {},
  order: [],
  search: '',
  listStatus: 'idle', // 'loading' | 'ready' | 'error'
  listError: null,
  nextCursor: null,
  loadingMore: false,
  activeId: null,
  threads: {},
  typing: {},
  unread: {},
  totalUnread: 0,
  presence: {},
  products: [],
  notice: null,
};

/**
 * Makes a chat store (a Zustand hook with `getState`, `setState`,
 * `subscribe`). Options, all optional:
 * - `baseUrl`: where souk's REST routes are ('' = this page's origin);
 * - `fetch`: the fetch used for REST;
 * - `io`: socket.io-client's `io` (or a stand-in);
 * - `socketOptions`: extra options for `io`;
 * - `createSocket(url, token)`: makes the ChatSocket (replaces `io`);
 * - `onSocket(chatSocket | null)`: told when the session's socket is made or closed;
 * - `clientMessageId()`: makes the id of each sent message (default `nextClientMessageId`);
 * - `isVisible()`: whether the user sees the page (reads are marked only then).
 */
export function createChatStore(options = {}) {
  const {
    baseUrl = '',
    fetch: fetchImpl,
    io,
    socketOptions,
    createSocket = (url, token) => new ChatSocket(url, token, { io, options: socketOptions }),
    onSocket,
    clientMessageId: makeClientMessageId = nextClientMessageId,
    isVisible = pageVisible,
  } = options;

  // --- Non-reactive context of the running session (timers, socket, api). ---

  const ctx = {
    api: null,
    token: null,
    socket: null,
    off: [],
    typingTimers: new Map(),
    gapTimers: new Map(),
    markTimers: new Map(),
    marking: new Set(),
    listSeq: 0,
    listRefreshTimer: null,
    outgoingTyping: { conversationId: null, lastStart: 0, idleTimer: null },
    /** conversationId -> the promise of its last queued send (sends go one at a time, in order) */
    sends: new Map(),
  };

  function resetCtx() {
    for (const off of ctx.off) off();
    ctx.off = [];
    for (const timers of [ctx.typingTimers, ctx.gapTimers, ctx.markTimers]) {
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
    }
    ctx.marking.clear();
    clearTimeout(ctx.listRefreshTimer);
    clearTimeout(ctx.outgoingTyping.idleTimer);
    ctx.outgoingTyping = { conversationId: null, lastStart: 0, idleTimer: null };
    ctx.sends.clear();
    ctx.api = null;
    ctx.token = null;
    ctx.socket = null;
  }

  return create((set, get) => {
    // A conversation's sends go one at a time, in the order they were made:
    // a send that must wait and try again (a busy server) holds the ones
    // after it, so the other side never sees them out of order.
    const inOrder = (conversationId, clientMessageId) => {
      const before = ctx.sends.get(conversationId);
      // Nothing ahead of it: it goes at once.
      const sent = before
        ? before.catch(() => {}).then(() => get().deliver(conversationId, clientMessageId))
        : get().deliver(conversationId, clientMessageId);
      ctx.sends.set(conversationId, sent);
      sent.then(() => {
        if (ctx.sends.get(conversationId) === sent) ctx.sends.delete(conversationId);
      });
      return sent;
    };

    // Small state updaters used by several actions.
    const patchThread = (id, fn) =>
      set((s) => ({ threads: { ...s.threads, [id]: fn(s.threads[id] ?? emptyThread()) } }));

    const setUnread = (conversationId, unreadCount, totalUnread) =>
      set((s) => {
        const unread = { ...s.unread };
        if (unreadCount > 0) unread[conversationId] = unreadCount;
        else delete unread[conversationId];
        const before = s.unread[conversationId] ?? 0;
        const total =
          typeof totalUnread === 'number' ? totalUnread : Math.max(0, s.totalUnread - before + Math.max(0, unreadCount));
        return { unread, totalUnread: total };
      });

    const scheduleListRefresh = () => {
      clearTimeout(ctx.listRefreshTimer);
      ctx.listRefreshTimer = setTimeout(() => get().loadConversations(get().search, { quiet: true }), 150);
    };

    const scheduleGapFill = (id) => {
      if (ctx.gapTimers.has(id)) return;
      ctx.gapTimers.set(
        id,
        setTimeout(() => {
          ctx.gapTimers.delete(id);
          get().fillGap(id);
        }, GAP_WAIT_MS),
      );
    };

    const scheduleMarkRead = (id) => {
      clearTimeout(ctx.markTimers.get(id));
      ctx.markTimers.set(
        id,
        setTimeout(() => {
          ctx.markTimers.delete(id);
          get().markRead(id);
        }, 120),
      );
    };

    const clearTypingOf = (conversationId) => {
      clearTimeout(ctx.typingTimers.get(conversationId));
      ctx.typingTimers.delete(conversationId);
      set((s) => {
        if (!s.typing[conversationId]) return {};
        const typing = { ...s.typing };
        delete typing[conversationId];
        return { typing };
      });
    };

    const seedPresence = (conversations, role) =>
      set((s) => {
        const presence = { ...s.presence };
        for (const c of conversations) {
          const other = otherOf(c, role);
          if (other?.id) presence[other.id] = { online: !!other.online, lastSeenAt: other.lastSeenAt ?? null };
        }
        return { presence };
      });

    return {
      ...initialState,

      /**
       * Starts the session of `{ token, user: { id, role, name } }`: one socket
       * for this user at `socketUrl`, the list, the unread counts. (`config`, the
       * answer of GET /api/config, is not used.)
       */
      start(session, config, socketUrl) {
        const me = session.user;
        if (get().me?.id === me.id && ctx.socket) return;
        get().stop();
        ctx.token = session.token;
        ctx.api = createChatApi(session.token, me.role, { baseUrl, fetch: fetchImpl });
        const socket = createSocket(socketUrl, session.token);
        ctx.socket = socket;
        onSocket?.(socket);
        set({ ...initialState, me, connection: socket.connected ? 'online' : 'connecting' });

        const on = (event, handler) => ctx.off.push(socket.on(event, handler));
        on('receive_message', (m) => get().receiveMessages(m.conversationId, [m]));
        on('new_chat_message', ({ conversationId, message, unreadCount, totalUnread }) => {
          if (message) get().receiveMessages(conversationId, [message]);
          if (typeof unreadCount === 'number') setUnread(conversationId, unreadCount, totalUnread);
          if (conversationId === get().activeId && isVisible()) scheduleMarkRead(conversationId);
        });
        on('unread_count', ({ conversationId, unreadCount, totalUnread }) =>
          setUnread(conversationId, unreadCount, totalUnread),
        );
        on('user_typing', ({ conversationId, userId }) => {
          if (userId === get().me?.id) return;
          set((s) => ({ typing: { ...s.typing, [conversationId]: userId } }));
          clearTimeout(ctx.typingTimers.get(conversationId));
          ctx.typingTimers.set(
            conversationId,
            setTimeout(() => clearTypingOf(conversationId), TYPING_SHOW_MS),
          );
        });
        on('user_stopped_typing', ({ conversationId, userId }) => {
          if (get().typing[conversationId] === userId) clearTypingOf(conversationId);
        });
        on('message_read', (e) => get().applyReadEvent(e));
        on('all_messages_read', (e) => get().applyReadEvent({ ...e, messageId: null }));
        on('user_online', ({ userId }) =>
          set((s) => ({ presence: { ...s.presence, [userId]: { online: true, lastSeenAt: null } } })),
        );
        on('user_offline', ({ userId, lastSeenAt }) =>
          set((s) => ({ presence: { ...s.presence, [userId]: { online: false, lastSeenAt: lastSeenAt ?? null } } })),
        );
        ctx.off.push(
          socket.onLocal('status', ({ state }) => {
            set({ connection: state });
            if (state === 'online') get().retryFailed();
          }),
        );
        ctx.off.push(
          socket.onLocal('rejoined', () => {
            // Personal-room events (new conversations, unread figures) sent while
            // the socket was down are not replayed: read them again.
            get().loadConversations(get().search, { quiet: true });
            get().refreshUnread();
          }),
        );
        ctx.off.push(socket.onLocal('join_more', ({ conversationId }) => get().fillGap(conversationId, { newer: true })));
        ctx.off.push(
          socket.onLocal('join_error', ({ conversationId, error }) =>
            patchThread(conversationId, (t) => ({ ...t, error: error.message })),
          ),
        );
        get().loadConversations('');
        get().refreshUnread();
      },

      /**
       * Starts the session of a token: the user (id, role, name) is read from
       * its payload unless `user` is given. The server verifies the token.
       */
      connect({ token, socketUrl, user }) {
        get().start({ token, user: user ?? userFromToken(token) }, null, socketUrl);
      },

      /**
       * A fresh token for the running session (same user): used by the next REST
       * calls and the socket's next (re)connection.
       */
      setToken(token) {
        const me = get().me;
        if (!me || !ctx.socket || token === ctx.token) return;
        ctx.token = token;
        ctx.api = createChatApi(token, me.role, { baseUrl, fetch: fetchImpl });
        ctx.socket.setToken(token);
      },

      stop() {
        const socket = ctx.socket;
        resetCtx();
        if (socket) {
          socket.close();
          onSocket?.(null);
        }
        set({ ...initialState });
      },

      setProducts(products) {
        set({ products: products ?? [] });
      },

      dismissNotice() {
        set({ notice: null });
      },

      // --- The list. ---

      async loadConversations(search = get().search, { quiet = false } = {}) {
        if (!ctx.api) return;
        const seq = ++ctx.listSeq;
        set({ search, ...(quiet ? {} : { listStatus: 'loading', listError: null }) });
        try {
          const res = await ctx.api.listConversations({ search: search || undefined, limit: 50 });
          if (seq !== ctx.listSeq) return;
          const list = res.conversations ?? [];
          const role = get().me.role;
          set((s) => {
            const conversations = { ...s.conversations };
            for (const c of list) conversations[c.id] = { ...conversations[c.id], match: undefined, ...c };
            const unread = search ? { ...s.unread } : {};
            for (const c of list) {
              if (c.unreadCount > 0) unread[c.id] = c.unreadCount;
              else delete unread[c.id];
            }
            return {
              conversations,
              order: list.map((c) => c.id),
              nextCursor: res.nextCursor ?? null,
              listStatus: 'ready',
              listError: null,
              unread,
              totalUnread: typeof res.totalUnread === 'number' ? res.totalUnread : s.totalUnread,
            };
          });
          seedPresence(list, role);
        } catch (e) {
          if (seq !== ctx.listSeq) return;
          set({ listStatus: 'error', listError: e.message });
        }
      },

      async loadMoreConversations() {
        const { nextCursor, loadingMore, search } = get();
        if (!ctx.api || !nextCursor || loadingMore) return;
        const seq = ctx.listSeq;
        set({ loadingMore: true });
        try {
          const res = await ctx.api.listConversations({ search: search || undefined, limit: 50, cursor: nextCursor });
          if (seq !== ctx.listSeq) return;
          const list = res.conversations ?? [];
          set((s) => {
            const conversations = { ...s.conversations };
            for (const c of list) conversations[c.id] = { ...conversations[c.id], match: undefined, ...c };
            const known = new Set(s.order);
            return {
              conversations,
              order: [...s.order, ...list.map((c) => c.id).filter((id) => !known.has(id))],
              nextCursor: res.nextCursor ?? null,
            };
          });
          seedPresence(list, get().me.role);
        } catch (e) {
          set({ notice: e.message });
        } finally {
          set({ loadingMore: false });
        }
      },

      async refreshUnread() {
        if (!ctx.api) return;
        try {
          const res = await ctx.api.unread();
          set({ unread: { ...(res.conversations ?? {}) }, totalUnread: res.total ?? 0 });
        } catch {
          // The socket's unread_count events keep the figures; the next refresh retries.
        }
      },

      // --- One conversation. ---

      /** Customer side: opens (or finds) the conversation with a vendor, about a product. */
      async startConversation({ otherId, otherName, product }) {
        const res = await ctx.api.openConversation({ otherId, otherName, product });
        const conversation = res?.conversation ?? res;
        set((s) => ({
          conversations: { ...s.conversations, [conversation.id]: { ...s.conversations[conversation.id], ...conversation } },
          order: s.order.includes(conversation.id) || s.search ? s.order : [conversation.id, ...s.order],
        }));
        seedPresence([conversation], get().me.role);
        return conversation.id;
      },

      async openConversation(id) {
        const prev = get().activeId;
        if (prev === id) return;
        if (prev) get().closeConversation();
        set({ activeId: id });
        const socket = ctx.socket;
        patchThread(id, (t) => ({ ...t, status: t.status === 'ready' ? 'ready' : 'loading', error: null }));
        try {
          const res = await ctx.api.messages(id, { limit: PAGE });
          if (get().activeId !== id) return;
          const page = res.messages ?? [];
          patchThread(id, (t) => {
            // A thread held from an earlier visit is kept when the newest page
            // connects to it; otherwise the page replaces it.
            const held = t.messages;
            const joins = held.length > 0 && page.length > 0 && page[0].seq <= contiguousEnd(held) + 1;
            return {
              ...t,
              messages: joins ? mergeMessages(held, page) : page,
              hasMore: joins && held[0].seq < page[0].seq ? t.hasMore : !!res.hasMore,
              status: 'ready',
              error: null,
            };
          });
        } catch (e) {
          if (get().activeId !== id) return;
          patchThread(id, (t) => ({ ...t, status: t.messages.length ? 'ready' : 'error', error: e.message }));
          if (get().threads[id].status === 'error') return;
        }
        // Join after the first page: the server replays everything after its last
        // seq, so messages sent while the page was loading are not lost.
        socket?.joinRoom(id, () => {
          const t = get().threads[id];
          return t && t.status === 'ready' ? contiguousEnd(t.messages) : null;
        });
        if (isVisible()) get().markRead(id);
      },

      closeConversation() {
        const id = get().activeId;
        if (!id) return;
        get().stopTyping();
        ctx.socket?.leaveRoom(id);
        clearTypingOf(id);
        set({ activeId: null });
      },

      async retryOpen() {
        const id = get().activeId;
        if (!id) return;
        set({ activeId: null });
        await get().openConversation(id);
      },

      async loadOlder(id) {
        const t = get().threads[id];
        if (!t || t.status !== 'ready' || !t.hasMore || t.loadingOlder || t.messages.length === 0) return;
        patchThread(id, (x) => ({ ...x, loadingOlder: true }));
        try {
          const res = await ctx.api.messages(id, { before: t.messages[0].seq, limit: PAGE });
          patchThread(id, (x) => ({
            ...x,
            messages: mergeMessages(x.messages, res.messages ?? []),
            hasMore: !!res.hasMore,
            loadingOlder: false,
          }));
        } catch (e) {
          patchThread(id, (x) => ({ ...x, loadingOlder: false }));
          set({ notice: e.message });
        }
      },

      /**
       * Fetches from REST whatever a gap in the held messages leaves out; with
       * `newer`, also everything after the last one held (a join whose replay
       * stopped at the server's bound says `hasMore`).
       */
      async fillGap(id, { newer = false } = {}) {
        const t = get().threads[id];
        if (!t || t.status !== 'ready' || !ctx.api) return;
        let after = contiguousEnd(t.messages);
        const noGap = t.messages.length === 0 || after === t.messages[t.messages.length - 1].seq;
        if (noGap && !newer) return;
        try {
          for (;;) {
            const res = await ctx.api.messages(id, { after, limit: 100 });
            const page = res.messages ?? [];
            get().receiveMessages(id, page);
            if (!res.hasMore || page.length === 0) break;
            after = page[page.length - 1].seq;
          }
        } catch {
          scheduleGapFill(id);
        }
      },

      /**
       * The one way messages enter the store (acks, socket events, REST pages):
       * merged by id, pending copies removed by clientMessageId.
       */
      receiveMessages(conversationId, messages) {
        if (!messages || messages.length === 0) return;
        const me = get().me;
        if (!me) return;
        const newest = messages.reduce((a, b) => (b.seq > a.seq ? b : a));
        const fromOther = messages.filter((m) => m.sender?.id !== me.id);
        set((s) => {
          const patch = {};
          const thread = s.threads[conversationId];
          if (thread) {
            const ids = new Set(messages.map((m) => m.clientMessageId).filter(Boolean));
            const mine = (p) => ids.has(p.clientMessageId);
            const pending = thread.pending.some(mine) ? thread.pending.filter((p) => !mine(p)) : thread.pending;
            const merged = thread.status === 'ready' ? mergeMessages(thread.messages, messages) : thread.messages;
            if (merged !== thread.messages || pending !== thread.pending) {
              patch.threads = { ...s.threads, [conversationId]: { ...thread, messages: merged, pending } };
            }
          }
          const conv = s.conversations[conversationId];
          if (conv) {
            const last = conv.lastMessage;
            if (!last || newest.seq >= last.seq) {
              const lastMessage = last && last.id === newest.id && last.readAt && !newest.readAt ? last : newest;
              const updated = { ...conv, lastMessage, updatedAt: newest.sentAt ?? conv.updatedAt };
              const conversations = { ...s.conversations, [conversationId]: updated };
              patch.conversations = conversations;
              const order = s.order.includes(conversationId) || s.search ? s.order : [conversationId, ...s.order];
              patch.order = [...order].sort(byActivity(conversations));
            }
          }
          return patch;
        });
        if (!get().conversations[conversationId]) scheduleListRefresh();
        if (fromOther.length > 0 && get().typing[conversationId]) clearTypingOf(conversationId);
        const t = get().threads[conversationId];
        if (conversationId === get().activeId && t?.status === 'ready') {
          if (t.messages.length && contiguousEnd(t.messages) !== t.messages[t.messages.length - 1].seq) {
            scheduleGapFill(conversationId);
          }
          if (fromOther.some((m) => !m.readAt) && isVisible()) scheduleMarkRead(conversationId);
        }
      },

      applyReadEvent({ conversationId, messageId, readerId, readAt }) {
        set((s) => {
          const patch = {};
          const thread = s.threads[conversationId];
          if (thread) {
            const messages = applyRead(thread.messages, { messageId, readerId, readAt });
            if (messages !== thread.messages) {
              patch.threads = { ...s.threads, [conversationId]: { ...thread, messages } };
            }
          }
          const conv = s.conversations[conversationId];
          if (conv?.lastMessage) {
            const [lastMessage] = applyRead([conv.lastMessage], { messageId, readerId, readAt });
            if (lastMessage !== conv.lastMessage) {
              patch.conversations = { ...s.conversations, [conversationId]: { ...conv, lastMessage } };
            }
          }
          return patch;
        });
      },

      /** Marks every message of the conversation as read (when it is open and seen). */
      async markRead(id) {
        if (!ctx.api || ctx.marking.has(id)) return;
        const { unread, threads, me } = get();
        const t = threads[id];
        const unseen = t?.messages.some((m) => m.sender?.id !== me.id && !m.readAt);
        if (!(unread[id] > 0) && !unseen) return;
        ctx.marking.add(id);
        setUnread(id, 0);
        try {
          let res;
          if (ctx.socket?.connected) res = await ctx.socket.request('mark_read', { conversationId: id });
          else res = await ctx.api.markAllRead(id);
          const readAt = res?.readAt ?? new Date().toISOString();
          get().applyReadEvent({ conversationId: id, messageId: null, readerId: me.id, readAt });
        } catch (e) {
          if (!(e instanceof ApiError) || e.retryable) get().refreshUnread();
        } finally {
          ctx.marking.delete(id);
        }
      },

      // --- Sending. ---

      /** Sends text and/or a product card into the open conversation, optimistically. */
      sendMessage({ text, product } = {}) {
        const id = get().activeId;
        const me = get().me;
        if (!id || !me) return;
        const trimmed = text?.trim() ?? '';
        if (!trimmed && !product) return;
        get().stopTyping();
        const clientMessageId = makeClientMessageId();
        const body = { conversationId: id, clientMessageId };
        if (trimmed) body.text = trimmed;
        if (product) body.product = product;
        const pending = {
          clientMessageId,
          conversationId: id,
          sender: { id: me.id, role: me.role },
          kind: product ? 'product' : 'text',
          text: trimmed || null,
          product: product ?? null,
          sentAt: new Date().toISOString(),
          readAt: null,
          status: 'sending',
          error: null,
          retryable: true,
          body,
        };
        patchThread(id, (t) => ({ ...t, pending: [...t.pending, pending] }));
        return inOrder(id, clientMessageId);
      },

      /**
       * Sends (or sends again: same clientMessageId, so never twice) one
       * pending message, retrying by itself while the server is busy. Callers
       * go through `inOrder`, so a conversation's sends keep the order they
       * were made in even when one of them has to wait and try again.
       */
      async deliver(conversationId, clientMessageId) {
        const find = () => get().threads[conversationId]?.pending.find((p) => p.clientMessageId === clientMessageId);
        const setStatus = (fields) =>
          patchThread(conversationId, (t) => ({
            ...t,
            pending: t.pending.map((x) => (x.clientMessageId === clientMessageId ? { ...x, ...fields } : x)),
          }));
        for (;;) {
          const p = find();
          if (!p) return;
          setStatus({ status: 'sending', error: null });
          try {
            let res;
            if (ctx.socket?.connected) res = await ctx.socket.request('send_message', p.body);
            else res = await ctx.api.send(p.body);
            if (res?.message) get().receiveMessages(conversationId, [res.message]);
            return;
          } catch (e) {
            const current = find();
            if (!current) return; // confirmed meanwhile (socket echo of a send whose ack was lost)
            const retryable = !(e instanceof ApiError) || e.retryable;
            const attempts = (current.attempts ?? 0) + 1;
            // Busy or slow server while connected: try again by itself, a few times.
            if (retryable && ctx.socket?.connected && attempts <= AUTO_RETRIES) {
              setStatus({ attempts });
              await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempts));
              continue;
            }
            setStatus({ status: 'failed', error: e.message, retryable, attempts: 0 });
            return;
          }
        }
      },

      retry(conversationId, clientMessageId) {
        return inOrder(conversationId, clientMessageId);
      },

      discard(conversationId, clientMessageId) {
        patchThread(conversationId, (t) => ({
          ...t,
          pending: t.pending.filter((p) => p.clientMessageId !== clientMessageId),
        }));
      },

      /** After a reconnect: sends again what failed for want of a connection. */
      retryFailed() {
        for (const [conversationId, t] of Object.entries(get().threads)) {
          for (const p of t.pending) {
            if (p.status === 'failed' && p.retryable) inOrder(conversationId, p.clientMessageId);
          }
        }
      },

      // --- Typing. ---

      /** Call on every keystroke in the composer. */
      typingActivity() {
        const id = get().activeId;
        if (!id || !ctx.socket) return;
        const o = ctx.outgoingTyping;
        const now = Date.now();
        if (o.conversationId !== id || now - o.lastStart > TYPING_SEND_EVERY_MS) {
          if (o.conversationId && o.conversationId !== id) get().stopTyping();
          ctx.socket.emitVolatile('typing_start', { conversationId: id });
          o.conversationId = id;
          o.lastStart = now;
        }
        clearTimeout(o.idleTimer);
        o.idleTimer = setTimeout(() => get().stopTyping(), TYPING_IDLE_MS);
      },

      stopTyping() {
        const o = ctx.outgoingTyping;
        clearTimeout(o.idleTimer);
        if (!o.conversationId) return;
        ctx.socket?.emitVolatile('typing_stop', { conversationId: o.conversationId });
        o.conversationId = null;
        o.lastStart = 0;
      },
    };
  });
}

/** The messages of a thread as shown: confirmed ones, then those on their way. */
export function visibleMessages(thread) {
  if (!thread) return [];
  return thread.pending.length ? [...thread.messages, ...thread.pending] : thread.messages;
}
