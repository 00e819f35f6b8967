// Checked by `tsc` (npm run test:types), never run: a typed use of the kit as
// a marketplace's app would write it, and the JSON examples of docs/api.md
// typed with the kit's types (a field renamed, missing or of the wrong type in
// either breaks the check). When GET /api/openapi.json exists, a sibling file
// here is to assert that these types and the ones generated from it are
// assignable both ways (see "Types" in the README).

import {
  ApiError,
  ChatSocket,
  applyRead,
  contiguousEnd,
  createChatApi,
  createChatStore,
  createOperatorApi,
  mergeMessages,
  otherOf,
  userFromToken,
  visibleMessages,
} from '@souk/client';
import type {
  Ack,
  Analytics,
  ClientToServerEvents,
  Conversation,
  ConversationPage,
  ErrorBody,
  EventPage,
  JoinChatRoomAck,
  MarkReadAck,
  Message,
  MessagePage,
  ProductCard,
  ReadReceipt,
  RecordedEvent,
  SendMessageAck,
  StateAt,
  ServerEvents,
  ServerToClientEvents,
  UnreadCounts,
} from '@souk/client';
import { useChatSession, useConversation } from '@souk/client/react';

// --- docs/api.md examples ---

const conversation: Conversation = {
  id: '49316337-9ec1-52e4-8b6c-d7dc6d8ef7a9',
  customer: { id: 'c-42', name: 'Alice', online: true },
  vendor: { id: 'v-7', name: 'Bolt Bikes', online: false, lastSeenAt: '2026-12-01T04:19:34.204Z' },
  product: {
    id: 'p-1',
    name: 'Red bike',
    priceMinor: 49999,
    currency: 'EUR',
    imageUrl: 'https://shop.example/img/p-1.jpg',
    url: 'https://shop.example/p/1',
  },
  currentProduct: {
    id: 'p-1',
    name: 'Red bike',
    priceMinor: 49999,
    currency: 'EUR',
    imageUrl: 'https://shop.example/img/p-1.jpg',
    url: 'https://shop.example/p/1',
  },
  lastMessage: null,
  unreadCount: 0,
  createdAt: '2026-12-01T04:19:30.513Z',
  updatedAt: '2026-12-01T04:19:30.513Z',
};

const message: Message = {
  id: '01a22fd4-54bc-765f-ab65-c0de3554e1f7',
  conversationId: '49316337-9ec1-52e4-8b6c-d7dc6d8ef7a9',
  seq: 1,
  sender: { id: 'c-42', role: 'customer' },
  kind: 'text',
  text: 'Is it still available?',
  product: null,
  clientMessageId: 'tab1-0005',
  sentAt: '2026-12-01T04:19:34.204Z',
  readAt: null,
};

const card: ProductCard = { id: 'p-2', name: 'Helmet', priceMinor: 5990, currency: 'EUR', imageUrl: null, url: null };

const error: ErrorBody = {
  error: { code: 'not_found', message: 'conversation 49316337-9ec1-52e4-8b6c-d7dc6d8ef7a9 not found' },
};

const page: ConversationPage = { conversations: [conversation], nextCursor: null, totalUnread: 3 };
const history: MessagePage = { messages: [message], hasMore: true };
const receipt: ReadReceipt = {
  conversationId: '49316337-9ec1-52e4-8b6c-d7dc6d8ef7a9',
  messageId: '01a22fd4-5ff6-7318-bfe0-f0bf066235be',
  readAt: '2026-12-01T04:19:39.711Z',
  unreadCount: 1,
};
const unread: UnreadCounts = { total: 3, conversations: { '49316337-9ec1-52e4-8b6c-d7dc6d8ef7a9': 3 } };

const events: EventPage = {
  events: [
    {
      position: 2,
      revision: 1,
      type: 'MessageSent',
      version: 1,
      data: {
        messageId: '01a22fd4-54bc-765f-ab65-c0de3554e1f7',
        seq: 1,
        sender: { id: 'c-42', role: 'customer' },
        senderName: 'Alice',
        kind: 'text',
        text: 'Is it still available?',
        product: null,
        clientMessageId: 'tab1-0005',
        at: '2026-12-01T04:19:34.204Z',
      },
      recordedAt: '2026-12-01T04:19:34.204Z',
      hash: '5f0c3b8e2a9d4c7b1e6f0a3d8c2b5e9f4a7d1c6b0e3f8a2d5c9b4e7f1a6d0c3b',
    },
  ],
  next: 2,
};

const supportAccess: RecordedEvent = {
  position: 9,
  revision: 4,
  type: 'SupportAccessed',
  version: 1,
  data: { operator: { id: 'o-sam', name: 'Sam Reyes' }, reason: 'Refund dispute #812', view: 'state', at: '2026-12-01T05:00:00.000Z' },
  recordedAt: '2026-12-01T05:00:00.000Z',
  hash: '0'.repeat(64),
};

const productChanged: RecordedEvent = {
  position: 10,
  revision: 5,
  type: 'CurrentProductChanged',
  version: 1,
  data: {
    product: { id: 'p-2', name: 'Commuter helmet', priceMinor: 5990, currency: 'EUR', imageUrl: null, url: null },
    by: { id: 'c-42', role: 'customer' },
    byName: 'Alice',
    at: '2026-12-01T05:01:00.000Z',
  },
  recordedAt: '2026-12-01T05:01:00.000Z',
  hash: '0'.repeat(64),
};

const stateAt: StateAt = {
  conversationId: '49316337-9ec1-52e4-8b6c-d7dc6d8ef7a9',
  started: true,
  customer: { id: 'c-42', name: 'Alice' },
  vendor: { id: 'v-7', name: null },
  product: null,
  currentProduct: null,
  createdAt: '2026-12-01T04:19:30.513Z',
  updatedAt: '2026-12-01T04:19:34.204Z',
  eventsApplied: 2,
  lastPosition: 2,
  lastRecordedAt: '2026-12-01T04:19:34.204Z',
  sides: {
    customer: { readUpToSeq: 0, unread: 0, typing: false, lastReadAt: null },
    vendor: { readUpToSeq: 0, unread: 1, typing: true, lastReadAt: null },
  },
  messages: [{ ...message, readAt: null }].map(({ conversationId, ...m }) => (void conversationId, m)),
  at: 1,
  lastRevision: 4,
  event: events.events[0],
  chainValid: true,
};

const analytics: Analytics = {
  conversations: 1,
  newConversations: 1,
  messagesReceived: 1,
  messagesSent: 3,
  unreadBacklog: 0,
  firstResponseSeconds: { p50: 2.863, p90: 2.863 },
  byDay: [
    { date: '2026-11-30', messagesReceived: 0, messagesSent: 0 },
    { date: '2026-12-01', messagesReceived: 1, messagesSent: 3 },
  ],
  byHour: Array.from({ length: 24 }, (_, hour) =>
    hour === 4 ? { hour, messagesReceived: 1, messagesSent: 3 } : { hour, messagesReceived: 0, messagesSent: 0 },
  ),
  topProducts: [{ productId: 'p-1', name: 'Red bike', conversations: 1 }],
};

const joinAck: JoinChatRoomAck = { ok: true, conversationId: conversation.id, replayed: 500, hasMore: true };
const sendAck: Ack<SendMessageAck> = { ok: true, message, duplicate: false };
const refused: Ack<SendMessageAck> = { ok: false, error: { code: 'rate_limited', message: 'slow down' } };
const markAck: MarkReadAck = { ok: true, conversationId: conversation.id, readAt: message.sentAt, unreadCount: 0 };

// @ts-expect-error an unknown error code
const badError: ErrorBody = { error: { code: 'teapot', message: '' } };
// @ts-expect-error kind is text or product
const badKind: Message = { ...message, kind: 'image' };

// --- a typed socket.io-client socket ---

declare const raw: import('socket.io-client').Socket<ServerToClientEvents, ClientToServerEvents>;
raw.on('new_chat_message', ({ conversationId, unreadCount, totalUnread, message: m }) => {
  const n: number = unreadCount + totalUnread + m.seq;
  void [conversationId, n];
});
raw.emit('join_chat_room', { conversationId: conversation.id, sinceSeq: 4 }, (ack) => {
  if (ack.ok) {
    const more: boolean | undefined = ack.hasMore;
    void more;
  } else {
    const code: string = ack.error.code;
    void code;
  }
});
// @ts-expect-error sinceSeq is a number
raw.emit('join_chat_room', { conversationId: conversation.id, sinceSeq: '4' });

// --- the kit ---

const useChat = createChatStore({ baseUrl: 'https://chat.example', isVisible: () => true });
const state = useChat.getState();
state.connect({ token: 'a.b.c', socketUrl: 'https://chat.example:8081' });
const total: number = state.totalUnread;
const ids: string[] = state.order;
const thread = state.threads[ids[0]];
for (const m of visibleMessages(thread)) {
  const shown: string | null = m.text;
  void shown;
}
void state.sendMessage({ text: 'hello' });
state.typingActivity();
const other = otherOf(state.conversations[ids[0]], 'customer');
const online: boolean | undefined = other?.online;

const api = createChatApi('a.b.c', 'vendor', { fetch: globalThis.fetch });
async function rest() {
  const list = await api.listConversations({ search: 'bike', limit: 20 });
  const first: Conversation | undefined = list.conversations[0];
  const sent = await api.send({ conversationId: conversation.id, text: 'hi', clientMessageId: 'x-1' });
  const read = await api.markMessageRead(sent.message.id);
  const readId: string = read.messageId;
  try {
    await api.unread();
  } catch (e) {
    if (e instanceof ApiError && e.retryable) void e.code;
  }
  return [first, readId];
}

async function audit() {
  const past = await api.state(conversation.id, 3);
  const unreadThen: number = past.sides.customer.unread + past.lastRevision;
  const html: string = await api.transcript(conversation.id, 'html');
  const json = await api.transcript(conversation.id);
  const op = createOperatorApi('a.b.c');
  const found = await op.searchConversations('c-42', 'Refund dispute #812');
  const s = await op.state(found.conversations[0].id, null, 'Refund dispute #812');
  const t: string = await op.transcript(s.conversationId, 'html', 'Refund dispute #812');
  const saved: string = await api.transcript(conversation.id, 'json', { raw: true });
  void saved;
  // @ts-expect-error the reason is required
  await op.conversation(s.conversationId);
  return [unreadThen, html, json.finalHash, t];
}

const socket = new ChatSocket('https://chat.example:8081', 'a.b.c');
socket.on('user_offline', ({ userId, lastSeenAt }) => void [userId, lastSeenAt]);
socket.on('message_read', (e: ServerEvents['message_read']) => void e.messageId);
async function acks() {
  const ack = await socket.request('send_message', { conversationId: conversation.id, text: 'hi' });
  const dup: boolean = ack.duplicate;
  const mark = await socket.request('mark_read', { conversationId: conversation.id });
  const left: number = mark.unreadCount;
  // @ts-expect-error mark_read takes a conversationId
  await socket.request('mark_read', { messageId: 'x' });
  return [dup, left];
}

const merged: Message[] = mergeMessages([message], applyRead([message], { messageId: null, readerId: 'v-7', readAt: '' }));
const end: number = contiguousEnd(merged);
const me = userFromToken('a.b.c');

function Badge(): number {
  const connection = useChatSession(useChat, { token: 'a.b.c', socketUrl: 'https://chat.example:8081', user: me });
  const t = useConversation(useChat, conversation.id);
  void [connection, t?.hasMore];
  return useChat((s) => s.totalUnread);
}

void [card, error, page, history, receipt, unread, events, analytics, joinAck, sendAck, refused, markAck];
void [badError, badKind, total, online, rest, acks, end, Badge, supportAccess, productChanged, stateAt, audit];
