// Types of @souk/client: every object, request, answer, socket event and ack
// of souk's wire contract (docs/api.md), and the kit's own API.
//
// Written by hand from docs/api.md. The REST types are checked against
// types generated from the server's OpenAPI document (GET /api/openapi.json,
// snapshot in ../openapi.json) by ../test/types/openapi-check.ts: see "Types"
// in ../README.md.

import type { StoreApi, UseBoundStore } from 'zustand';

// ---------------------------------------------------------------------------
// Conventions
// ---------------------------------------------------------------------------

/** A UUID in its lowercase hyphenated form (conversation and message ids). */
export type Uuid = string;
/** An RFC 3339 time in UTC with three fractional digits: `2026-11-26T10:15:30.123Z`. */
export type Time = string;
/** A user, vendor or product id: 1 to 128 of `[A-Za-z0-9_.:@-]`. */
export type UserId = string;
export type ProductId = string;

/** Every user acts as a customer or as a vendor: two separate inboxes. */
export type Role = 'customer' | 'vendor';

// ---------------------------------------------------------------------------
// Objects
// ---------------------------------------------------------------------------

/** A product card as answers carry it: always all six fields. */
export interface ProductCard {
  id: ProductId;
  name: string;
  /** In the currency's minor unit (cents), 0 to 10^15. */
  priceMinor: number | null;
  /** ISO 4217, three capital letters (`EUR`). */
  currency: string | null;
  /** http(s), at most 2048 characters. */
  imageUrl: string | null;
  url: string | null;
}

/** A product card in a request: `id` and `name` required, the rest optional. */
export interface ProductCardInput {
  id: ProductId;
  name: string;
  priceMinor?: number | null;
  currency?: string | null;
  imageUrl?: string | null;
  url?: string | null;
}

export interface Participant {
  id: UserId;
  /** The latest name recorded in the conversation, or the id. */
  name: string;
  /** At least one connected socket (on any node). */
  online: boolean;
  /** Only when offline and known. */
  lastSeenAt?: Time;
}

export interface Sender {
  id: UserId;
  role: Role;
}

export type MessageKind = 'text' | 'product';

export interface Message {
  /** UUID v7: sorts by the time it was made. */
  id: Uuid;
  conversationId: Uuid;
  /** 1, 2, 3, ... with no gaps, the same for every reader. */
  seq: number;
  sender: Sender;
  kind: MessageKind;
  /** Trimmed, CRLF stored as LF; for a product message the caption or null. */
  text: string | null;
  product: ProductCard | null;
  clientMessageId: string | null;
  sentAt: Time;
  /** When the other participant's read marker first covered it. */
  readAt: Time | null;
}

export interface Conversation {
  /** One per customer-vendor pair (a UUID v5 over both ids). */
  id: Uuid;
  customer: Participant;
  vendor: Participant;
  /** The product the conversation was started from; it never changes. */
  product: ProductCard | null;
  /**
   * The product currently discussed: `product` until a participant opens
   * the conversation from another product, then that one.
   */
  currentProduct: ProductCard | null;
  lastMessage: Message | null;
  /** Messages of the other side that the caller has not read. */
  unreadCount: number;
  createdAt: Time;
  updatedAt: Time;
  /**
   * Only in a search answer, when a message matched (not the names or the
   * product alone): the conversation's newest matching message.
   */
  match?: SearchMatch;
}

/** The newest message of a conversation that matches a search. */
export interface SearchMatch {
  messageId: Uuid;
  /** Its seq: the history page `before: seq + 1` ends with it. */
  seq: number;
  /** Its text, or its product's name when it has none. */
  text: string;
}

/** The answer of the read routes and of the `mark_read` ack. */
export interface ReadReceipt {
  conversationId: Uuid;
  /** Only for a read of one message: the message named in the request. */
  messageId?: Uuid;
  readAt: Time;
  unreadCount: number;
}

export type ErrorCode =
  | 'invalid_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'payload_too_large'
  | 'rate_limited'
  | 'unavailable'
  | 'internal';

export interface ErrorObject {
  code: ErrorCode;
  /** For people; may change. Decide by `code`. */
  message: string;
}

/** The body of every failed REST answer (and the `error` of a failed ack). */
export interface ErrorBody {
  error: ErrorObject;
}

// ---------------------------------------------------------------------------
// REST routes ({side} = /api/chat or /api/vendor/chat)
// ---------------------------------------------------------------------------

/** `POST /api/chat/conversation` (customer token). */
export interface OpenConversationAsCustomer {
  vendorId: UserId;
  vendorName?: string | null;
  product?: ProductCardInput | null;
}

/** `POST /api/vendor/chat/conversation` (vendor token). */
export interface OpenConversationAsVendor {
  customerId: UserId;
  customerName?: string | null;
  product?: ProductCardInput | null;
}

export type OpenConversationRequest = OpenConversationAsCustomer | OpenConversationAsVendor;

/** `GET {side}/conversations` query. */
export interface ListConversationsQuery {
  /** At most 200 characters; blank is no search. */
  search?: string;
  /** 1 to 100, default 20. */
  limit?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string | null;
}

export interface ConversationPage {
  conversations: Conversation[];
  nextCursor: string | null;
  /** The caller's unread total on this side, whatever the page or search. */
  totalUnread: number;
}

/** `GET {side}/:conversationId/messages` query. */
export interface MessagesQuery {
  before?: number;
  after?: number;
  /** 1 to 100, default 30. */
  limit?: number;
}

export interface MessagePage {
  /** Ascending seq. */
  messages: Message[];
  hasMore: boolean;
}

/** `POST {side}/send` body, and the `send_message` payload. */
export interface SendMessageRequest {
  conversationId: Uuid;
  /** 1 to 4000 characters after trimming; optional caption with a product. */
  text?: string | null;
  product?: ProductCardInput | null;
  /** 1 to 64 characters: makes retries safe. */
  clientMessageId?: string | null;
}

export interface SendMessageResponse {
  message: Message;
}

/** `GET {side}/unread`. */
export interface UnreadCounts {
  total: number;
  /** Conversation id to its unread count, for counts above 0 only. */
  conversations: Record<Uuid, number>;
}

/** `GET {side}/:conversationId/events` query. */
export interface EventsQuery {
  from?: number;
  /** 1 to 1000, default 100. */
  limit?: number;
}

export interface NamedParticipant {
  id: UserId;
  name: string | null;
}

export interface ConversationStartedData {
  conversationId: Uuid;
  customer: NamedParticipant;
  vendor: NamedParticipant;
  product: ProductCard | null;
  startedBy: Role;
  at: Time;
}

export interface MessageSentData {
  messageId: Uuid;
  seq: number;
  sender: Sender;
  senderName?: string;
  kind: MessageKind;
  text: string | null;
  product: ProductCard | null;
  clientMessageId: string | null;
  at: Time;
}

export interface MessageReadData {
  readerId: UserId;
  readerRole: Role;
  readerName?: string;
  upToSeq: number;
  upToMessageId: Uuid;
  all: boolean;
  at: Time;
}

export interface TypingStartedData {
  userId: UserId;
  role: Role;
  at: Time;
}

export interface TypingStoppedData extends TypingStartedData {
  reason: 'stopped' | 'expired' | 'messageSent';
}

/** An operator (support staff) read the conversation: recorded before the answer. */
export interface SupportAccessedData {
  /** The operator as their token names them. */
  operator: NamedParticipant;
  /** The reason the operator gave, 3 to 500 characters. */
  reason: string;
  /** What they looked at. */
  view: 'conversation' | 'events' | 'state' | 'transcript';
  at: Time;
}

/** A participant opened the conversation from another product, which it is now about. */
export interface CurrentProductChangedData {
  product: ProductCard;
  by: Sender;
  byName?: string;
  at: Time;
}

/** Lowercase hex SHA-256 (64 characters). */
export type Hash = string;

interface RecordedEventBase<T extends string, D> {
  /** The event's place in the whole log. */
  position: number;
  /** Its place in this conversation's stream (0, 1, 2, ...). */
  revision: number;
  type: T;
  version: number;
  data: D;
  recordedAt: Time;
  /** Chains the event to the previous one of its stream (the first to 32 zero bytes). */
  hash: Hash;
}

export type RecordedEvent =
  | RecordedEventBase<'ConversationStarted', ConversationStartedData>
  | RecordedEventBase<'MessageSent', MessageSentData>
  | RecordedEventBase<'MessageRead', MessageReadData>
  | RecordedEventBase<'TypingStarted', TypingStartedData>
  | RecordedEventBase<'TypingStopped', TypingStoppedData>
  | RecordedEventBase<'SupportAccessed', SupportAccessedData>
  | RecordedEventBase<'CurrentProductChanged', CurrentProductChangedData>;

export interface EventPage {
  events: RecordedEvent[];
  /** The `from` of the next page, or null at the end. */
  next: number | null;
}

/** One side's figures in a state. */
export interface SideState {
  /** This side has read the other side's messages up to this seq. */
  readUpToSeq: number;
  /** Messages of the other side this side has not read. */
  unread: number;
  typing: boolean;
  lastReadAt: Time | null;
}

/** A message as a state has it (`readAt`: when the other side's marker covered it). */
export interface StateMessage {
  seq: number;
  id: Uuid;
  sender: Sender;
  kind: MessageKind;
  text: string | null;
  product: ProductCard | null;
  clientMessageId: string | null;
  sentAt: Time;
  readAt: Time | null;
}

/**
 * `GET {side}/:conversationId/state?at=` (and the operator's): the
 * conversation as it was just after the event at stream revision `at`,
 * folded from the log.
 */
export interface StateAt {
  conversationId: Uuid;
  started: boolean;
  customer: NamedParticipant | null;
  vendor: NamedParticipant | null;
  product: ProductCard | null;
  /** The product discussed as of that event. */
  currentProduct: ProductCard | null;
  createdAt: Time | null;
  updatedAt: Time | null;
  eventsApplied: number;
  lastPosition: number | null;
  lastRecordedAt: Time | null;
  sides: { customer: SideState; vendor: SideState };
  messages: StateMessage[];
  /** The revision shown. */
  at: number;
  /** The stream's last revision. */
  lastRevision: number;
  /** The event at `at`. */
  event: RecordedEvent;
  /** Whether the hash chain of the events folded (revisions 0 to `at`) holds. */
  chainValid: boolean;
}

/** `GET {side}/:conversationId/state` query. */
export interface StateQuery {
  at?: number;
}

export type TranscriptFormat = 'json' | 'html';

/** `GET {side}/:conversationId/transcript` query. */
export interface TranscriptQuery {
  /** Default `json`. */
  format?: TranscriptFormat;
}

/** A participant in a transcript. */
export interface TranscriptParticipant {
  id: UserId;
  name: string | null;
}

/** One event of a transcript, exactly as stored (`data` is the payload's JSON text). */
export interface TranscriptEvent {
  stream: string;
  revision: number;
  position: number;
  type: string;
  version: number;
  data: string;
  recordedAt: Time;
  hash: Hash;
}

/**
 * The dispute transcript, `souk-transcript/1`: every event as stored with its
 * hash, the final hash, and a digest of the rest. The file is exactly its
 * canonical serialization: save it as served (`transcript(id, 'json', { raw: true })`).
 */
export interface Transcript {
  format: string;
  conversation: {
    id: Uuid;
    customer: TranscriptParticipant;
    vendor: TranscriptParticipant;
    product: ProductCard | null;
    createdAt: Time;
  };
  /** Who asked for it; `role` is `customer`, `vendor` or `operator`. */
  generatedBy: { id: UserId; role: string; name: string | null };
  generatedAt: Time;
  events: TranscriptEvent[];
  /** The last event's hash. */
  finalHash: Hash;
  /** SHA-256 (lowercase hex) of the canonical serialization of the rest. */
  digest: Hash;
}

/**
 * A conversation as an operator sees it: no viewer, so no unread count, and
 * no message (the search records no access, so it shows no message text).
 */
export type OperatorConversationSummary = Omit<Conversation, 'unreadCount' | 'lastMessage' | 'match'>;

/** Every operator route names why: 3 to 500 characters, one line. */
export interface OperatorReason {
  reason: string;
}

/** `GET /api/operator/conversations` query. */
export interface OperatorSearchQuery extends OperatorReason {
  participant: UserId;
  /** 1 to 100, default 20. */
  limit?: number;
}

/** `GET /api/operator/conversations/:id` query. */
export interface OperatorConversationQuery extends OperatorReason {
  before?: number;
  /** 1 to 100, default 30. */
  limit?: number;
}

/** `GET /api/operator/conversations` answer. */
export interface OperatorConversationList {
  /** Newest activity first. */
  conversations: OperatorConversationSummary[];
  /** More than `limit` were found. */
  hasMore: boolean;
}

/** `GET /api/operator/conversations/:id` answer. */
export interface OperatorConversation {
  conversation: OperatorConversationSummary;
  /** Ascending seq. */
  messages: Message[];
  hasMore: boolean;
}

/** `GET /api/vendor/analytics` query: RFC 3339 times or `YYYY-MM-DD` dates. */
export interface AnalyticsQuery {
  from?: string;
  to?: string;
}

export interface Analytics {
  conversations: number;
  newConversations: number;
  messagesReceived: number;
  messagesSent: number;
  unreadBacklog: number;
  firstResponseSeconds: { p50: number | null; p90: number | null };
  byDay: { date: string; messagesReceived: number; messagesSent: number }[];
  /** Always 24: UTC hours of the day 0 to 23, in order, summed over the window's days. */
  byHour: { hour: number; messagesReceived: number; messagesSent: number }[];
  topProducts: { productId: ProductId; name: string; conversations: number }[];
}

/** `GET /healthz`: 200 ok, or 503 naming what fails (not the error shape). */
export interface Health {
  status: 'ok' | 'unavailable';
  node: string;
  failing?: string[];
  log?: 'ok' | 'unavailable';
  projections?: 'ok' | 'unavailable';
  /** Cluster mode only. */
  presence?: 'ok' | 'unavailable';
  /** Only with 503: how far the read models got. */
  readModels?: ReadModelsHealth;
}

export interface ReadModelsHealth {
  /** `lagging`: running, but more than 8,192 events behind the log. */
  state: 'idle' | 'checking' | 'rebuilding' | 'catching_up' | 'running' | 'retrying' | 'stopped' | 'lagging';
  /** The last log position they applied. */
  position: number;
  /** The log's last position. */
  logEnd: number;
  /** The last failure, or null. */
  error: string | null;
}

/** `GET /api/config` (web app). */
export interface ClientConfig {
  demo: boolean;
  socketUrl: string | null;
  socketPort: number;
}

/** `GET /api/demo/users` (demo mode). */
export interface DemoUsers {
  customers: { id: UserId; name: string }[];
  vendors: { id: UserId; name: string }[];
  products: (ProductCard & { vendorId: UserId; vendorName: string })[];
}

/** `POST /api/demo/token` (demo mode). */
export interface DemoToken {
  token: string;
  user: { id: UserId; role: Role; name: string };
}

// ---------------------------------------------------------------------------
// Socket.IO
// ---------------------------------------------------------------------------

export interface JoinChatRoomPayload {
  conversationId: Uuid;
  /** The highest seq held without a gap: every later message is replayed first. */
  sinceSeq?: number;
}

export interface ConversationPayload {
  conversationId: Uuid;
}

export interface MarkReadPayload {
  conversationId: Uuid;
  messageId?: Uuid;
}

export interface AckOk {
  ok: true;
}

export interface AckError {
  ok: false;
  error: ErrorObject;
}

export type Ack<T extends AckOk> = T | AckError;

export interface JoinChatRoomAck extends AckOk {
  conversationId: Uuid;
  /** How many messages were replayed (at most 500). */
  replayed: number;
  /** More than 500 were missed: page the rest with `?after=<last seq replayed>`. */
  hasMore?: boolean;
}

export interface LeaveChatRoomAck extends AckOk {
  conversationId: Uuid;
}

export type TypingAck = AckOk;

export interface SendMessageAck extends AckOk {
  message: Message;
  /** A repeat of a known clientMessageId (REST's 200). */
  duplicate: boolean;
}

export type MarkReadAck = AckOk & ReadReceipt;

/** Client events: the payload and the ack on success. */
export interface ClientEvents {
  join_chat_room: { payload: JoinChatRoomPayload; ack: JoinChatRoomAck };
  leave_chat_room: { payload: ConversationPayload; ack: LeaveChatRoomAck };
  typing_start: { payload: ConversationPayload; ack: TypingAck };
  typing_stop: { payload: ConversationPayload; ack: TypingAck };
  send_message: { payload: SendMessageRequest; ack: SendMessageAck };
  mark_read: { payload: MarkReadPayload; ack: MarkReadAck };
}

export type ClientEventName = keyof ClientEvents;

export interface NewChatMessageEvent {
  conversationId: Uuid;
  message: Message;
  /** The recipient's unread count in the conversation after this message. */
  unreadCount: number;
  totalUnread: number;
}

export interface TypingEvent {
  conversationId: Uuid;
  userId: UserId;
}

export interface MessageReadEvent {
  conversationId: Uuid;
  /** The last message the reader's marker now covers. */
  messageId: Uuid;
  readerId: UserId;
  readAt: Time;
}

export interface AllMessagesReadEvent {
  conversationId: Uuid;
  readerId: UserId;
  readAt: Time;
}

export interface UnreadCountEvent {
  conversationId: Uuid;
  unreadCount: number;
  totalUnread: number;
}

export interface UserOnlineEvent {
  userId: UserId;
}

export interface UserOfflineEvent {
  userId: UserId;
  lastSeenAt: Time;
}

/** Server events and their payloads. */
export interface ServerEvents {
  receive_message: Message;
  new_chat_message: NewChatMessageEvent;
  user_typing: TypingEvent;
  user_stopped_typing: TypingEvent;
  message_read: MessageReadEvent;
  all_messages_read: AllMessagesReadEvent;
  unread_count: UnreadCountEvent;
  user_online: UserOnlineEvent;
  user_offline: UserOfflineEvent;
}

export type ServerEventName = keyof ServerEvents;

/**
 * For socket.io-client's typed sockets:
 * `const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(url, { auth: { token } })`.
 */
export type ServerToClientEvents = {
  [E in ServerEventName]: (payload: ServerEvents[E]) => void;
};

export type ClientToServerEvents = {
  [E in ClientEventName]: (
    payload: ClientEvents[E]['payload'],
    ack?: (ack: Ack<ClientEvents[E]['ack']>) => void,
  ) => void;
};

// ---------------------------------------------------------------------------
// The kit: REST client
// ---------------------------------------------------------------------------

export type FetchLike = (input: string, init?: {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal | null;
}) => Promise<{ ok: boolean; status: number; text(): Promise<string> }>;

export interface HttpOptions {
  /** Where souk's REST routes are; '' (default) is this page's origin. */
  baseUrl?: string;
  /** The fetch to use (default: the global one). */
  fetch?: FetchLike;
}

/** Codes of the kit beside the server's: no answer at all (`network`), no ack in time (`timeout`). */
export type ClientErrorCode = ErrorCode | 'network' | 'timeout';

export declare class ApiError extends Error {
  constructor(status: number, code: ClientErrorCode | string, message: string);
  readonly name: 'ApiError';
  /** The HTTP status; 0 on a socket or without an answer. */
  status: number;
  code: ClientErrorCode | string;
  /** Worth trying again later with the same request (network, timeout, unavailable, rate_limited, 5xx). */
  readonly retryable: boolean;
}

export declare function errorFrom(status: number, body: unknown): ApiError;

export declare function request<T = unknown>(
  method: 'GET' | 'POST' | 'PUT' | 'HEAD',
  path: string,
  options?: HttpOptions & {
    token?: string;
    body?: unknown;
    signal?: AbortSignal;
    /** `text`: a successful answer's body as text (HTML), not parsed. */
    as?: 'json' | 'text';
  },
): Promise<T>;

/** Options of `openConversation`, for either side: `otherId` is the vendor's or the customer's id. */
export interface OpenConversationOptions {
  otherId: UserId;
  otherName?: string | null;
  product?: ProductCardInput | null;
}

export interface ChatApi {
  role: Role;
  listConversations(query?: ListConversationsQuery, signal?: AbortSignal): Promise<ConversationPage>;
  openConversation(options: OpenConversationOptions): Promise<Conversation>;
  messages(conversationId: Uuid, query?: MessagesQuery): Promise<MessagePage>;
  send(body: SendMessageRequest): Promise<SendMessageResponse>;
  markMessageRead(messageId: Uuid): Promise<ReadReceipt & { messageId: Uuid }>;
  markAllRead(conversationId: Uuid): Promise<ReadReceipt>;
  unread(): Promise<UnreadCounts>;
  events(conversationId: Uuid, query?: EventsQuery): Promise<EventPage>;
  /** The conversation as it was at revision `at` (the latest when left out). */
  state(conversationId: Uuid, at?: number | null): Promise<StateAt>;
  transcript(conversationId: Uuid, format?: 'json'): Promise<Transcript>;
  /** The printable HTML page, as text. */
  transcript(conversationId: Uuid, format: 'html'): Promise<string>;
  /** Either format's body exactly as served, as text (to save it unchanged). */
  transcript(conversationId: Uuid, format: TranscriptFormat, options: { raw: true }): Promise<string>;
}

export declare function createChatApi(token: string, role: Role, options?: HttpOptions): ChatApi;

/**
 * The operator routes (`/api/operator/...`, a token with role `operator`),
 * read only; each call names its reason (3 to 500 characters), and each
 * per-conversation call is recorded in that conversation's log first.
 */
export interface OperatorApi {
  role: 'operator';
  /** Records nothing (it names no single conversation). `limit`: 1 to 100, default 20. */
  searchConversations(
    participant: UserId,
    reason: string,
    options?: { limit?: number; signal?: AbortSignal },
  ): Promise<OperatorConversationList>;
  conversation(id: Uuid, reason: string, query?: { before?: number; limit?: number }): Promise<OperatorConversation>;
  events(id: Uuid, reason: string, query?: EventsQuery): Promise<EventPage>;
  state(id: Uuid, at: number | null | undefined, reason: string): Promise<StateAt>;
  transcript(id: Uuid, format: 'json' | undefined, reason: string): Promise<Transcript>;
  transcript(id: Uuid, format: 'html', reason: string): Promise<string>;
  transcript(id: Uuid, format: TranscriptFormat, reason: string, options: { raw: true }): Promise<string>;
}

export declare function createOperatorApi(token: string, options?: HttpOptions): OperatorApi;

export declare function fetchAnalytics(token: string, query?: AnalyticsQuery, options?: HttpOptions): Promise<Analytics>;

/** `GET /api/config`, fetched once per page load. */
export declare function fetchConfig(options?: HttpOptions): Promise<ClientConfig>;

/** The Socket.IO URL that a config names (`socketUrl`, else `location`'s host with `socketPort`). */
export declare function socketUrlOf(
  config: Partial<ClientConfig> | null | undefined,
  location?: { protocol: string; hostname: string },
): string;

export declare function fetchDemoUsers(options?: HttpOptions): Promise<DemoUsers>;
export declare function fetchDemoToken(userId: UserId, role: Role, options?: HttpOptions): Promise<DemoToken>;

// ---------------------------------------------------------------------------
// The kit: socket client
// ---------------------------------------------------------------------------

export type ConnectionState = 'idle' | 'connecting' | 'online' | 'offline' | 'unauthorized';

/** Events of the ChatSocket wrapper itself. */
export interface LocalEvents {
  status: { state: Exclude<ConnectionState, 'idle' | 'connecting'>; reason?: string; reconnected?: boolean };
  /** The connection came up again and every room was joined again. */
  rejoined: Record<string, never>;
  /** A join's catch-up stopped at the server's bound (`hasMore`): page the rest with REST. */
  join_more: { conversationId: Uuid };
  join_error: { conversationId: Uuid; error: ApiError };
}

/** The part of socket.io-client's Socket that ChatSocket uses (a stand-in needs only this). */
export interface SocketLike {
  readonly connected: boolean;
  auth?: Record<string, unknown> | ((cb: (data: object) => void) => void);
  on(event: string, handler: (...args: any[]) => void): unknown;
  off(event: string, handler?: (...args: any[]) => void): unknown;
  emit(event: string, ...args: any[]): unknown;
  timeout(ms: number): { emit(event: string, payload: unknown, cb: (err: Error | null, ack?: any) => void): unknown };
  volatile: { emit(event: string, ...args: any[]): unknown };
  connect(): unknown;
  disconnect(): unknown;
  removeAllListeners(event?: string): unknown;
}

export type IoLike = (url: string, options: Record<string, unknown>) => SocketLike;

export interface ChatSocketOptions {
  /** socket.io-client's `io` (default) or a stand-in. */
  io?: IoLike;
  /** Extra options for `io` (they win over the kit's). */
  options?: Record<string, unknown>;
}

export declare class ChatSocket {
  constructor(url: string, token: string, options?: ChatSocketOptions);
  readonly url: string;
  token: string;
  /** The socket.io-client socket. */
  readonly socket: SocketLike;
  readonly connected: boolean;
  /** A fresh token for the next (re)connection; connects at once when down. */
  setToken(token: string): void;
  /** Skips the backoff wait (the browser's `online` event does this). */
  reconnectNow(): void;
  /**
   * Joins a conversation's room now (if connected) and again after every
   * reconnect, with `sinceSeq` = `sinceOf()` (null: no catch-up).
   */
  joinRoom(conversationId: Uuid, sinceOf: () => number | null | undefined): Promise<JoinChatRoomAck | null>;
  leaveRoom(conversationId: Uuid): void;
  /** Fire and forget (typing); dropped while disconnected. */
  emitVolatile<E extends ClientEventName>(event: E, payload: ClientEvents[E]['payload']): void;
  /** Emits with an ack; rejects with an ApiError (code `timeout` when no ack comes). */
  request<E extends ClientEventName>(
    event: E,
    payload: ClientEvents[E]['payload'],
    timeoutMs?: number,
  ): Promise<ClientEvents[E]['ack']>;
  /** Listens to a server event; returns the function that stops listening. */
  on<E extends ServerEventName>(event: E, handler: (payload: ServerEvents[E]) => void): () => void;
  onLocal<E extends keyof LocalEvents>(event: E, handler: (data: LocalEvents[E]) => void): () => void;
  close(): void;
}

// ---------------------------------------------------------------------------
// The kit: store
// ---------------------------------------------------------------------------

export interface User {
  id: UserId;
  role: Role;
  name: string;
}

export interface Session {
  token: string;
  user: User;
}

/** A message of the user on its way (or failed), shown after the confirmed ones. */
export interface PendingMessage {
  clientMessageId: string;
  conversationId: Uuid;
  sender: Sender;
  kind: MessageKind;
  text: string | null;
  product: ProductCardInput | null;
  sentAt: Time;
  readAt: null;
  status: 'sending' | 'failed';
  error: string | null;
  /** Whether a retry may succeed (a refused message is not). */
  retryable: boolean;
  /** Automatic retries so far. */
  attempts?: number;
  /** The send's body, sent again as it is (same clientMessageId). */
  body: SendMessageRequest & { clientMessageId: string };
}

export interface Thread {
  /** Confirmed messages, ascending seq, unique by id. */
  messages: Message[];
  pending: PendingMessage[];
  /** Older messages remain on the server. */
  hasMore: boolean;
  status: 'idle' | 'loading' | 'ready' | 'error';
  loadingOlder: boolean;
  error: string | null;
}

export interface Presence {
  online: boolean;
  lastSeenAt: Time | null;
}

export interface ChatState {
  me: User | null;
  connection: ConnectionState;
  conversations: Record<Uuid, Conversation>;
  /** The ids the list shows: newest activity first, the search's when there is one. */
  order: Uuid[];
  search: string;
  listStatus: 'idle' | 'loading' | 'ready' | 'error';
  listError: string | null;
  nextCursor: string | null;
  loadingMore: boolean;
  activeId: Uuid | null;
  threads: Record<Uuid, Thread>;
  /** Conversation id to the id of the user typing there. */
  typing: Record<Uuid, UserId>;
  /** Conversation id to its unread count (above 0 only). */
  unread: Record<Uuid, number>;
  totalUnread: number;
  /** User id to their presence. */
  presence: Record<UserId, Presence>;
  /** Products the app shows (set by the app; not from the server). */
  products: ProductCardInput[];
  /** A message for a passing notice (a failed page load). */
  notice: string | null;

  /** Starts the session: one socket at `socketUrl`, the list, the unread counts. */
  start(session: Session, config: unknown, socketUrl: string): void;
  /** Starts the session of a token (the user read from its payload unless given). */
  connect(options: { token: string; socketUrl: string; user?: User }): void;
  /** A fresh token of the same user, for the next REST calls and reconnections. */
  setToken(token: string): void;
  stop(): void;
  setProducts(products: ProductCardInput[] | null | undefined): void;
  dismissNotice(): void;

  loadConversations(search?: string, options?: { quiet?: boolean }): Promise<void>;
  loadMoreConversations(): Promise<void>;
  refreshUnread(): Promise<void>;

  /** Opens (or finds) the conversation with the other side; resolves its id. */
  startConversation(options: OpenConversationOptions): Promise<Uuid>;
  /** Makes it the active one: history, room joined with catch-up, reads marked. */
  openConversation(id: Uuid): Promise<void>;
  closeConversation(): void;
  retryOpen(): Promise<void>;
  loadOlder(id: Uuid): Promise<void>;
  /** Fills a gap from REST; with `newer`, also everything after the last held message. */
  fillGap(id: Uuid, options?: { newer?: boolean }): Promise<void>;
  /** The one way messages enter the store: merged by id, pending copies removed. */
  receiveMessages(conversationId: Uuid, messages: Message[]): void;
  applyReadEvent(event: { conversationId: Uuid; messageId: Uuid | null; readerId: UserId; readAt: Time }): void;
  markRead(id: Uuid): Promise<void>;

  /** Sends into the active conversation, optimistically (a pending message first). */
  sendMessage(options?: { text?: string; product?: ProductCardInput | null }): Promise<void> | undefined;
  /** Sends (again) one pending message, with its clientMessageId: never recorded twice. */
  deliver(conversationId: Uuid, clientMessageId: string): Promise<void>;
  retry(conversationId: Uuid, clientMessageId: string): Promise<void>;
  discard(conversationId: Uuid, clientMessageId: string): void;
  /** Sends again every failed, retryable message (done on each reconnect). */
  retryFailed(): void;

  /** Call on every keystroke in the composer (typing_start, then typing_stop when idle). */
  typingActivity(): void;
  stopTyping(): void;
}

export interface ChatStoreOptions extends HttpOptions {
  io?: IoLike;
  socketOptions?: Record<string, unknown>;
  /** Makes the session's socket (replaces `io`). */
  createSocket?: (url: string, token: string) => ChatSocket;
  /** Told when the session's socket is made, and with null when it is closed. */
  onSocket?: (socket: ChatSocket | null) => void;
  /** Makes each sent message's clientMessageId (1 to 64 characters). */
  clientMessageId?: () => string;
  /** Whether the user sees the page: reads are marked only then. */
  isVisible?: () => boolean;
}

export type ChatStore = UseBoundStore<StoreApi<ChatState>>;

export declare function createChatStore(options?: ChatStoreOptions): ChatStore;

// ---------------------------------------------------------------------------
// The kit: pure helpers and tokens
// ---------------------------------------------------------------------------

/** `<tabId>-<counter>`, unique per tab and page load. */
export declare function nextClientMessageId(): string;
export declare function otherOf(conversation: Conversation | null | undefined, role: Role): Participant | null;
/** Merges by id in ascending seq; a known readAt is never lost; the same array when nothing changed. */
export declare function mergeMessages(existing: Message[], incoming: Message[]): Message[];
/** The last seq held without a gap from the oldest loaded message (0 when none). */
export declare function contiguousEnd(messages: Pick<Message, 'seq'>[]): number;
/** Marks as read the messages `readerId` did not send, up to `messageId` (all when null). */
export declare function applyRead(
  messages: Message[],
  read: { messageId: Uuid | null; readerId: UserId; readAt: Time },
): Message[];
export declare function visibleMessages(thread: Thread | null | undefined): (Message | PendingMessage)[];

export declare class TokenError extends Error {
  readonly name: 'TokenError';
}
/** A JWT's payload, not verified. */
export declare function tokenPayload(token: string): Record<string, unknown>;
/** `{ id, role, name }` from `sub`, `role` and `name` (or the claims named). */
export declare function userFromToken(token: string, claims?: { roleClaim?: string; nameClaim?: string }): User;
