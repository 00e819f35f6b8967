// The REST types of types/index.d.ts against those generated from souk's
// OpenAPI document (openapi.json, the committed snapshot of
// GET /api/openapi.json; `npm run openapi:types` writes openapi.d.ts from it,
// git-ignored). Type-checked by `npm run test:types`: a failed assertion reads
// "Type 'false' does not satisfy the constraint 'true'" on its line.
//
// Each pair must be assignable both ways (`Same`) and have the same
// property names (`SameKeys`: assignability alone would let either side miss
// an optional field). Where one side says more than the other, the check is
// one way (`Extends`) and a comment says why. Nested objects are checked as
// their own pairs.

import type * as K from '../../types/index.js';
import type { components, operations } from './openapi.js';

type S = components['schemas'];

type Assert<T extends true> = T;
type Extends<A, B> = [A] extends [B] ? true : false;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type SameKeys<A, B> = Same<keyof A, keyof B>;
/** Both ways and the same property names. */
type Twin<A, B> = Same<A, B> extends true ? SameKeys<A, B> : false;

/** The JSON body of an operation's answer with that status. */
type Answer<Op extends keyof operations, Status extends number> = operations[Op]['responses'] extends infer R
  ? Status extends keyof R
    ? R[Status] extends { content: { 'application/json': infer T } }
      ? T
      : never
    : never
  : never;
/** The JSON body of an operation's request. */
type Body<Op extends keyof operations> = operations[Op] extends {
  requestBody: { content: { 'application/json': infer T } };
}
  ? T
  : never;
/** An operation's query parameters. */
type Query<Op extends keyof operations> = NonNullable<operations[Op]['parameters']['query']>;

type Side = 'customer' | 'vendor';

// ---------------------------------------------------------------------------
// Objects
// ---------------------------------------------------------------------------

/**
 * An answer as the wire has it. The server leaves out an answer's optional
 * fields when it has no value (`skip_serializing_if = "Option::is_none"` on
 * every one: Participant.lastSeenAt, ReadReceipt.messageId, Health's), but
 * the document types them `string | null` (utoipa's reading of an Option).
 * The kit types them as sent (`lastSeenAt?: Time`); `Wire` drops that `null`
 * (optional answer fields only) before the two-way checks, and `Extends`
 * checks that the kit's type is still one the raw document allows.
 */
type Wire<T> = T extends (infer E)[]
  ? Wire<E>[]
  : T extends object
    ? { [P in keyof T]: undefined extends T[P] ? Wire<Exclude<T[P], null>> : Wire<T[P]> }
    : T;
/** An answer type: both ways against the wire, one way against the raw document. */
type Answered<Kit, Doc> = Twin<Kit, Wire<Doc>> extends true ? Extends<Kit, Doc> : false;

export type Checks = [
  Assert<Same<K.Role, S['Role']>>,
  Assert<Same<K.MessageKind, S['MessageKind']>>,
  Assert<Same<K.ErrorCode, S['ErrorCode']>>,
  Assert<Twin<K.ErrorObject, S['ErrorDetail']>>,
  Assert<Twin<K.ErrorBody, S['ErrorBody']>>,
  Assert<Twin<K.ProductCard, S['ProductCard']>>,
  Assert<Twin<K.ProductCardInput, S['ProductCardInput']>>,
  Assert<Twin<K.Sender, S['Sender']>>,
  Assert<Twin<K.Message, S['Message']>>,
  Assert<Answered<K.Participant, S['Participant']>>,
  Assert<Answered<K.Conversation, S['Conversation']>>,
  Assert<Twin<K.SearchMatch, S['SearchMatch']>>,
  Assert<Answered<K.ReadReceipt, S['ReadReceipt']>>,
];

// ---------------------------------------------------------------------------
// Routes, both sides: requests, queries and answers
// ---------------------------------------------------------------------------

/** Named checks of one side; each must be `true` (see the end of this block). */
type RouteChecks<P extends Side> = {
  // POST {side}/conversation
  open_conversation_body_Twin: Twin<P extends 'customer' ? K.OpenConversationAsCustomer : K.OpenConversationAsVendor, Body<`${P}_open_conversation`>>;
  open_conversation_answer200: Answered<K.Conversation, Answer<`${P}_open_conversation`, 200>>;
  open_conversation_answer201: Answered<K.Conversation, Answer<`${P}_open_conversation`, 201>>;
  open_conversation_answer400_Twin: Twin<K.ErrorBody, Answer<`${P}_open_conversation`, 400>>;

  // GET {side}/conversations. The kit's `cursor` also takes null (the
  // `nextCursor` of a last page; the kit then leaves it out of the query):
  // every query the document allows is one the kit takes.
  list_conversations_query_SameKeys: SameKeys<K.ListConversationsQuery, Query<`${P}_list_conversations`>>;
  list_conversations_query_Extends: Extends<Query<`${P}_list_conversations`>, K.ListConversationsQuery>;
  list_conversations_query_Same: Same<K.ListConversationsQuery['cursor'], Query<`${P}_list_conversations`>['cursor'] | null>;
  list_conversations_answer200: Answered<K.ConversationPage, Answer<`${P}_list_conversations`, 200>>;

  // GET {side}/:conversationId/messages
  history_query_Twin: Twin<K.MessagesQuery, Query<`${P}_history`>>;
  history_answer200_Twin: Twin<K.MessagePage, Answer<`${P}_history`, 200>>;

  // POST {side}/send
  send_body_Twin: Twin<K.SendMessageRequest, Body<`${P}_send`>>;
  send_answer200_Twin: Twin<K.SendMessageResponse, Answer<`${P}_send`, 200>>;
  send_answer201_Twin: Twin<K.SendMessageResponse, Answer<`${P}_send`, 201>>;

  // PUT {side}/message/:messageId/read and {side}/:conversationId/read
  read_message_answer200: Answered<K.ReadReceipt, Answer<`${P}_read_message`, 200>>;
  read_all_answer200: Answered<K.ReadReceipt, Answer<`${P}_read_all`, 200>>;

  // GET {side}/unread
  unread_answer200_Twin: Twin<K.UnreadCounts, Answer<`${P}_unread`, 200>>;

  // GET {side}/:conversationId/events. The kit types each event's `type`
  // and `data` (docs/api.md, "Events"); the document has `type: string` and
  // `data: unknown`. One way: every event of the kit is one the document allows.
  events_query_Twin: Twin<K.EventsQuery, Query<`${P}_events`>>;
  events_answer200_SameKeys: SameKeys<K.EventPage, Answer<`${P}_events`, 200>>;
  events_answer200_Extends: Extends<K.EventPage, Answer<`${P}_events`, 200>>;
  events_answer200_Same: Same<K.EventPage['next'], Answer<`${P}_events`, 200>['next']>;
  recordedEvent_SameKeys: SameKeys<K.RecordedEvent, S['RecordedEvent']>;
  recordedEvent_Extends: Extends<K.RecordedEvent, S['RecordedEvent']>;

  // GET {side}/:conversationId/state. Its `event` is a RecordedEvent, typed
  // by the kit (see above): one way, and the same fields.
  state_query_Twin: Twin<K.StateQuery, Query<`${P}_state_at`>>;
  state_answer200_SameKeys: SameKeys<K.StateAt, Answer<`${P}_state_at`, 200>>;
  state_answer200_Extends: Extends<K.StateAt, Answer<`${P}_state_at`, 200>>;
  state_answer200_rest_Twin: Twin<Omit<K.StateAt, 'event'>, Omit<Answer<`${P}_state_at`, 200>, 'event'>>;

  // GET {side}/:conversationId/transcript. The document's `format` is a
  // string (the server names the two it takes); the kit's, those two.
  transcript_query_SameKeys: SameKeys<K.TranscriptQuery, Query<`${P}_transcript`>>;
  transcript_query_Extends: Extends<K.TranscriptQuery, Query<`${P}_transcript`>>;
  transcript_answer200_Twin: Twin<K.Transcript, Answer<`${P}_transcript`, 200>>;
};

type AllTrue<T> = { [N in keyof T]: true };
declare const customer: RouteChecks<'customer'>;
declare const vendor: RouteChecks<'vendor'>;
// A failed check reads "Types of property '<name>' are incompatible" here.
export const customerRoutes: AllTrue<RouteChecks<'customer'>> = customer;
export const vendorRoutes: AllTrue<RouteChecks<'vendor'>> = vendor;

// ---------------------------------------------------------------------------
// Operator routes
// ---------------------------------------------------------------------------

type OpState = Answer<'operator_state', 200>;

export type OperatorChecks = [
  Assert<Twin<K.OperatorSearchQuery, Query<'operator_search'>>>,
  Assert<Answered<K.OperatorConversationList, Answer<'operator_search', 200>>>,
  Assert<Answered<K.OperatorConversationSummary, S['OperatorConversationSummary']>>,
  Assert<Twin<K.OperatorConversationQuery, Query<'operator_conversation'>>>,
  Assert<Answered<K.OperatorConversation, Answer<'operator_conversation', 200>>>,
  Assert<Twin<K.EventsQuery & K.OperatorReason, Query<'operator_events'>>>,
  Assert<SameKeys<K.EventPage, Answer<'operator_events', 200>>>,
  Assert<Extends<K.EventPage, Answer<'operator_events', 200>>>,
  Assert<Twin<K.StateQuery & K.OperatorReason, Query<'operator_state'>>>,
  Assert<SameKeys<K.StateAt, OpState>>,
  Assert<Extends<K.StateAt, OpState>>,
  Assert<SameKeys<K.TranscriptQuery & K.OperatorReason, Query<'operator_transcript'>>>,
  Assert<Extends<K.TranscriptQuery & K.OperatorReason, Query<'operator_transcript'>>>,
  Assert<Twin<K.Transcript, Answer<'operator_transcript', 200>>>,
];

// ---------------------------------------------------------------------------
// Vendor analytics, config, health
// ---------------------------------------------------------------------------

type A = K.Analytics;
type GA = Answer<'vendor_analytics', 200>;

export type OtherChecks = [
  Assert<Twin<K.AnalyticsQuery, Query<'vendor_analytics'>>>,
  Assert<Twin<A, GA>>,
  Assert<Twin<A['firstResponseSeconds'], S['Percentiles']>>,
  Assert<Twin<A['byDay'][number], S['DayFigures']>>,
  Assert<Twin<A['byHour'][number], S['HourFigures']>>,
  Assert<Twin<A['topProducts'][number], S['TopProduct']>>,

  Assert<Twin<K.ClientConfig, Answer<'web_config', 200>>>,

  // GET /healthz, 200 and 503. The kit names the values the server sends
  // (`ok`/`unavailable`, the read models' states; docs/api.md "Health and
  // metrics"); the document has plain strings and `readModels: unknown`.
  // One way, and the same fields.
  Assert<SameKeys<K.Health, Answer<'healthz', 200>>>,
  Assert<Extends<K.Health, Answer<'healthz', 200>>>,
  Assert<Extends<K.Health, Answer<'healthz', 503>>>,
];

// Routes of the document without a type in the kit: /api/docs and its
// script, /api/openapi.json, /metrics (text). The demo routes
// (/api/demo/users, /api/demo/token: DemoUsers, DemoToken) are not in the
// document, so they stay checked against docs/api.md's examples only
// (usage.ts).
export type Documented = Assert<
  Same<
    keyof operations,
    | `${Side}_${
        | 'open_conversation'
        | 'list_conversations'
        | 'history'
        | 'send'
        | 'read_message'
        | 'read_all'
        | 'unread'
        | 'events'
        | 'state_at'
        | 'transcript'}`
    | `operator_${'search' | 'conversation' | 'events' | 'state' | 'transcript'}`
    | 'vendor_analytics'
    | 'web_config'
    | 'healthz'
    | 'healthz_head'
    | 'openapi_json'
    | 'docs_page'
    | 'docs_script'
    | 'metrics'
    | 'metrics_head'
  >
>;
