//! The wire shapes of docs/api.md ("Objects" and each route's answer), as
//! schemas of the OpenAPI document. These types only describe: the handlers
//! answer the read models' views ([`souk_projections::ConversationView`],
//! ...) and [`crate::service::ReadReceipt`], whose serialization these
//! mirror field by field (camelCase, the same optionality).
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

/// The body of every failure.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"error": {"code": "not_found", "message": "conversation 49316337-9ec1-52e4-8b6c-d7dc6d8ef7a9 not found"}}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// For people; may change. Clients decide by `code`.
    pub message: String,
}

/// docs/api.md, Errors.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    RateLimited,
    Unavailable,
    Internal,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Customer,
    Vendor,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Text,
    Product,
}

/// One side of a conversation.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    pub id: String,
    /// The latest name recorded in the conversation, or the id.
    pub name: String,
    /// Whether the participant has a connected socket.
    pub online: bool,
    /// Present only when offline and known.
    #[schema(format = DateTime)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<String>,
}

/// A product card as answered: all six fields, always.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductCard {
    pub id: String,
    pub name: String,
    #[schema(required)]
    pub price_minor: Option<i64>,
    #[schema(required)]
    pub currency: Option<String>,
    #[schema(required)]
    pub image_url: Option<String>,
    #[schema(required)]
    pub url: Option<String>,
}

/// A product card in a request.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductCardInput {
    /// A product id.
    #[schema(pattern = r"^[A-Za-z0-9_.:@-]{1,128}$")]
    pub id: String,
    /// 1 to 200 characters after trimming, one line, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// 0 to 10^15, in the currency's minor unit.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub price_minor: Option<i64>,
    /// ISO 4217.
    #[schema(pattern = r"^[A-Z]{3}$")]
    pub currency: Option<String>,
    /// An http(s) URL of at most 2048 characters, no spaces.
    #[schema(max_length = 2048, pattern = r"^https?://[^\s\x00-\x1f\x7f-\x9f]*$")]
    pub image_url: Option<String>,
    /// The product's page, same rules as `imageUrl`.
    #[schema(max_length = 2048, pattern = r"^https?://[^\s\x00-\x1f\x7f-\x9f]*$")]
    pub url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Sender {
    pub id: String,
    pub role: Role,
}

/// A message.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub conversation_id: String,
    /// 1, 2, 3, ... in the conversation.
    pub seq: u64,
    pub sender: Sender,
    pub kind: MessageKind,
    #[schema(required)]
    pub text: Option<String>,
    #[schema(required)]
    pub product: Option<ProductCard>,
    #[schema(required)]
    pub client_message_id: Option<String>,
    #[schema(format = DateTime)]
    pub sent_at: String,
    /// When the other participant's read marker first covered it.
    #[schema(required, format = DateTime)]
    pub read_at: Option<String>,
}

/// A conversation as its caller sees it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    #[schema(format = Uuid)]
    pub id: String,
    pub customer: Participant,
    pub vendor: Participant,
    /// The product the conversation was started from, or null; it never
    /// changes.
    #[schema(required)]
    pub product: Option<ProductCard>,
    /// The product currently discussed: `product` until a participant opens
    /// the conversation from another product, then that one (null only
    /// while no product was ever named).
    #[schema(required)]
    pub current_product: Option<ProductCard>,
    #[schema(required)]
    pub last_message: Option<Message>,
    /// The caller's unread messages here.
    pub unread_count: u64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Only in a search answer, and only when a message matched (not the
    /// names or the product alone): the newest matching message.
    #[serde(rename = "match")]
    pub search_match: Option<SearchMatch>,
}

/// The newest message of a conversation that matches a search.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchMatch {
    #[schema(format = Uuid)]
    pub message_id: String,
    /// Its `seq`: the history page `before=seq+1` ends with it.
    pub seq: u64,
    /// Its text, or its product's name when it has none.
    pub text: String,
}

/// `POST /api/chat/conversation`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpenConversationCustomer {
    #[schema(pattern = r"^[A-Za-z0-9_.:@-]{1,128}$")]
    pub vendor_id: String,
    /// 1 to 100 characters after trimming, one line, no control
    /// characters; blank counts as absent.
    #[schema(pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub vendor_name: Option<String>,
    pub product: Option<ProductCardInput>,
}

/// `POST /api/vendor/chat/conversation`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpenConversationVendor {
    #[schema(pattern = r"^[A-Za-z0-9_.:@-]{1,128}$")]
    pub customer_id: String,
    /// 1 to 100 characters after trimming, one line, no control
    /// characters; blank counts as absent.
    #[schema(pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub customer_name: Option<String>,
    pub product: Option<ProductCardInput>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationList {
    pub conversations: Vec<Conversation>,
    /// The `cursor` of the next page, null on the last.
    #[schema(required)]
    pub next_cursor: Option<String>,
    /// The caller's unread total on this side.
    pub total_unread: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    /// Ascending `seq`.
    pub messages: Vec<Message>,
    pub has_more: bool,
}

/// `POST .../send`: text, a product, or both.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendRequest {
    #[schema(format = Uuid)]
    pub conversation_id: String,
    /// 1 to 4000 characters after trimming; readable text only.
    pub text: Option<String>,
    pub product: Option<ProductCardInput>,
    /// 1 to 64 characters: the sender's own id, to make retries safe.
    #[schema(min_length = 1, max_length = 64)]
    pub client_message_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SendAnswer {
    pub message: Message,
}

/// The answer of the read routes.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadReceipt {
    #[schema(format = Uuid)]
    pub conversation_id: String,
    /// Only for a read of one message.
    #[schema(format = Uuid)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[schema(format = DateTime)]
    pub read_at: String,
    pub unread_count: u64,
}

#[derive(Serialize, ToSchema)]
pub struct UnreadSummary {
    pub total: u64,
    /// Conversation id to its unread count, counts above 0 only.
    pub conversations: BTreeMap<String, u64>,
}

/// One recorded event of a conversation.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordedEvent {
    /// Its place in the whole log.
    pub position: u64,
    /// Its place in the conversation's stream (0, 1, 2, ...).
    pub revision: u64,
    /// `ConversationStarted`, `MessageSent`, `MessageRead`, ...
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: u32,
    /// The payload as recorded.
    pub data: serde_json::Value,
    #[schema(format = DateTime)]
    pub recorded_at: String,
    /// SHA-256 chaining it to the stream's previous event, 64 lowercase
    /// hex digits (docs/api.md, "Audit and replay").
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub hash: String,
}

#[derive(Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<RecordedEvent>,
    /// The `from` of the next page, null at the end.
    #[schema(required)]
    pub next: Option<u64>,
}

/// Nearest-rank percentiles in seconds, null without samples.
#[derive(Serialize, ToSchema)]
pub struct Percentiles {
    #[schema(required)]
    pub p50: Option<f64>,
    #[schema(required)]
    pub p90: Option<f64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DayFigures {
    /// `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub date: String,
    pub messages_received: u64,
    pub messages_sent: u64,
}

/// One UTC hour of the day, summed over every day of the window.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HourFigures {
    /// 0 to 23: the messages sent from `hour:00` to `hour:59:59.999` UTC.
    #[schema(minimum = 0, maximum = 23)]
    pub hour: u8,
    pub messages_received: u64,
    pub messages_sent: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopProduct {
    pub product_id: String,
    pub name: String,
    pub conversations: u64,
}

/// A vendor's figures over `[from, to)`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VendorAnalytics {
    pub conversations: u64,
    pub new_conversations: u64,
    pub messages_received: u64,
    pub messages_sent: u64,
    pub unread_backlog: u64,
    pub first_response_seconds: Percentiles,
    pub by_day: Vec<DayFigures>,
    /// Always 24 entries, hours 0 to 23 in order (busiest hours).
    pub by_hour: Vec<HourFigures>,
    pub top_products: Vec<TopProduct>,
}

/// `/healthz`: `{status, node}` when healthy; when not, also which part
/// fails and how far the read models got.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    pub node: String,
    /// Cluster presence, `ok` or `unavailable` (cluster mode only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projections: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_models: Option<serde_json::Value>,
}

/// `GET /api/config`: what the web app needs to connect.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebConfig {
    pub demo: bool,
    /// The public Socket.IO URL, when configured.
    #[schema(required)]
    pub socket_url: Option<String>,
    pub socket_port: u16,
}

/// A conversation as an operator sees it: no viewer, so no unread count,
/// and no message (the messages come with the recorded conversation view).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperatorConversationSummary {
    #[schema(format = Uuid)]
    pub id: String,
    pub customer: Participant,
    pub vendor: Participant,
    /// The product the conversation was started from, or null.
    #[schema(required)]
    pub product: Option<ProductCard>,
    /// The product currently discussed (see `Conversation`).
    #[schema(required)]
    pub current_product: Option<ProductCard>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// `GET /api/operator/conversations`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperatorConversationList {
    /// Newest activity first.
    pub conversations: Vec<OperatorConversationSummary>,
    /// More conversations than `limit` were found.
    pub has_more: bool,
}

/// `GET /api/operator/conversations/{conversationId}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperatorConversation {
    pub conversation: OperatorConversationSummary,
    /// Ascending `seq`.
    pub messages: Vec<Message>,
    pub has_more: bool,
}
