//! Events as stored: every type encodes with `to_json` and decodes with
//! `ConversationEvent::decode` to an equal value; type names, versions and the
//! JSON shape are pinned, because events already in a log are never rewritten
//! and an accidental rename would make them unreadable.

mod support;

use serde_json::{json, Value};
use souk_domain::{
    ConversationEvent, ConversationId, ConversationStarted, DecodeError, MessageKind, MessageRead,
    MessageSent, Operator, Participant, Role, Sender, SupportView, Typing, TypingStopReason,
};
use support::*;

/// Several events of every type, covering the optional parts.
fn samples() -> Vec<ConversationEvent> {
    let bare_start = ConversationEvent::ConversationStarted(ConversationStarted {
        conversation_id: conversation_id(),
        customer: Participant {
            id: user("c-1"),
            name: None,
        },
        vendor: Participant {
            id: user("v-1"),
            name: None,
        },
        product: None,
        started_by: Role::Vendor,
        at: at(0),
    });
    let product_message = |caption: Option<&str>, sender_name: bool| {
        ConversationEvent::MessageSent(MessageSent {
            message_id: mid(7),
            seq: 7,
            sender: Sender {
                id: user("v-1"),
                role: Role::Vendor,
            },
            sender_name: sender_name.then(|| name("Vik's Bikes")),
            kind: MessageKind::Product,
            text: caption.map(text),
            product: Some(bike()),
            client_message_id: Some(cid("tab-2 #7 ✓")),
            at: at(70),
        })
    };
    vec![
        started(0),
        bare_start,
        sent(
            &customer(),
            1,
            "Is it still for sale? 🚲",
            Some("tab1-0001"),
            1,
        ),
        sent(&named(vendor(), None), 2, "Yes", None, 2),
        product_message(Some("This one?"), true),
        product_message(None, false),
        was_read(&customer(), 2, 2, false, 3),
        was_read(&named(vendor(), None), 1, 1, true, 4),
        typing_started(&customer(), 5),
        typing_stopped(&customer(), TypingStopReason::Stopped, 6),
        typing_stopped(&vendor(), TypingStopReason::Expired, 7),
        typing_stopped(&customer(), TypingStopReason::MessageSent, 8),
        support_accessed(&sam(), "ticket 4711: refund dispute", SupportView::State, 9),
        support_accessed(
            &Operator {
                id: user("o-2"),
                name: None,
            },
            "fraud report",
            SupportView::Conversation,
            10,
        ),
        product_changed(&customer(), helmet(), 11),
        product_changed(&named(vendor(), None), bike(), 12),
    ]
}

#[test]
fn every_event_decodes_to_what_was_encoded() {
    for event in samples() {
        let json = event.to_json();
        let back = ConversationEvent::decode(event.event_type(), event.version(), &json)
            .unwrap_or_else(|e| panic!("{} did not decode: {e}\n{json}", event.event_type()));
        assert_eq!(back, event, "{json}");
        assert_eq!(back.to_json(), json, "encoding is stable");
    }
}

#[test]
fn the_samples_cover_every_type() {
    let mut types: Vec<_> = samples().iter().map(|e| e.event_type()).collect();
    types.sort_unstable();
    types.dedup();
    assert_eq!(
        types,
        [
            "ConversationStarted",
            "CurrentProductChanged",
            "MessageRead",
            "MessageSent",
            "SupportAccessed",
            "TypingStarted",
            "TypingStopped"
        ]
    );
}

#[test]
fn type_names_and_versions_are_stable() {
    let expect = [
        (started(0), "ConversationStarted"),
        (sent(&customer(), 1, "hi", None, 1), "MessageSent"),
        (was_read(&vendor(), 1, 1, false, 2), "MessageRead"),
        (typing_started(&vendor(), 3), "TypingStarted"),
        (
            typing_stopped(&vendor(), TypingStopReason::Stopped, 4),
            "TypingStopped",
        ),
        (
            support_accessed(&sam(), "why", SupportView::Events, 5),
            "SupportAccessed",
        ),
        (
            product_changed(&customer(), helmet(), 6),
            "CurrentProductChanged",
        ),
    ];
    for (event, name) in expect {
        assert_eq!(event.event_type(), name);
        assert_eq!(event.version(), 1, "{name}");
    }
    assert_eq!(
        ConversationEvent::CONVERSATION_STARTED,
        "ConversationStarted"
    );
    assert_eq!(ConversationEvent::MESSAGE_SENT, "MessageSent");
    assert_eq!(ConversationEvent::MESSAGE_READ, "MessageRead");
    assert_eq!(ConversationEvent::TYPING_STARTED, "TypingStarted");
    assert_eq!(ConversationEvent::TYPING_STOPPED, "TypingStopped");
    assert_eq!(ConversationEvent::SUPPORT_ACCESSED, "SupportAccessed");
    assert_eq!(
        ConversationEvent::CURRENT_PRODUCT_CHANGED,
        "CurrentProductChanged"
    );
}

#[test]
fn every_event_knows_when_it_happened() {
    let times: Vec<_> = samples().iter().map(|e| e.at()).collect();
    assert_eq!(
        times,
        [0, 0, 1, 2, 70, 70, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
            .map(at)
            .to_vec()
    );
}

#[test]
fn conversation_ids_derived_from_a_pair_never_change() {
    // Streams are named after these ids: a change of namespace or of the way
    // the pair is joined would split every existing conversation in two.
    assert_eq!(
        conversation_id().to_string(),
        "4af33cf3-1cd0-577e-bc63-7c4bc0e03500"
    );
    assert_eq!(
        conversation_id().stream_name(),
        "conversation-4af33cf3-1cd0-577e-bc63-7c4bc0e03500"
    );
    assert_eq!(
        ConversationId::from_stream_name("conversation-4af33cf3-1cd0-577e-bc63-7c4bc0e03500"),
        Some(conversation_id())
    );
}

fn stored(event: &ConversationEvent) -> Value {
    serde_json::from_str(&event.to_json()).expect("to_json writes JSON")
}

#[test]
fn the_stored_shape_of_each_event_is_pinned() {
    assert_eq!(
        stored(&started(0)),
        json!({
            "conversationId": "4af33cf3-1cd0-577e-bc63-7c4bc0e03500",
            "customer": { "id": "c-1", "name": "Carla" },
            "vendor": { "id": "v-1", "name": "Vik's Bikes" },
            "product": {
                "id": "p-7",
                "name": "Red bike",
                "priceMinor": 49999,
                "currency": "EUR",
                "imageUrl": "https://img.example/p-7.jpg",
                "url": "https://shop.example/p-7"
            },
            "startedBy": "customer",
            "at": "2026-11-26T10:00:00.000Z"
        })
    );
    assert_eq!(
        stored(&sent(
            &customer(),
            1,
            "Is it still for sale?",
            Some("tab1-0001"),
            1
        )),
        json!({
            "messageId": "01900000-0000-7000-8000-000000000001",
            "seq": 1,
            "sender": { "id": "c-1", "role": "customer" },
            "senderName": "Carla",
            "kind": "text",
            "text": "Is it still for sale?",
            "product": null,
            "clientMessageId": "tab1-0001",
            "at": "2026-11-26T10:00:01.000Z"
        })
    );
    assert_eq!(
        stored(&was_read(&vendor(), 1, 1, true, 2)),
        json!({
            "readerId": "v-1",
            "readerRole": "vendor",
            "readerName": "Vik's Bikes",
            "upToSeq": 1,
            "upToMessageId": "01900000-0000-7000-8000-000000000001",
            "all": true,
            "at": "2026-11-26T10:00:02.000Z"
        })
    );
    assert_eq!(
        stored(&typing_started(&vendor(), 3)),
        json!({ "userId": "v-1", "role": "vendor", "at": "2026-11-26T10:00:03.000Z" })
    );
    assert_eq!(
        stored(&typing_stopped(
            &customer(),
            TypingStopReason::MessageSent,
            4
        )),
        json!({
            "userId": "c-1",
            "role": "customer",
            "reason": "messageSent",
            "at": "2026-11-26T10:00:04.000Z"
        })
    );
    assert_eq!(
        stored(&support_accessed(
            &sam(),
            "ticket 4711: refund dispute",
            SupportView::Transcript,
            5
        )),
        json!({
            "operator": { "id": "o-sam", "name": "Sam Reyes, support" },
            "reason": "ticket 4711: refund dispute",
            "view": "transcript",
            "at": "2026-11-26T10:00:05.000Z"
        })
    );
    assert_eq!(
        stored(&product_changed(&customer(), helmet(), 6)),
        json!({
            "product": {
                "id": "p-9",
                "name": "Commuter helmet",
                "priceMinor": 5900,
                "currency": "EUR",
                "imageUrl": null,
                "url": null
            },
            "by": { "id": "c-1", "role": "customer" },
            "byName": "Carla",
            "at": "2026-11-26T10:00:06.000Z"
        })
    );
    let reasons = [
        (TypingStopReason::Stopped, "stopped"),
        (TypingStopReason::Expired, "expired"),
        (TypingStopReason::MessageSent, "messageSent"),
    ];
    for (reason, wire) in reasons {
        assert_eq!(
            stored(&typing_stopped(&vendor(), reason, 5))["reason"],
            wire
        );
    }
}

#[test]
fn optional_names_are_left_out_when_absent() {
    let message = stored(&sent(&named(vendor(), None), 2, "Yes", None, 2));
    assert!(message.get("senderName").is_none(), "{message}");
    assert_eq!(message["clientMessageId"], Value::Null);
    let read = stored(&was_read(&named(customer(), None), 2, 2, false, 3));
    assert!(read.get("readerName").is_none(), "{read}");
    assert_eq!(read["all"], false);
    let changed = stored(&product_changed(&named(vendor(), None), bike(), 4));
    assert!(changed.get("byName").is_none(), "{changed}");
}

#[test]
fn optional_fields_default_when_absent() {
    // `senderName`, `readerName`, `all` and a typing `reason` are left out or
    // may be missing from a stored payload; it still reads as version 1.
    let message = ConversationEvent::decode(
        "MessageSent",
        1,
        r#"{"messageId":"01900000-0000-7000-8000-000000000001","seq":1,
            "sender":{"id":"c-1","role":"customer"},"kind":"text","text":"hi",
            "product":null,"clientMessageId":null,"at":"2026-11-26T10:00:01.000Z"}"#,
    )
    .unwrap();
    let ConversationEvent::MessageSent(m) = message else {
        panic!("decoded {message:?}");
    };
    assert_eq!(m.sender_name, None);
    assert_eq!(m.text, Some(text("hi")));

    let read = ConversationEvent::decode(
        "MessageRead",
        1,
        r#"{"readerId":"v-1","readerRole":"vendor","upToSeq":1,
            "upToMessageId":"01900000-0000-7000-8000-000000000001",
            "at":"2026-11-26T10:00:02.000Z"}"#,
    )
    .unwrap();
    assert_eq!(
        read,
        ConversationEvent::MessageRead(MessageRead {
            reader_id: user("v-1"),
            reader_role: Role::Vendor,
            reader_name: None,
            up_to_seq: 1,
            up_to_message_id: mid(1),
            all: false,
            at: at(2),
        })
    );

    let typing = ConversationEvent::decode(
        "TypingStopped",
        1,
        r#"{"userId":"c-1","role":"customer","at":"2026-11-26T10:00:03.000Z"}"#,
    )
    .unwrap();
    assert_eq!(
        typing,
        ConversationEvent::TypingStopped(Typing {
            user_id: user("c-1"),
            role: Role::Customer,
            reason: None,
            at: at(3),
        })
    );
}

#[test]
fn a_recorded_reason_is_read_as_recorded() {
    // A reason recorded under other rules is read back, not refused.
    let e = ConversationEvent::decode(
        "SupportAccessed",
        1,
        r#"{"operator":{"id":"o-1","name":null},"reason":"x",
            "view":"events","at":"2026-11-26T10:00:03.000Z"}"#,
    )
    .unwrap();
    let ConversationEvent::SupportAccessed(a) = e else {
        panic!("decoded {e:?}");
    };
    assert_eq!(a.reason.as_str(), "x");
    assert_eq!(a.view, SupportView::Events);
    assert_eq!(a.operator.name, None);
    // An unknown view is not guessed.
    assert!(ConversationEvent::decode(
        "SupportAccessed",
        1,
        r#"{"operator":{"id":"o-1","name":null},"reason":"why",
            "view":"everything","at":"2026-11-26T10:00:03.000Z"}"#,
    )
    .is_err());
}

#[test]
fn an_unknown_type_is_named_in_the_error() {
    let err = ConversationEvent::decode("MessageDeleted", 1, "{}").unwrap_err();
    assert!(
        matches!(&err, DecodeError::UnknownType(t) if t == "MessageDeleted"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "unknown event type MessageDeleted");
    // Type names are case-sensitive.
    let err = ConversationEvent::decode("messageSent", 1, "{}").unwrap_err();
    assert!(matches!(err, DecodeError::UnknownType(_)), "{err:?}");
}

#[test]
fn an_unsupported_version_is_refused_rather_than_guessed() {
    let json = sent(&customer(), 1, "hi", None, 1).to_json();
    for version in [0, 2, 99] {
        let err = ConversationEvent::decode("MessageSent", version, &json).unwrap_err();
        assert!(
            matches!(
                &err,
                DecodeError::UnsupportedVersion { event_type, version: v }
                    if event_type == "MessageSent" && *v == version
            ),
            "{err:?}"
        );
    }
}

#[test]
fn a_malformed_payload_is_named_with_its_type() {
    let valid = stored(&sent(&customer(), 1, "hi", None, 1));
    let mut missing_seq = valid.clone();
    missing_seq.as_object_mut().unwrap().remove("seq");
    let mut bad_user = valid.clone();
    bad_user["sender"]["id"] = json!("has space");
    let mut bad_role = valid.clone();
    bad_role["sender"]["role"] = json!("admin");
    let mut bad_time = valid.clone();
    bad_time["at"] = json!("yesterday");
    let mut negative_seq = valid;
    negative_seq["seq"] = json!(-1);
    let cases = [
        "not json".to_owned(),
        String::new(),
        "[]".to_owned(),
        "{}".to_owned(),
        missing_seq.to_string(),
        bad_user.to_string(),
        bad_role.to_string(),
        bad_time.to_string(),
        negative_seq.to_string(),
    ];
    for data in cases {
        let err = ConversationEvent::decode("MessageSent", 1, &data).unwrap_err();
        assert!(
            matches!(
                &err,
                DecodeError::Malformed { event_type, .. } if event_type == "MessageSent"
            ),
            "{data}: {err:?}"
        );
        assert!(
            err.to_string().starts_with("malformed MessageSent: "),
            "{err}"
        );
    }
}

#[test]
fn a_payload_of_another_type_is_malformed() {
    let typing = typing_started(&customer(), 1).to_json();
    for event_type in ["ConversationStarted", "MessageSent", "MessageRead"] {
        let err = ConversationEvent::decode(event_type, 1, &typing).unwrap_err();
        assert!(matches!(err, DecodeError::Malformed { .. }), "{err:?}");
    }
}
