//! Client events: their names, their payloads parsed into typed requests, and
//! the shape of acknowledgements.
//!
//! Payloads are read with the same field-by-field reader as REST bodies
//! ([`crate::input::Fields`]), and a message body with the very parser of
//! `POST .../send` ([`SendInput::parse`]), so a payload that REST refuses is
//! refused here with the same `invalid_request` message, before anything is
//! asked of a conversation.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use souk_domain::{ConversationId, MessageId};
use souk_projections::MessageView;

use crate::error::ApiError;
use crate::input::Fields;
use crate::service::SendInput;

/// The events a client may emit (docs/api.md, "Client to server").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    JoinChatRoom,
    LeaveChatRoom,
    TypingStart,
    TypingStop,
    SendMessage,
    MarkRead,
}

impl ClientEvent {
    pub const ALL: [ClientEvent; 6] = [
        Self::JoinChatRoom,
        Self::LeaveChatRoom,
        Self::TypingStart,
        Self::TypingStop,
        Self::SendMessage,
        Self::MarkRead,
    ];

    /// The event name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::JoinChatRoom => "join_chat_room",
            Self::LeaveChatRoom => "leave_chat_room",
            Self::TypingStart => "typing_start",
            Self::TypingStop => "typing_stop",
            Self::SendMessage => "send_message",
            Self::MarkRead => "mark_read",
        }
    }

    /// Typing events: frequent and cheap, coalesced rather than counted
    /// against the user's rate.
    pub fn is_typing(self) -> bool {
        matches!(self, Self::TypingStart | Self::TypingStop)
    }
}

/// A client event with a well-formed payload.
pub enum Request {
    /// Join the room, first replaying the messages after `since_seq` if given.
    Join {
        conversation: ConversationId,
        since_seq: Option<u64>,
    },
    Leave {
        conversation: ConversationId,
    },
    Typing {
        conversation: ConversationId,
        start: bool,
    },
    Send(SendInput),
    /// Read up to `message`, or everything when `None`.
    MarkRead {
        conversation: ConversationId,
        message: Option<MessageId>,
    },
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Join {
                conversation,
                since_seq,
            } => write!(f, "Join({conversation}, since {since_seq:?})"),
            Self::Leave { conversation } => write!(f, "Leave({conversation})"),
            Self::Typing {
                conversation,
                start,
            } => write!(f, "Typing({conversation}, start {start})"),
            Self::Send(s) => write!(f, "Send({})", s.conversation_id),
            Self::MarkRead {
                conversation,
                message,
            } => write!(f, "MarkRead({conversation}, {message:?})"),
        }
    }
}

impl Request {
    /// Parses the payload of `event`. `None` is an event sent without a
    /// payload (or with one that is not JSON).
    pub fn parse(event: ClientEvent, payload: Option<&Value>) -> Result<Self, ApiError> {
        let payload = payload.ok_or_else(|| {
            ApiError::invalid(format!(
                "{}: the payload must be a JSON object",
                event.name()
            ))
        })?;
        let f = Fields::of(payload)?;
        let conversation = || -> Result<ConversationId, ApiError> {
            Ok(ConversationId::parse(f.req_str("conversationId")?)?)
        };
        Ok(match event {
            ClientEvent::JoinChatRoom => Self::Join {
                conversation: conversation()?,
                since_seq: f.opt_u64("sinceSeq")?,
            },
            ClientEvent::LeaveChatRoom => Self::Leave {
                conversation: conversation()?,
            },
            ClientEvent::TypingStart | ClientEvent::TypingStop => Self::Typing {
                conversation: conversation()?,
                start: event == ClientEvent::TypingStart,
            },
            ClientEvent::SendMessage => Self::Send(SendInput::parse(payload)?),
            ClientEvent::MarkRead => Self::MarkRead {
                conversation: conversation()?,
                message: f.opt_str("messageId")?.map(MessageId::parse).transpose()?,
            },
        })
    }
}

/// An ack as JSON text, ready to send.
pub type Ack = Box<RawValue>;

/// A successful ack: `{ ok: true, ...fields }`. `fields` must serialize to an
/// object (or to nothing: `()` and `null` add no field).
pub fn ack_ok(fields: &impl Serialize) -> Ack {
    let mut map = match serde_json::to_value(fields) {
        Ok(Value::Object(map)) => map,
        Ok(Value::Null) => Map::new(),
        Ok(other) => {
            let mut m = Map::new();
            m.insert("value".into(), other);
            m
        }
        Err(e) => return ack_err(&ApiError::internal("while serializing an ack", &e)),
    };
    map.insert("ok".into(), Value::Bool(true));
    text(&Value::Object(map))
}

/// The ack of `send_message`, `{ ok: true, message, duplicate }`, serialized
/// straight from the message: the hot path builds no intermediate `Value`.
pub fn ack_sent(message: &MessageView, duplicate: bool) -> Ack {
    #[derive(Serialize)]
    struct Sent<'a> {
        ok: bool,
        message: &'a MessageView,
        duplicate: bool,
    }
    serde_json::value::to_raw_value(&Sent {
        ok: true,
        message,
        duplicate,
    })
    .unwrap_or_else(|e| ack_err(&ApiError::internal("while serializing an ack", &e)))
}

/// A failed ack: `{ ok: false, error: { code, message } }`.
pub fn ack_err(e: &ApiError) -> Ack {
    text(&json!({ "ok": false, "error": { "code": e.code.as_str(), "message": e.message } }))
}

fn text(value: &Value) -> Ack {
    serde_json::value::to_raw_value(value).expect("a JSON value always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use souk_domain::UserId;

    fn conv() -> ConversationId {
        ConversationId::for_pair(
            &UserId::parse("c-1").unwrap(),
            &UserId::parse("v-1").unwrap(),
        )
    }

    fn parse(event: ClientEvent, v: Value) -> Result<Request, ApiError> {
        Request::parse(event, Some(&v))
    }

    #[test]
    fn names_are_those_of_the_contract() {
        let names: Vec<_> = ClientEvent::ALL.iter().map(|e| e.name()).collect();
        assert_eq!(
            names,
            [
                "join_chat_room",
                "leave_chat_room",
                "typing_start",
                "typing_stop",
                "send_message",
                "mark_read"
            ]
        );
    }

    #[test]
    fn joins_take_an_optional_since_seq() {
        let id = conv();
        match parse(
            ClientEvent::JoinChatRoom,
            json!({ "conversationId": id.to_string(), "sinceSeq": 4 }),
        )
        .unwrap()
        {
            Request::Join {
                conversation,
                since_seq,
            } => {
                assert_eq!(conversation, id);
                assert_eq!(since_seq, Some(4));
            }
            other => panic!("{other:?}"),
        }
        match parse(
            ClientEvent::JoinChatRoom,
            json!({ "conversationId": id.to_string(), "sinceSeq": null, "extra": 1 }),
        )
        .unwrap()
        {
            Request::Join { since_seq, .. } => assert_eq!(since_seq, None),
            other => panic!("{other:?}"),
        }
        for bad in [
            json!({ "conversationId": id.to_string(), "sinceSeq": -1 }),
            json!({ "conversationId": id.to_string(), "sinceSeq": "3" }),
            json!({ "conversationId": id.to_string(), "sinceSeq": 1.5 }),
        ] {
            let e = parse(ClientEvent::JoinChatRoom, bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequest);
            assert!(e.message.starts_with("sinceSeq"), "{}", e.message);
        }
    }

    #[test]
    fn every_event_needs_a_conversation_id_object() {
        for event in ClientEvent::ALL {
            for bad in [
                None,
                Some(json!("a string")),
                Some(json!([1, 2])),
                Some(json!({})),
                Some(json!({ "conversationId": 5 })),
                Some(json!({ "conversationId": "not-a-uuid" })),
            ] {
                let e = Request::parse(event, bad.as_ref()).unwrap_err();
                assert_eq!(e.code, ErrorCode::InvalidRequest, "{event:?} {bad:?}");
            }
        }
    }

    #[test]
    fn typing_and_leave_carry_the_conversation() {
        let id = conv();
        let body = json!({ "conversationId": id.to_string() });
        assert!(matches!(
            parse(ClientEvent::TypingStart, body.clone()).unwrap(),
            Request::Typing { start: true, conversation } if conversation == id
        ));
        assert!(matches!(
            parse(ClientEvent::TypingStop, body.clone()).unwrap(),
            Request::Typing { start: false, .. }
        ));
        assert!(matches!(
            parse(ClientEvent::LeaveChatRoom, body).unwrap(),
            Request::Leave { conversation } if conversation == id
        ));
    }

    #[test]
    fn sends_use_the_rest_parser() {
        let id = conv();
        match parse(
            ClientEvent::SendMessage,
            json!({ "conversationId": id.to_string(), "text": " hi ", "clientMessageId": "t-1" }),
        )
        .unwrap()
        {
            Request::Send(s) => {
                assert_eq!(s.conversation_id, id);
                assert_eq!(s.content.text().unwrap().as_str(), "hi");
            }
            other => panic!("{other:?}"),
        }
        let e = parse(
            ClientEvent::SendMessage,
            json!({ "conversationId": id.to_string(), "text": "  " }),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn mark_read_takes_an_optional_message() {
        let id = conv();
        let m = MessageId::new();
        assert!(matches!(
            parse(ClientEvent::MarkRead, json!({ "conversationId": id.to_string(), "messageId": m.to_string() })).unwrap(),
            Request::MarkRead { message: Some(x), .. } if x == m
        ));
        assert!(matches!(
            parse(
                ClientEvent::MarkRead,
                json!({ "conversationId": id.to_string() })
            )
            .unwrap(),
            Request::MarkRead { message: None, .. }
        ));
        let e = parse(
            ClientEvent::MarkRead,
            json!({ "conversationId": id.to_string(), "messageId": "nope" }),
        )
        .unwrap_err();
        assert!(e.message.starts_with("messageId"), "{}", e.message);
    }

    /// An ack, parsed back.
    fn parsed(ack: &RawValue) -> Value {
        serde_json::from_str(ack.get()).unwrap()
    }

    #[test]
    fn acks_have_the_contract_shape() {
        assert_eq!(
            parsed(&ack_ok(&json!({ "unreadCount": 2 }))),
            json!({ "ok": true, "unreadCount": 2 })
        );
        assert_eq!(parsed(&ack_ok(&())), json!({ "ok": true }));
        let e = ApiError::not_found("conversation x not found");
        assert_eq!(
            parsed(&ack_err(&e)),
            json!({ "ok": false, "error": { "code": "not_found", "message": "conversation x not found" } })
        );
    }

    #[test]
    fn the_send_ack_is_the_generic_ack_of_the_message() {
        let message = MessageView {
            id: MessageId::new(),
            conversation_id: conv(),
            seq: 3,
            sender: souk_domain::Sender {
                id: UserId::parse("c-1").unwrap(),
                role: souk_domain::Role::Customer,
            },
            kind: souk_domain::MessageKind::Text,
            text: Some("hi \"there\"".into()),
            product: None,
            client_message_id: None,
            sent_at: souk_domain::Timestamp::from_millis(1_795_000_000_123),
            read_at: None,
        };
        for duplicate in [false, true] {
            let fast = parsed(&ack_sent(&message, duplicate));
            let generic = parsed(&ack_ok(
                &json!({ "message": message, "duplicate": duplicate }),
            ));
            assert_eq!(fast, generic);
            assert_eq!(fast["ok"], json!(true));
        }
    }
}
