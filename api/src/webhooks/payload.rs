//! What a delivery says: the id and the JSON body of each kind, with the
//! shapes of docs/api.md (a `message.created` carries a Message object).
//!
//! Every body is `{ id, type, occurredAt, conversationId, data }`. The id
//! is `<position>-<type>`, `position` being the log position of the event
//! it reports (for a reminder: of the message that scheduled it), so a
//! receiver that keeps the ids it handled ignores a repeated delivery.

use serde_json::{json, Value};
use souk_domain::{ConversationEvent, ConversationId, Role, Timestamp, UserId};
use souk_projections::MessageView;
use souk_store::Position;

use super::settings::Kind;

/// `Souk-Webhook-Id` of the delivery of `kind` for the event at `position`.
pub fn delivery_id(position: Position, kind: Kind) -> String {
    format!("{position}-{kind}")
}

/// The whole body of a delivery.
pub fn body(
    position: Position,
    kind: Kind,
    occurred_at: Timestamp,
    conversation: ConversationId,
    data: Value,
) -> String {
    json!({
        "id": delivery_id(position, kind),
        "type": kind.as_str(),
        "occurredAt": occurred_at,
        "conversationId": conversation,
        "data": data,
    })
    .to_string()
}

/// The kind and `data` an event is reported with; `None` for events no
/// webhook reports (typing, support accesses, the product discussed).
pub fn for_event(conversation: ConversationId, event: &ConversationEvent) -> Option<(Kind, Value)> {
    match event {
        ConversationEvent::ConversationStarted(e) => {
            let participant = |p: &souk_domain::Participant| {
                json!({
                    "id": p.id,
                    "name": p.name.as_ref().map_or(p.id.as_str(), |n| n.as_str()),
                })
            };
            Some((
                Kind::ConversationStarted,
                json!({
                    "id": conversation,
                    "customer": participant(&e.customer),
                    "vendor": participant(&e.vendor),
                    "product": e.product,
                    "startedBy": e.started_by,
                    "createdAt": e.at,
                }),
            ))
        }
        ConversationEvent::MessageSent(e) => Some((
            Kind::MessageCreated,
            serde_json::to_value(MessageView::from_event(conversation, e))
                .expect("a message view is plain data"),
        )),
        ConversationEvent::MessageRead(e) => Some((
            Kind::MessageRead,
            json!({
                "conversationId": conversation,
                "reader": { "id": e.reader_id, "role": e.reader_role },
                "upToSeq": e.up_to_seq,
                "upToMessageId": e.up_to_message_id,
                "all": e.all,
                "readAt": e.at,
            }),
        )),
        // Typing is too chatty for webhooks; a support access is for the
        // participants' audit log, not for the marketplace's systems; the
        // product discussed has no kind of its own (the card a participant
        // sends about it is a `message.created`).
        ConversationEvent::TypingStarted(_)
        | ConversationEvent::TypingStopped(_)
        | ConversationEvent::SupportAccessed(_)
        | ConversationEvent::CurrentProductChanged(_) => None,
    }
}

/// `data` of `message.unread_reminder`.
pub fn reminder(
    conversation: ConversationId,
    recipient: &UserId,
    role: Role,
    unread_count: u64,
    oldest_unread_at: Timestamp,
) -> Value {
    json!({
        "conversationId": conversation,
        "recipient": { "id": recipient, "role": role },
        "unreadCount": unread_count,
        "oldestUnreadAt": oldest_unread_at,
    })
}

#[cfg(test)]
mod tests {
    use souk_domain::{MessageId, MessageKind, MessageRead, MessageSent, MessageText, Sender};

    use super::*;

    #[test]
    fn a_message_is_reported_as_the_contracts_message_object() {
        let conversation = ConversationId::for_pair(
            &UserId::parse("c-1").unwrap(),
            &UserId::parse("v-1").unwrap(),
        );
        let at = Timestamp::from_millis(1_795_000_000_123);
        let sent = ConversationEvent::MessageSent(MessageSent {
            message_id: MessageId::new(),
            seq: 3,
            sender: Sender {
                id: UserId::parse("c-1").unwrap(),
                role: Role::Customer,
            },
            sender_name: None,
            kind: MessageKind::Text,
            text: Some(MessageText::parse("hello").unwrap()),
            product: None,
            client_message_id: None,
            at,
        });
        let (kind, data) = for_event(conversation, &sent).unwrap();
        assert_eq!(kind, Kind::MessageCreated);
        let body: Value = serde_json::from_str(&body(42, kind, at, conversation, data)).unwrap();
        assert_eq!(body["id"], "42-message.created");
        assert_eq!(body["type"], "message.created");
        assert_eq!(body["occurredAt"], "2026-11-18T11:06:40.123Z");
        assert_eq!(body["conversationId"], conversation.to_string());
        let m = &body["data"];
        assert_eq!(m["seq"], 3);
        assert_eq!(m["sender"], json!({ "id": "c-1", "role": "customer" }));
        assert_eq!(m["text"], "hello");
        assert_eq!(m["sentAt"], body["occurredAt"]);
        assert_eq!(m["readAt"], Value::Null);

        let read = ConversationEvent::MessageRead(MessageRead {
            reader_id: UserId::parse("v-1").unwrap(),
            reader_role: Role::Vendor,
            reader_name: None,
            up_to_seq: 3,
            up_to_message_id: MessageId::new(),
            all: true,
            at,
        });
        let (kind, data) = for_event(conversation, &read).unwrap();
        assert_eq!(kind, Kind::MessageRead);
        assert_eq!(data["reader"], json!({ "id": "v-1", "role": "vendor" }));
        assert_eq!(data["upToSeq"], 3);
    }

    #[test]
    fn a_support_access_is_not_reported() {
        let conversation = ConversationId::for_pair(
            &UserId::parse("c-1").unwrap(),
            &UserId::parse("v-1").unwrap(),
        );
        let access = ConversationEvent::SupportAccessed(souk_domain::SupportAccessed {
            operator: souk_domain::Operator {
                id: UserId::parse("o-sam").unwrap(),
                name: None,
            },
            reason: souk_domain::SupportReason::parse("ticket 4711").unwrap(),
            view: souk_domain::SupportView::Transcript,
            at: Timestamp::from_millis(1_795_000_000_123),
        });
        assert!(for_event(conversation, &access).is_none());
    }
}
