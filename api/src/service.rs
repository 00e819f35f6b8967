//! The operations of the chat, shared by REST and the Socket.IO edge, so that
//! a message sent either way is parsed, decided, recorded and answered the
//! same way. Each takes the verified [`Principal`], parses its input into
//! domain types, asks the conversation's actor, waits (with a bound) for the
//! read models to reach the write, and answers from them.

use serde::Serialize;
use serde_json::Value;
use souk_domain::{
    ClientMessageId, Command, ConversationId, DisplayName, MessageContent, MessageId, MessageText,
    Participant, ProductCard, Role, Timestamp, TypingStopReason, UserId,
};
use souk_projections::{ConversationView, MessageView, ParticipantView, Projections};
use souk_store::Position;

use crate::auth::Principal;
use crate::error::{ApiError, ErrorCode};
use crate::input::Fields;
use crate::metrics::{LogThrottle, Metrics};
use crate::state::{AppState, READ_YOUR_WRITES_TIMEOUT};

/// `POST .../conversation`: the other side and the product it starts from.
pub struct OpenInput {
    pub other: UserId,
    pub other_name: Option<DisplayName>,
    pub product: Option<ProductCard>,
}

impl OpenInput {
    /// A customer names `vendorId`/`vendorName`, a vendor `customerId`/`customerName`.
    pub fn parse(caller: Role, body: &Value) -> Result<Self, ApiError> {
        let f = Fields::of(body)?;
        let (id_field, name_field) = match caller {
            Role::Customer => ("vendorId", "vendorName"),
            Role::Vendor => ("customerId", "customerName"),
        };
        let other = UserId::parse_field(id_field, f.req_str(id_field)?)?;
        let other_name = match f.opt_str(name_field)?.map(str::trim) {
            None | Some("") => None,
            Some(n) => Some(DisplayName::parse_field(name_field, n)?),
        };
        Ok(Self {
            other,
            other_name,
            product: f.opt_product("product")?,
        })
    }
}

/// `POST .../send` and `send_message`.
pub struct SendInput {
    pub conversation_id: ConversationId,
    pub content: MessageContent,
    pub client_message_id: Option<ClientMessageId>,
}

impl SendInput {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let f = Fields::of(body)?;
        let conversation_id = ConversationId::parse(f.req_str("conversationId")?)?;
        let product = f.opt_product("product")?;
        let text = match (f.opt_str("text")?, &product) {
            (None, _) => None,
            // A product message may come with a blank caption.
            (Some(t), Some(_)) if t.trim().is_empty() => None,
            (Some(t), _) => Some(MessageText::parse(t)?),
        };
        let content = MessageContent::from_parts(text, product)?;
        let client_message_id = f
            .opt_str("clientMessageId")?
            .map(ClientMessageId::parse)
            .transpose()?;
        Ok(Self {
            conversation_id,
            content,
            client_message_id,
        })
    }
}

/// Answer of a read of one message.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadReceipt {
    pub conversation_id: ConversationId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
    pub read_at: Timestamp,
    pub unread_count: u64,
}

fn side_participant(p: &Principal) -> Participant {
    Participant {
        id: p.id.clone(),
        name: p.name.clone(),
    }
}

/// Waits (bounded) until the projections published `position`: every
/// later query then reads it (queries wait for the read models to commit
/// what was published, see `souk_projections`).
async fn settle(state: &AppState, position: Position) {
    settle_within(
        &state.projections,
        &state.metrics,
        position,
        READ_YOUR_WRITES_TIMEOUT,
    )
    .await;
}

/// [`settle`] with its parts: when `position` is not published within
/// `timeout`, the answer goes out anyway, counted in
/// `souk_late_answers_total` and warned about at most once per
/// [`LogThrottle::DEFAULT_PERIOD`]. Returns whether it was late.
async fn settle_within(
    projections: &Projections,
    metrics: &Metrics,
    position: Position,
    timeout: std::time::Duration,
) -> bool {
    if position == 0 || projections.wait_live(position, timeout).await {
        return false;
    }
    Metrics::inc(&metrics.late_answers);
    if let Some(held) = metrics.late_answers_log.hit(std::time::Instant::now()) {
        tracing::warn!(
            position,
            held_back = held,
            "read models lag behind a write; answering anyway (warned at most every {:?}; held_back: the same warning since the last one; souk_late_answers_total counts them all)",
            LogThrottle::DEFAULT_PERIOD
        );
    }
    true
}

/// Fills `online` and `lastSeenAt` of a participant from presence.
fn fill_participant(state: &AppState, p: &mut ParticipantView, role: Role) {
    let (online, last_seen) = state.presence.status(&p.id, role);
    p.online = online;
    p.last_seen_at = if online {
        None
    } else {
        last_seen.or(p.last_active_at)
    };
}

/// Fills presence into a conversation view.
pub fn fill_presence(state: &AppState, view: &mut ConversationView) {
    fill_participant(state, &mut view.customer, Role::Customer);
    fill_participant(state, &mut view.vendor, Role::Vendor);
}

/// The conversation as `p` sees it, or `not_found`.
pub async fn conversation_view(
    state: &AppState,
    p: &Principal,
    id: ConversationId,
) -> Result<ConversationView, ApiError> {
    let mut view = state
        .projections
        .conversation(id, &p.id, p.role)
        .await?
        .ok_or_else(|| ApiError::conversation_not_found(id))?;
    fill_presence(state, &mut view);
    Ok(view)
}

/// Checks that `p` takes part in conversation `id`: from the read models,
/// and when they do not know it (yet), from the conversation's actor, which
/// reads the log itself. In a cluster a conversation opened through another
/// node a moment ago may not have reached this node's read models; it is in
/// the log all the same.
pub async fn check_participant(
    state: &AppState,
    p: &Principal,
    id: ConversationId,
) -> Result<(), ApiError> {
    if state
        .projections
        .conversation(id, &p.id, p.role)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let known = state.registry.state(id).await?;
    match &known.info {
        Some(info) if info.is_participant(&p.id, p.role) => Ok(()),
        _ => Err(ApiError::conversation_not_found(id)),
    }
}

/// Opens the conversation of `p` and the other side (or gets it). Returns the
/// view and whether it was created now. Opening an existing conversation
/// with a product other than the one it is currently about records that
/// product as the one discussed (`CurrentProductChanged`).
pub async fn open_conversation(
    state: &AppState,
    p: &Principal,
    input: OpenInput,
) -> Result<(ConversationView, bool), ApiError> {
    let other = Participant {
        id: input.other,
        name: input.other_name,
    };
    let (customer, vendor) = match p.role {
        Role::Customer => (side_participant(p), other),
        Role::Vendor => (other, side_participant(p)),
    };
    let (id, command) = Command::start_conversation(
        customer,
        vendor,
        input.product.clone(),
        p.role,
        Timestamp::now(),
    );
    let mut reply = execute(state, id, command).await?;
    let created = reply.created;
    // An existing conversation opened from a product: from now on it is
    // about that product, if it was about another one (the same product
    // again records nothing).
    if let (false, Some(product)) = (created, input.product) {
        let ask = Command::ChangeCurrentProduct {
            by: p.actor(),
            product,
            at: Timestamp::now(),
        };
        reply = execute(state, id, ask).await?;
    }
    settle(state, reply.position).await;
    let view = conversation_view(state, p, id).await?;
    Ok((view, created))
}

/// Sends a message. Returns it and whether it is new (false: an earlier send
/// with the same `clientMessageId`).
pub async fn send_message(
    state: &AppState,
    p: &Principal,
    input: SendInput,
) -> Result<(MessageView, bool), ApiError> {
    let id = input.conversation_id;
    let command = Command::SendMessage {
        by: p.actor(),
        message_id: MessageId::new(),
        content: input.content,
        client_message_id: input.client_message_id,
        at: Timestamp::now(),
    };
    let reply = execute(state, id, command).await?;
    settle(state, reply.position).await;
    // A message recorded just now cannot have been read: its event is the
    // whole answer. An earlier one (a retry) is read from the read models,
    // with its `readAt` (the actor keeps no text of past messages).
    let view = match (&reply.message, reply.duplicate_of) {
        (Some(sent), _) => {
            Metrics::inc(&state.metrics.messages_sent);
            MessageView::from_event(id, sent)
        }
        (None, Some(seq)) => state
            .projections
            .message_by_seq(id, seq)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unavailable,
                    "the earlier message with this clientMessageId is not readable yet; retry",
                )
            })?,
        (None, None) => {
            return Err(ApiError::internal(
                "send",
                &"the actor answered a send without a message",
            ))
        }
    };
    Ok((view, reply.created))
}

/// Marks `message` and every earlier message of the other side as read. The
/// conversation is looked up from the message when not given.
pub async fn mark_read(
    state: &AppState,
    p: &Principal,
    conversation: Option<ConversationId>,
    message: MessageId,
) -> Result<ReadReceipt, ApiError> {
    // Found from the message alone, a message of someone else's conversation
    // and an unknown id get the same answer: existence is not leaked.
    let message_not_found = || ApiError::not_found(format!("message {message} not found"));
    let (conversation, looked_up) = match conversation {
        Some(c) => (c, false),
        None => {
            let found = match state.projections.message(message).await? {
                Some(found) => found,
                // The read models may not have it yet (a message just
                // recorded while they lag behind the log): once they reach
                // the log's end, ask them again.
                None => settled_message(state, message)
                    .await?
                    .ok_or_else(message_not_found)?,
            };
            (found.conversation_id, true)
        }
    };
    let at = Timestamp::now();
    let command = Command::MarkRead {
        by: p.actor(),
        up_to: message,
        at,
    };
    let reply = execute(state, conversation, command)
        .await
        .map_err(|e| match e.code {
            crate::error::ErrorCode::NotFound if looked_up => message_not_found(),
            _ => e,
        })?;
    settle(state, reply.position).await;
    Ok(ReadReceipt {
        conversation_id: conversation,
        message_id: Some(message),
        read_at: reply.last_read_at.unwrap_or(at),
        unread_count: reply.unread,
    })
}

/// A message the read models did not know: looked up again once they
/// caught up with the log's end as it is now (bounded by
/// [`READ_YOUR_WRITES_TIMEOUT`]; `None` when still unknown).
async fn settled_message(
    state: &AppState,
    message: MessageId,
) -> Result<Option<MessageView>, ApiError> {
    let end = state.store.last_position().await?;
    if end <= state.projections.position() {
        return Ok(None);
    }
    if !state
        .projections
        .wait_for(end, READ_YOUR_WRITES_TIMEOUT)
        .await
    {
        Metrics::inc(&state.metrics.late_answers);
        return Ok(None);
    }
    Ok(state.projections.message(message).await?)
}

/// Marks every message of the other side as read.
pub async fn mark_all_read(
    state: &AppState,
    p: &Principal,
    conversation: ConversationId,
) -> Result<ReadReceipt, ApiError> {
    let at = Timestamp::now();
    let command = Command::MarkAllRead { by: p.actor(), at };
    let reply = execute(state, conversation, command).await?;
    settle(state, reply.position).await;
    Ok(ReadReceipt {
        conversation_id: conversation,
        message_id: None,
        read_at: reply.last_read_at.unwrap_or(at),
        unread_count: reply.unread,
    })
}

/// Typing started (`start`) or stopped.
pub async fn typing(
    state: &AppState,
    p: &Principal,
    conversation: ConversationId,
    start: bool,
) -> Result<(), ApiError> {
    let at = Timestamp::now();
    let command = if start {
        Command::StartTyping { by: p.actor(), at }
    } else {
        Command::StopTyping {
            by: p.actor(),
            reason: TypingStopReason::Stopped,
            at,
        }
    };
    execute(state, conversation, command).await.map(|_| ())
}

/// Runs one command through its conversation's actor, counted in the
/// metrics: the one way the routes send commands.
pub(crate) async fn execute(
    state: &AppState,
    id: ConversationId,
    command: Command,
) -> Result<souk_actors::CommandReply, ApiError> {
    Metrics::inc(&state.metrics.commands);
    Ok(state.registry.execute(id, command).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::Ordering;

    /// With the projections not running, nothing is ever published: every
    /// answer that waits for its write is late, and counted. (Paused clock:
    /// the 2 s bound passes at once.)
    #[tokio::test(start_paused = true)]
    async fn an_answer_that_outwaits_the_projections_is_counted_late() {
        let dir = tempfile::tempdir().unwrap();
        let projections = Projections::open(&dir.path().join("readmodels.db")).unwrap();
        let metrics = Metrics::default();
        let started = tokio::time::Instant::now();
        assert!(settle_within(&projections, &metrics, 7, READ_YOUR_WRITES_TIMEOUT).await);
        assert_eq!(started.elapsed(), READ_YOUR_WRITES_TIMEOUT);
        assert!(settle_within(&projections, &metrics, 8, READ_YOUR_WRITES_TIMEOUT).await);
        assert_eq!(metrics.late_answers.load(Ordering::Relaxed), 2);
        // Position 0 (nothing was written) never waits.
        assert!(!settle_within(&projections, &metrics, 0, READ_YOUR_WRITES_TIMEOUT).await);
        assert_eq!(metrics.late_answers.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn open_names_the_other_side_by_role() {
        let body = json!({ "vendorId": "v-7", "vendorName": "Bolt Bikes" });
        let o = OpenInput::parse(Role::Customer, &body).unwrap();
        assert_eq!(o.other.as_str(), "v-7");
        assert_eq!(o.other_name.unwrap().as_str(), "Bolt Bikes");
        let err = OpenInput::parse(Role::Vendor, &body).err().unwrap();
        assert!(err.message.starts_with("customerId"), "{}", err.message);
        let err = OpenInput::parse(Role::Customer, &json!({ "vendorId": "bad id" }))
            .err()
            .unwrap();
        assert!(err.message.starts_with("vendorId"), "{}", err.message);
    }

    #[test]
    fn sends_need_text_or_a_product() {
        let id =
            ConversationId::for_pair(&UserId::parse("c").unwrap(), &UserId::parse("v").unwrap());
        let ok =
            json!({ "conversationId": id.to_string(), "text": " hi ", "clientMessageId": "t-1" });
        let s = SendInput::parse(&ok).unwrap();
        assert_eq!(s.content.text().unwrap().as_str(), "hi");
        let product = json!({ "conversationId": id.to_string(), "text": "", "product": { "id": "p", "name": "Bike" } });
        assert!(SendInput::parse(&product).unwrap().content.text().is_none());
        for bad in [
            json!({ "conversationId": id.to_string() }),
            json!({ "conversationId": id.to_string(), "text": "   " }),
            json!({ "conversationId": "nope", "text": "hi" }),
            json!({ "text": "hi" }),
            json!({ "conversationId": id.to_string(), "text": ["hi"] }),
            json!({ "conversationId": id.to_string(), "text": "x".repeat(4001) }),
            json!({ "conversationId": id.to_string(), "text": "hi", "clientMessageId": "c".repeat(65) }),
        ] {
            assert!(SendInput::parse(&bad).is_err(), "{bad}");
        }
    }
}
