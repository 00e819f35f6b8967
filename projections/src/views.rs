//! What the queries answer and what the consumer publishes: the wire objects
//! of docs/api.md (serde, camelCase) and the query parameters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use souk_domain::{
    ConversationEvent, ConversationId, MessageId, MessageKind, MessageSent, ProductCard, ProductId,
    Sender, Timestamp, UserId,
};
use souk_store::Position;

/// The largest page of any list.
pub const MAX_LIMIT: usize = 100;
/// The page size when the caller names none.
pub const DEFAULT_LIMIT: usize = 30;

/// One side of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantView {
    pub id: UserId,
    /// The latest name recorded in the conversation (from the start, a
    /// message or a read), or the id when none was ever recorded.
    pub name: String,
    /// Presence: always `false` here; the api fills it.
    pub online: bool,
    /// Presence: always `None` here; the api fills it when offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<Timestamp>,
    /// Time of this participant's last event in the conversation (start,
    /// message, read or a product asked about; typing is not recorded in
    /// the read models). Not on the wire: the api may use it as a fallback
    /// for `last_seen_at`.
    #[serde(skip)]
    pub last_active_at: Option<Timestamp>,
}

/// A conversation as seen by one participant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationView {
    pub id: ConversationId,
    pub customer: ParticipantView,
    pub vendor: ParticipantView,
    /// The product the conversation was started from.
    pub product: Option<ProductCard>,
    /// The product currently discussed: `product` until a participant asks
    /// about another one (`CurrentProductChanged`).
    pub current_product: Option<ProductCard>,
    pub last_message: Option<MessageView>,
    /// Unread messages for the viewer the view was made for.
    pub unread_count: u64,
    pub created_at: Timestamp,
    /// The time of the last message, or of creation.
    pub updated_at: Timestamp,
    /// In a search answer, the conversation's newest message that matches
    /// (`None` when its names or product matched; never outside a search).
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub search_match: Option<crate::search::SearchMatch>,
}

impl ConversationView {
    /// The participant on `role`'s side.
    pub fn participant(&self, role: souk_domain::Role) -> &ParticipantView {
        match role {
            souk_domain::Role::Customer => &self.customer,
            souk_domain::Role::Vendor => &self.vendor,
        }
    }
}

/// A message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub seq: u64,
    pub sender: Sender,
    pub kind: MessageKind,
    pub text: Option<String>,
    pub product: Option<ProductCard>,
    pub client_message_id: Option<String>,
    pub sent_at: Timestamp,
    /// When the other participant's read marker first covered this message.
    pub read_at: Option<Timestamp>,
}

impl MessageView {
    /// The message as recorded by its event: `readAt` is unknown (`None`),
    /// as it is for every message the moment it is sent.
    pub fn from_event(conversation: ConversationId, m: &MessageSent) -> Self {
        Self {
            id: m.message_id,
            conversation_id: conversation,
            seq: m.seq,
            sender: m.sender.clone(),
            kind: m.kind,
            text: m.text.as_ref().map(|t| t.as_str().to_owned()),
            product: m.product.clone(),
            client_message_id: m.client_message_id.as_ref().map(|c| c.as_str().to_owned()),
            sent_at: m.at,
            read_at: None,
        }
    }
}

/// `GET /api/chat/conversations` parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// Matched against the other participant's name, the conversation's
    /// product, product names in messages and message text (see
    /// [`crate::search`]).
    pub search: Option<String>,
    /// 1..=100; values outside are clamped.
    pub limit: usize,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            search: None,
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

/// `GET /api/chat/:id/messages` parameters.
///
/// - neither `before` nor `after`: the newest `limit` messages; `has_more`
///   when older ones remain;
/// - `before = b`: the newest `limit` messages with `seq < b`; `has_more`
///   when older ones remain;
/// - `after = a`: the oldest `limit` messages with `seq > a`; `has_more` when
///   newer ones remain;
/// - both: the range `a < seq < b`, its first `limit` messages from `a`
///   upwards; `has_more` when more of the range remain.
///
/// Pages are always in ascending `seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryQuery {
    pub before: Option<u64>,
    pub after: Option<u64>,
    /// 1..=100; values outside are clamped.
    pub limit: usize,
}

impl Default for HistoryQuery {
    fn default() -> Self {
        Self {
            before: None,
            after: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

/// A page of the conversation list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationPage {
    pub conversations: Vec<ConversationView>,
    /// The cursor of the next page, `None` on the last one.
    pub next_cursor: Option<String>,
    /// The viewer's unread total over all their conversations on this side
    /// (not only this page or this search).
    pub total_unread: u64,
}

/// A page of history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    pub messages: Vec<MessageView>,
    pub has_more: bool,
}

/// `GET /api/chat/unread`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnreadSummary {
    pub total: u64,
    /// Conversation id to unread count, only entries with a count above 0.
    pub conversations: BTreeMap<String, u64>,
}

/// `GET /api/vendor/analytics`; see [`crate::analytics`] for the definitions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VendorAnalytics {
    pub conversations: u64,
    pub new_conversations: u64,
    pub messages_received: u64,
    pub messages_sent: u64,
    pub unread_backlog: u64,
    pub first_response_seconds: Percentiles,
    pub by_day: Vec<DayFigures>,
    pub by_hour: Vec<HourFigures>,
    pub top_products: Vec<TopProduct>,
}

/// Nearest-rank percentiles in seconds, `None` (null) without samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
}

/// One UTC day of a vendor's window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DayFigures {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub messages_received: u64,
    pub messages_sent: u64,
}

/// One hour of the UTC day, summed over every day of a vendor's window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HourFigures {
    /// 0 to 23: the hour from `hour:00` to `hour+1:00` UTC.
    pub hour: u8,
    pub messages_received: u64,
    pub messages_sent: u64,
}

/// A product that started conversations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopProduct {
    pub product_id: ProductId,
    pub name: String,
    pub conversations: u64,
}

/// Published once per applied event, after its transaction committed, for
/// the Socket.IO edge. The figures are those the queries return right after
/// this event (and before the next one).
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub position: Position,
    pub conversation_id: ConversationId,
    pub customer_id: UserId,
    pub vendor_id: UserId,
    pub event: ConversationEvent,
    /// The message as the history shows it, for `MessageSent`.
    pub message: Option<MessageView>,
    /// Unread count of each side ([`souk_domain::Role::index`]) in this
    /// conversation after this event.
    pub unread: [u64; 2],
    /// Each participant's unread total (the customer's over their customer
    /// inbox, the vendor's over their vendor inbox) after this event.
    pub total_unread: [u64; 2],
}
