//! What each recorded event becomes on the wire: a pure function from a
//! projections [`Notification`] to the server events to emit, each with its
//! rooms and payload (docs/api.md, "Server to client"). The relay does the
//! emitting; keeping the mapping pure keeps it testable without sockets.

use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;
use souk_domain::{ConversationEvent, ConversationId, MessageId, Role, Timestamp, UserId};
use souk_projections::{MessageView, Notification};

use super::rooms;

/// Server event names.
pub mod events {
    pub const RECEIVE_MESSAGE: &str = "receive_message";
    pub const NEW_CHAT_MESSAGE: &str = "new_chat_message";
    pub const USER_TYPING: &str = "user_typing";
    pub const USER_STOPPED_TYPING: &str = "user_stopped_typing";
    pub const MESSAGE_READ: &str = "message_read";
    pub const ALL_MESSAGES_READ: &str = "all_messages_read";
    pub const UNREAD_COUNT: &str = "unread_count";
    pub const USER_ONLINE: &str = "user_online";
    pub const USER_OFFLINE: &str = "user_offline";
}

/// One server event to emit: to the sockets in any room of `to`, except
/// those in a room of `except`; a socket in several rooms of `to` gets it
/// once.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub event: &'static str,
    /// The conversation it is about: while a socket is catching up on this
    /// conversation, the relay holds the delivery back for that socket.
    pub conversation: ConversationId,
    pub to: Vec<String>,
    pub except: Vec<String>,
    /// Serialized once, shared by every socket it goes to (and by the
    /// relay's held events).
    pub payload: Payload,
    /// The message's seq, for `receive_message`: a socket that already got
    /// this message by catch-up does not get it again.
    pub seq: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NewChatMessage<'a> {
    conversation_id: ConversationId,
    message: &'a MessageView,
    unread_count: u64,
    total_unread: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TypingPayload<'a> {
    conversation_id: ConversationId,
    user_id: &'a UserId,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageReadPayload<'a> {
    conversation_id: ConversationId,
    message_id: MessageId,
    reader_id: &'a UserId,
    read_at: Timestamp,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AllReadPayload<'a> {
    conversation_id: ConversationId,
    reader_id: &'a UserId,
    read_at: Timestamp,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UnreadCountPayload {
    conversation_id: ConversationId,
    unread_count: u64,
    total_unread: u64,
}

/// `user_online` / `user_offline` payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresencePayload {
    pub user_id: UserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<Timestamp>,
}

/// A server event's payload as JSON text: serialized once per event,
/// however many sockets it goes to.
pub type Payload = Arc<RawValue>;

fn to_payload(payload: &impl Serialize) -> Payload {
    Arc::from(
        serde_json::value::to_raw_value(payload)
            .expect("wire payloads are plain data and always serialize"),
    )
}

/// The id of the participant on `role`'s side.
fn side(n: &Notification, role: Role) -> &UserId {
    match role {
        Role::Customer => &n.customer_id,
        Role::Vendor => &n.vendor_id,
    }
}

/// The server events for one recorded event, in the order to emit them.
///
/// - `MessageSent`: `receive_message` to the room, then `new_chat_message`
///   to the recipient's personal room with the recipient's figures.
/// - `MessageRead`: `message_read` (or `all_messages_read` for a read of
///   everything) to the room and the sender's (the other side's) personal
///   room, then `unread_count` to the reader's personal room.
/// - `TypingStarted` / `TypingStopped`: `user_typing` /
///   `user_stopped_typing` to the room, except the typist's sockets.
/// - `ConversationStarted`: nothing (the contract has no event for it; the
///   first message announces the conversation to the recipient).
/// - `SupportAccessed`: nothing (not a chat event: participants see it in
///   the conversation's recorded events).
/// - `CurrentProductChanged`: nothing (the contract has no event for it;
///   the product card sent with the asker's message shows it, and the REST
///   conversation answers `currentProduct`).
pub fn deliveries(n: &Notification) -> Vec<Delivery> {
    let id = n.conversation_id;
    let room = rooms::conversation(id);
    match &n.event {
        ConversationEvent::ConversationStarted(_)
        | ConversationEvent::SupportAccessed(_)
        | ConversationEvent::CurrentProductChanged(_) => Vec::new(),
        ConversationEvent::MessageSent(sent) => {
            let Some(message) = &n.message else {
                tracing::error!(
                    position = n.position,
                    conversation = %id,
                    "a MessageSent notification came without its message; nothing relayed"
                );
                return Vec::new();
            };
            let recipient = sent.sender.role.other();
            vec![
                Delivery {
                    event: events::RECEIVE_MESSAGE,
                    conversation: id,
                    to: vec![room],
                    except: Vec::new(),
                    payload: to_payload(message),
                    seq: Some(sent.seq),
                },
                Delivery {
                    event: events::NEW_CHAT_MESSAGE,
                    conversation: id,
                    to: vec![rooms::personal(recipient, side(n, recipient))],
                    except: Vec::new(),
                    payload: to_payload(&NewChatMessage {
                        conversation_id: id,
                        message,
                        unread_count: n.unread[recipient.index()],
                        total_unread: n.total_unread[recipient.index()],
                    }),
                    seq: None,
                },
            ]
        }
        ConversationEvent::MessageRead(read) => {
            let reader = read.reader_role;
            let sender = reader.other();
            let (event, payload) = if read.all {
                (
                    events::ALL_MESSAGES_READ,
                    to_payload(&AllReadPayload {
                        conversation_id: id,
                        reader_id: &read.reader_id,
                        read_at: read.at,
                    }),
                )
            } else {
                (
                    events::MESSAGE_READ,
                    to_payload(&MessageReadPayload {
                        conversation_id: id,
                        message_id: read.up_to_message_id,
                        reader_id: &read.reader_id,
                        read_at: read.at,
                    }),
                )
            };
            vec![
                Delivery {
                    event,
                    conversation: id,
                    to: vec![room, rooms::personal(sender, side(n, sender))],
                    except: Vec::new(),
                    payload,
                    seq: None,
                },
                Delivery {
                    event: events::UNREAD_COUNT,
                    conversation: id,
                    to: vec![rooms::personal(reader, &read.reader_id)],
                    except: Vec::new(),
                    payload: to_payload(&UnreadCountPayload {
                        conversation_id: id,
                        unread_count: n.unread[reader.index()],
                        total_unread: n.total_unread[reader.index()],
                    }),
                    seq: None,
                },
            ]
        }
        ConversationEvent::TypingStarted(t) | ConversationEvent::TypingStopped(t) => {
            let event = if matches!(n.event, ConversationEvent::TypingStarted(_)) {
                events::USER_TYPING
            } else {
                events::USER_STOPPED_TYPING
            };
            vec![Delivery {
                event,
                conversation: id,
                to: vec![room],
                except: vec![rooms::personal(t.role, &t.user_id)],
                payload: to_payload(&TypingPayload {
                    conversation_id: id,
                    user_id: &t.user_id,
                }),
                seq: None,
            }]
        }
    }
}

/// The rooms that hear about `user`'s presence: the personal rooms of
/// everyone who shares a conversation with them (`counterparts`, on the other
/// side).
pub fn presence_rooms(role: Role, counterparts: &[UserId]) -> Vec<String> {
    counterparts
        .iter()
        .map(|c| rooms::personal(role.other(), c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use souk_domain::{
        ConversationStarted, MessageKind, MessageRead, MessageSent, MessageText, Participant,
        Sender, Typing, TypingStopReason,
    };

    /// A delivery's payload, parsed back.
    fn v(d: &Delivery) -> Value {
        serde_json::from_str(d.payload.get()).unwrap()
    }

    fn uid(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }

    fn conv() -> ConversationId {
        ConversationId::for_pair(&uid("c-42"), &uid("v-7"))
    }

    fn at() -> Timestamp {
        Timestamp::from_millis(1_795_000_000_123)
    }

    fn notification(event: ConversationEvent, message: Option<MessageView>) -> Notification {
        Notification {
            position: 9,
            conversation_id: conv(),
            customer_id: uid("c-42"),
            vendor_id: uid("v-7"),
            event,
            message,
            unread: [1, 3],
            total_unread: [5, 8],
        }
    }

    fn sent_by(role: Role, seq: u64) -> (ConversationEvent, MessageView) {
        let sender = Sender {
            id: if role == Role::Customer {
                uid("c-42")
            } else {
                uid("v-7")
            },
            role,
        };
        let id = MessageId::new();
        let event = ConversationEvent::MessageSent(MessageSent {
            message_id: id,
            seq,
            sender: sender.clone(),
            sender_name: None,
            kind: MessageKind::Text,
            text: Some(MessageText::parse("hi").unwrap()),
            product: None,
            client_message_id: None,
            at: at(),
        });
        let view = MessageView {
            id,
            conversation_id: conv(),
            seq,
            sender,
            kind: MessageKind::Text,
            text: Some("hi".into()),
            product: None,
            client_message_id: None,
            sent_at: at(),
            read_at: None,
        };
        (event, view)
    }

    #[test]
    fn a_message_goes_to_the_room_and_to_the_recipient_with_their_figures() {
        let (event, view) = sent_by(Role::Customer, 4);
        let d = deliveries(&notification(event, Some(view.clone())));
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].event, "receive_message");
        assert_eq!(d[0].to, [format!("conversation:{}", conv())]);
        assert!(d[0].except.is_empty());
        assert_eq!(v(&d[0]), serde_json::to_value(&view).unwrap());
        assert_eq!(v(&d[0])["seq"], json!(4));
        assert_eq!(d[0].seq, Some(4));
        assert_eq!(d[1].event, "new_chat_message");
        assert_eq!(d[1].to, ["user:vendor:v-7"]);
        assert_eq!(v(&d[1])["conversationId"], json!(conv().to_string()));
        assert_eq!(v(&d[1])["message"], v(&d[0]));
        // The vendor's figures (index 1).
        assert_eq!(v(&d[1])["unreadCount"], json!(3));
        assert_eq!(v(&d[1])["totalUnread"], json!(8));
        assert_eq!(d[1].seq, None);

        let (event, view) = sent_by(Role::Vendor, 5);
        let d = deliveries(&notification(event, Some(view)));
        assert_eq!(d[1].to, ["user:customer:c-42"]);
        assert_eq!(v(&d[1])["unreadCount"], json!(1));
        assert_eq!(v(&d[1])["totalUnread"], json!(5));
    }

    #[test]
    fn a_message_without_its_view_relays_nothing() {
        let (event, _) = sent_by(Role::Customer, 1);
        assert!(deliveries(&notification(event, None)).is_empty());
    }

    fn read(all: bool) -> (ConversationEvent, MessageId) {
        let m = MessageId::new();
        (
            ConversationEvent::MessageRead(MessageRead {
                reader_id: uid("v-7"),
                reader_role: Role::Vendor,
                reader_name: None,
                up_to_seq: 3,
                up_to_message_id: m,
                all,
                at: at(),
            }),
            m,
        )
    }

    #[test]
    fn a_read_goes_to_the_room_and_the_sender_and_figures_to_the_reader() {
        let (event, m) = read(false);
        let d = deliveries(&notification(event, None));
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].event, "message_read");
        assert_eq!(
            d[0].to,
            [
                format!("conversation:{}", conv()),
                "user:customer:c-42".into()
            ]
        );
        assert_eq!(
            v(&d[0]),
            json!({ "conversationId": conv().to_string(), "messageId": m.to_string(), "readerId": "v-7", "readAt": "2026-11-18T11:06:40.123Z" })
        );
        assert_eq!(d[1].event, "unread_count");
        assert_eq!(d[1].to, ["user:vendor:v-7"]);
        assert_eq!(
            v(&d[1]),
            json!({ "conversationId": conv().to_string(), "unreadCount": 3, "totalUnread": 8 })
        );
    }

    #[test]
    fn a_read_of_everything_is_all_messages_read() {
        let (event, _) = read(true);
        let d = deliveries(&notification(event, None));
        assert_eq!(d[0].event, "all_messages_read");
        assert_eq!(
            v(&d[0]),
            json!({ "conversationId": conv().to_string(), "readerId": "v-7", "readAt": "2026-11-18T11:06:40.123Z" })
        );
        assert_eq!(d[1].event, "unread_count");
    }

    #[test]
    fn typing_goes_to_the_room_except_the_typist() {
        let t = Typing {
            user_id: uid("c-42"),
            role: Role::Customer,
            reason: None,
            at: at(),
        };
        let d = deliveries(&notification(
            ConversationEvent::TypingStarted(t.clone()),
            None,
        ));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].event, "user_typing");
        assert_eq!(d[0].to, [format!("conversation:{}", conv())]);
        assert_eq!(d[0].except, ["user:customer:c-42"]);
        assert_eq!(
            v(&d[0]),
            json!({ "conversationId": conv().to_string(), "userId": "c-42" })
        );
        let stopped = Typing {
            reason: Some(TypingStopReason::Expired),
            ..t
        };
        let d = deliveries(&notification(
            ConversationEvent::TypingStopped(stopped),
            None,
        ));
        assert_eq!(d[0].event, "user_stopped_typing");
        assert_eq!(d[0].except, ["user:customer:c-42"]);
    }

    #[test]
    fn a_start_relays_nothing() {
        let e = ConversationEvent::ConversationStarted(ConversationStarted {
            conversation_id: conv(),
            customer: Participant {
                id: uid("c-42"),
                name: None,
            },
            vendor: Participant {
                id: uid("v-7"),
                name: None,
            },
            product: None,
            started_by: Role::Customer,
            at: at(),
        });
        assert!(deliveries(&notification(e, None)).is_empty());
    }

    #[test]
    fn a_support_access_relays_nothing() {
        let e = ConversationEvent::SupportAccessed(souk_domain::SupportAccessed {
            operator: souk_domain::Operator {
                id: uid("o-sam"),
                name: None,
            },
            reason: souk_domain::SupportReason::parse("ticket 4711").unwrap(),
            view: souk_domain::SupportView::Events,
            at: at(),
        });
        assert!(deliveries(&notification(e, None)).is_empty());
    }

    #[test]
    fn presence_goes_to_the_other_side_of_each_counterpart() {
        assert_eq!(
            presence_rooms(Role::Customer, &[uid("v-1"), uid("v-2")]),
            ["user:vendor:v-1", "user:vendor:v-2"]
        );
        assert_eq!(
            presence_rooms(Role::Vendor, &[uid("c-1")]),
            ["user:customer:c-1"]
        );
        let p = PresencePayload {
            user_id: uid("c-1"),
            last_seen_at: None,
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({ "userId": "c-1" })
        );
        let p = PresencePayload {
            last_seen_at: Some(at()),
            ..p
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({ "userId": "c-1", "lastSeenAt": "2026-11-18T11:06:40.123Z" })
        );
    }
}
