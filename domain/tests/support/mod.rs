//! Fixtures shared by the domain's test files: two participants and an
//! outsider, fixed message ids and times, and builders for the commands and
//! the events that `decide` is expected to produce.
//!
//! Each test binary includes this module and uses a part of it, hence the
//! `dead_code` allowance.
#![allow(dead_code)]

use souk_domain::{
    Actor, ClientMessageId, Command, ConversationEvent, ConversationId, ConversationStarted,
    CurrentProductChanged, DisplayName, MessageContent, MessageId, MessageKind, MessageRead,
    MessageSent, MessageText, Operator, Participant, ProductCard, ProductCardInput, Role, Sender,
    SupportAccessed, SupportReason, SupportView, Timestamp, Typing, TypingStopReason, UserId,
};
use uuid::Uuid;

/// 2026-11-26T10:00:00.000Z: every fixture time is an offset from it.
pub const BASE_MILLIS: i64 = 1_795_687_200_000;

/// The time `secs` seconds after [`BASE_MILLIS`].
pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_millis(BASE_MILLIS + secs * 1000)
}

pub fn user(id: &str) -> UserId {
    UserId::parse(id).expect("fixture user ids are valid")
}

pub fn name(n: &str) -> DisplayName {
    DisplayName::parse(n).expect("fixture names are valid")
}

pub fn cid(s: &str) -> ClientMessageId {
    ClientMessageId::parse(s).expect("fixture client message ids are valid")
}

/// Message `n` of a test: a fixed id, so expected events can be written out.
pub fn mid(n: u128) -> MessageId {
    MessageId::from_uuid(Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 + n,
    ))
}

pub fn customer() -> Actor {
    Actor {
        id: user("c-1"),
        role: Role::Customer,
        name: Some(name("Carla")),
    }
}

pub fn vendor() -> Actor {
    Actor {
        id: user("v-1"),
        role: Role::Vendor,
        name: Some(name("Vik's Bikes")),
    }
}

/// Someone who is neither participant, claiming the customer role.
pub fn outsider() -> Actor {
    Actor {
        id: user("x-9"),
        role: Role::Customer,
        name: None,
    }
}

/// `actor` with another name (or none), as from a newer token.
pub fn named(mut actor: Actor, n: Option<&str>) -> Actor {
    actor.name = n.map(name);
    actor
}

/// `actor` claiming the other role.
pub fn as_role(mut actor: Actor, role: Role) -> Actor {
    actor.role = role;
    actor
}

/// A member of the support staff.
pub fn sam() -> Operator {
    Operator {
        id: user("o-sam"),
        name: Some(name("Sam Reyes, support")),
    }
}

pub fn reason(s: &str) -> SupportReason {
    SupportReason::parse(s).expect("fixture reasons are valid")
}

pub fn conversation_id() -> ConversationId {
    ConversationId::for_pair(&customer().id, &vendor().id)
}

pub fn participant(actor: &Actor) -> Participant {
    Participant {
        id: actor.id.clone(),
        name: actor.name.clone(),
    }
}

pub fn bike() -> ProductCard {
    ProductCard::parse(
        "product",
        ProductCardInput {
            id: "p-7".into(),
            name: "Red bike".into(),
            price_minor: Some(49_999),
            currency: Some("EUR".into()),
            image_url: Some("https://img.example/p-7.jpg".into()),
            url: Some("https://shop.example/p-7".into()),
        },
    )
    .expect("the fixture card is valid")
}

/// A second product of the same vendor.
pub fn helmet() -> ProductCard {
    ProductCard::parse(
        "product",
        ProductCardInput {
            id: "p-9".into(),
            name: "Commuter helmet".into(),
            price_minor: Some(5_900),
            currency: Some("EUR".into()),
            image_url: None,
            url: None,
        },
    )
    .expect("the fixture card is valid")
}

pub fn text(s: &str) -> MessageText {
    MessageText::parse(s).expect("fixture texts are valid")
}

// ---- commands ----

/// The customer opens the conversation with the vendor from the bike.
pub fn start(secs: i64) -> Command {
    Command::StartConversation {
        conversation_id: conversation_id(),
        customer: participant(&customer()),
        vendor: participant(&vendor()),
        product: Some(bike()),
        by: Role::Customer,
        at: at(secs),
    }
}

/// `by` sends text `body` as message `n`, with an optional client id.
pub fn send(by: &Actor, n: u128, body: &str, client_id: Option<&str>, secs: i64) -> Command {
    Command::SendMessage {
        by: by.clone(),
        message_id: mid(n),
        content: MessageContent::Text(text(body)),
        client_message_id: client_id.map(cid),
        at: at(secs),
    }
}

pub fn read(by: &Actor, up_to: u128, secs: i64) -> Command {
    Command::MarkRead {
        by: by.clone(),
        up_to: mid(up_to),
        at: at(secs),
    }
}

pub fn read_all(by: &Actor, secs: i64) -> Command {
    Command::MarkAllRead {
        by: by.clone(),
        at: at(secs),
    }
}

pub fn start_typing(by: &Actor, secs: i64) -> Command {
    Command::StartTyping {
        by: by.clone(),
        at: at(secs),
    }
}

pub fn stop_typing(by: &Actor, reason: TypingStopReason, secs: i64) -> Command {
    Command::StopTyping {
        by: by.clone(),
        reason,
        at: at(secs),
    }
}

/// `by` asks about `product` (opens the conversation from its page).
pub fn change_product(by: &Actor, product: ProductCard, secs: i64) -> Command {
    Command::ChangeCurrentProduct {
        by: by.clone(),
        product,
        at: at(secs),
    }
}

/// `operator` reads `view` for `why`.
pub fn support_access(operator: &Operator, why: &str, view: SupportView, secs: i64) -> Command {
    Command::RecordSupportAccess {
        operator: operator.clone(),
        reason: reason(why),
        view,
        at: at(secs),
    }
}

// ---- events ----

/// What [`start`] records on a new conversation.
pub fn started(secs: i64) -> ConversationEvent {
    ConversationEvent::ConversationStarted(ConversationStarted {
        conversation_id: conversation_id(),
        customer: participant(&customer()),
        vendor: participant(&vendor()),
        product: Some(bike()),
        started_by: Role::Customer,
        at: at(secs),
    })
}

/// What [`send`] records for text message `n`; the fixtures number messages
/// in order, so message `n` is at seq `n`.
pub fn sent(
    by: &Actor,
    n: u128,
    body: &str,
    client_id: Option<&str>,
    secs: i64,
) -> ConversationEvent {
    ConversationEvent::MessageSent(MessageSent {
        message_id: mid(n),
        seq: n as u64,
        sender: Sender {
            id: by.id.clone(),
            role: by.role,
        },
        sender_name: by.name.clone(),
        kind: MessageKind::Text,
        text: Some(text(body)),
        product: None,
        client_message_id: client_id.map(cid),
        at: at(secs),
    })
}

/// `by` read up to message `n` at `seq`.
pub fn was_read(by: &Actor, seq: u64, n: u128, all: bool, secs: i64) -> ConversationEvent {
    ConversationEvent::MessageRead(MessageRead {
        reader_id: by.id.clone(),
        reader_role: by.role,
        reader_name: by.name.clone(),
        up_to_seq: seq,
        up_to_message_id: mid(n),
        all,
        at: at(secs),
    })
}

pub fn typing_started(by: &Actor, secs: i64) -> ConversationEvent {
    ConversationEvent::TypingStarted(Typing {
        user_id: by.id.clone(),
        role: by.role,
        reason: None,
        at: at(secs),
    })
}

pub fn typing_stopped(by: &Actor, reason: TypingStopReason, secs: i64) -> ConversationEvent {
    ConversationEvent::TypingStopped(Typing {
        user_id: by.id.clone(),
        role: by.role,
        reason: Some(reason),
        at: at(secs),
    })
}

/// What [`support_access`] records.
pub fn support_accessed(
    operator: &Operator,
    why: &str,
    view: SupportView,
    secs: i64,
) -> ConversationEvent {
    ConversationEvent::SupportAccessed(SupportAccessed {
        operator: operator.clone(),
        reason: reason(why),
        view,
        at: at(secs),
    })
}

/// What [`change_product`] records.
pub fn product_changed(by: &Actor, product: ProductCard, secs: i64) -> ConversationEvent {
    ConversationEvent::CurrentProductChanged(CurrentProductChanged {
        product,
        by: Sender {
            id: by.id.clone(),
            role: by.role,
        },
        by_name: by.name.clone(),
        at: at(secs),
    })
}
