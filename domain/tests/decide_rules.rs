//! Given / when / then tests: one or more per rule of `decide`, and the
//! figures `ConversationState` derives from the events (unread counts, read
//! times, display names).
//!
//! `given(history).when(command)` runs `decide` on the state folded from the
//! history; `.then(events)` checks what was decided and returns the state with
//! those events applied, so a test can go on to check what the state says.

mod support;

use souk_domain::{
    decide, evolve, Command, ConversationEvent, ConversationState, DomainError, MessageContent,
    MessageKind, Role, TypingStopReason,
};
use support::*;

struct Given {
    state: ConversationState,
}

struct When {
    state: ConversationState,
    decided: Result<Vec<ConversationEvent>, DomainError>,
}

fn given(history: impl IntoIterator<Item = ConversationEvent>) -> Given {
    let history: Vec<_> = history.into_iter().collect();
    Given {
        state: ConversationState::from_events(&history),
    }
}

impl Given {
    fn when(self, command: Command) -> When {
        let decided = decide(&self.state, &command);
        When {
            state: self.state,
            decided,
        }
    }
}

impl When {
    /// Checks the decided events and returns the state after them.
    #[track_caller]
    fn then(self, expected: impl IntoIterator<Item = ConversationEvent>) -> ConversationState {
        let expected: Vec<_> = expected.into_iter().collect();
        match self.decided {
            Ok(events) => {
                assert_eq!(events, expected, "decided events");
                events.iter().fold(self.state, evolve)
            }
            Err(e) => panic!("expected {expected:?}, the command was refused: {e:?}"),
        }
    }

    /// Checks that the command is accepted and records nothing.
    #[track_caller]
    fn then_nothing(self) -> ConversationState {
        self.then([])
    }

    /// Checks that exactly one event was decided and returns the state after it.
    #[track_caller]
    fn then_one_event(self) -> ConversationState {
        let events = self.decided.expect("accepted");
        assert_eq!(events.len(), 1, "{events:?}");
        events.iter().fold(self.state, evolve)
    }

    #[track_caller]
    fn then_error(self, expected: DomainError) {
        match self.decided {
            Ok(events) => panic!("expected {expected:?}, decided {events:?}"),
            Err(e) => assert_eq!(e, expected),
        }
    }
}

// ---- starting a conversation ----

#[test]
fn starting_a_new_conversation_records_it() {
    let state = given([]).when(start(0)).then([started(0)]);
    let info = state.info.expect("started");
    assert_eq!(info.id, conversation_id());
    assert_eq!(info.customer, participant(&customer()));
    assert_eq!(info.vendor, participant(&vendor()));
    assert_eq!(info.product, Some(bike()));
    assert_eq!(info.started_by, Role::Customer);
    assert_eq!(info.created_at, at(0));
    assert_eq!(info.updated_at, at(0));
    assert!(state.messages.is_empty());
}

#[test]
fn starting_an_existing_conversation_records_nothing() {
    given([started(0)]).when(start(5)).then_nothing();
}

#[test]
fn starting_again_from_the_other_side_with_other_names_and_no_product_records_nothing() {
    let again = Command::StartConversation {
        conversation_id: conversation_id(),
        customer: participant(&named(customer(), None)),
        vendor: participant(&named(vendor(), Some("Someone else"))),
        product: None,
        by: Role::Vendor,
        at: at(9),
    };
    let state = given([started(0)]).when(again).then_nothing();
    let info = state.info.unwrap();
    assert_eq!(info.started_by, Role::Customer, "the first start stands");
    assert_eq!(info.product, Some(bike()));
}

#[test]
fn starting_the_same_id_with_another_vendor_is_a_mismatch() {
    let other = Command::StartConversation {
        conversation_id: conversation_id(),
        customer: participant(&customer()),
        vendor: participant(&outsider()),
        product: None,
        by: Role::Customer,
        at: at(1),
    };
    given([started(0)])
        .when(other)
        .then_error(DomainError::ParticipantsMismatch);
}

#[test]
fn starting_the_same_id_with_another_customer_is_a_mismatch() {
    let other = Command::StartConversation {
        conversation_id: conversation_id(),
        customer: participant(&outsider()),
        vendor: participant(&vendor()),
        product: None,
        by: Role::Vendor,
        at: at(1),
    };
    given([started(0)])
        .when(other)
        .then_error(DomainError::ParticipantsMismatch);
}

#[test]
fn starting_with_the_pair_swapped_is_a_mismatch() {
    let swapped = Command::StartConversation {
        conversation_id: conversation_id(),
        customer: participant(&vendor()),
        vendor: participant(&customer()),
        product: None,
        by: Role::Customer,
        at: at(1),
    };
    given([started(0)])
        .when(swapped)
        .then_error(DomainError::ParticipantsMismatch);
}

// ---- who may act ----

/// One command of every kind that has an actor, by `by`.
fn every_action(by: &souk_domain::Actor) -> Vec<Command> {
    vec![
        send(by, 1, "hello", Some("k1"), 1),
        send(by, 2, "hello", None, 1),
        read(by, 1, 1),
        read_all(by, 1),
        start_typing(by, 1),
        stop_typing(by, TypingStopReason::Stopped, 1),
        change_product(by, helmet(), 1),
    ]
}

#[test]
fn nothing_can_happen_before_the_conversation_starts() {
    for by in [customer(), vendor(), outsider()] {
        for command in every_action(&by) {
            given([])
                .when(command)
                .then_error(DomainError::ConversationNotFound);
        }
    }
}

#[test]
fn an_outsider_can_do_nothing() {
    let history = [
        started(0),
        sent(&vendor(), 1, "hi", None, 1),
        typing_started(&customer(), 2),
    ];
    for role in [Role::Customer, Role::Vendor] {
        let by = as_role(outsider(), role);
        for command in every_action(&by) {
            given(history.clone())
                .when(command)
                .then_error(DomainError::NotAParticipant);
        }
    }
}

#[test]
fn a_participant_acting_in_the_other_role_is_not_a_participant() {
    let history = [
        started(0),
        sent(&vendor(), 1, "hi", None, 1),
        sent(&customer(), 2, "hey", None, 2),
    ];
    for by in [
        as_role(customer(), Role::Vendor),
        as_role(vendor(), Role::Customer),
    ] {
        for command in every_action(&by) {
            given(history.clone())
                .when(command)
                .then_error(DomainError::NotAParticipant);
        }
    }
}

#[test]
fn the_actors_name_does_not_matter_for_who_may_act() {
    given([started(0)])
        .when(send(&named(customer(), None), 1, "hi", None, 1))
        .then([sent(&named(customer(), None), 1, "hi", None, 1)]);
}

// ---- the product discussed ----

#[test]
fn a_conversation_is_about_the_product_it_was_started_from() {
    let state = given([started(0)]).state;
    let info = state.info.expect("started");
    assert_eq!(info.product, Some(bike()));
    assert_eq!(info.current_product, Some(bike()));
}

#[test]
fn asking_about_another_product_records_it_and_keeps_the_start_s_product() {
    let state = given([started(0), sent(&customer(), 1, "hi", None, 1)])
        .when(change_product(&customer(), helmet(), 5))
        .then([product_changed(&customer(), helmet(), 5)]);
    let info = state.info.clone().expect("started");
    assert_eq!(info.current_product, Some(helmet()));
    assert_eq!(info.product, Some(bike()), "the start's product stays");
    // Not a message: the last activity and the unread counts stay.
    assert_eq!(info.updated_at, at(1));
    assert_eq!(state.unread(Role::Vendor), 1);
}

#[test]
fn asking_about_the_current_product_again_records_nothing() {
    given([started(0)])
        .when(change_product(&customer(), bike(), 1))
        .then_nothing();
    given([started(0), product_changed(&customer(), helmet(), 1)])
        .when(change_product(&vendor(), helmet(), 2))
        .then_nothing();
}

#[test]
fn the_same_product_is_the_same_id_whatever_its_card_says_now() {
    let mut cheaper = bike();
    cheaper.price_minor = Some(39_999);
    cheaper.name = "Red bike (sale)".into();
    given([started(0)])
        .when(change_product(&customer(), cheaper, 1))
        .then_nothing();
}

#[test]
fn asking_back_about_the_first_product_records_it_again() {
    let state = given([started(0), product_changed(&customer(), helmet(), 1)])
        .when(change_product(&customer(), bike(), 2))
        .then([product_changed(&customer(), bike(), 2)]);
    assert_eq!(state.info.unwrap().current_product, Some(bike()));
}

#[test]
fn a_conversation_started_without_a_product_gets_one_when_asked_about() {
    let bare = ConversationEvent::ConversationStarted(souk_domain::ConversationStarted {
        conversation_id: conversation_id(),
        customer: participant(&customer()),
        vendor: participant(&vendor()),
        product: None,
        started_by: Role::Vendor,
        at: at(0),
    });
    let state = given([bare])
        .when(change_product(&vendor(), helmet(), 1))
        .then([product_changed(&vendor(), helmet(), 1)]);
    let info = state.info.unwrap();
    assert_eq!(info.product, None);
    assert_eq!(info.current_product, Some(helmet()));
}

#[test]
fn asking_about_a_product_records_the_askers_name() {
    let state = given([started(0)])
        .when(change_product(
            &named(customer(), Some("Carla M.")),
            helmet(),
            1,
        ))
        .then_one_event();
    assert_eq!(
        state
            .info
            .unwrap()
            .customer
            .name
            .map(|n| n.as_str().to_owned()),
        Some("Carla M.".to_owned())
    );
}

#[test]
fn the_compact_state_knows_the_product_discussed_as_the_full_one_does() {
    let history = [
        started(0),
        product_changed(&customer(), helmet(), 1),
        sent(&vendor(), 1, "It fits 54 to 58 cm", None, 2),
    ];
    let compact = souk_domain::CompactState::from_events(&history);
    assert_eq!(
        compact.info.as_ref().unwrap().current_product,
        Some(helmet())
    );
    for command in [
        change_product(&customer(), helmet(), 3),
        change_product(&customer(), bike(), 3),
    ] {
        let full = ConversationState::from_events(&history);
        assert_eq!(decide(&compact, &command), decide(&full, &command));
    }
}

// ---- sending ----

#[test]
fn the_first_message_gets_seq_1() {
    let state = given([started(0)])
        .when(send(&customer(), 1, "Is it still for sale?", None, 1))
        .then([sent(&customer(), 1, "Is it still for sale?", None, 1)]);
    assert_eq!(state.messages.len(), 1);
    assert_eq!(state.message_by_id(&mid(1)).unwrap().seq, 1);
    assert_eq!(state.info.unwrap().updated_at, at(1));
}

#[test]
fn seq_runs_1_2_3_across_both_sides() {
    let state = given([started(0)])
        .when(send(&customer(), 1, "one", None, 1))
        .then([sent(&customer(), 1, "one", None, 1)]);
    let state = Given { state }
        .when(send(&vendor(), 2, "two", None, 2))
        .then([sent(&vendor(), 2, "two", None, 2)]);
    let state = Given { state }
        .when(send(&customer(), 3, "three", None, 3))
        .then([sent(&customer(), 3, "three", None, 3)]);
    let seqs: Vec<_> = state.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(state.next_seq(), 4);
    assert_eq!(state.message(2).unwrap().message_id, mid(2));
    assert!(state.message(0).is_none());
    assert!(state.message(4).is_none());
}

#[test]
fn a_product_message_records_the_card_and_its_caption() {
    let command = Command::SendMessage {
        by: vendor(),
        message_id: mid(1),
        content: MessageContent::Product {
            product: bike(),
            caption: Some(text("This one?")),
        },
        client_message_id: None,
        at: at(1),
    };
    let state = given([started(0)]).when(command).then_one_event();
    let m = &state.messages[0];
    assert_eq!(m.kind, MessageKind::Product);
    assert_eq!(m.product, Some(bike()));
    assert_eq!(m.text, Some(text("This one?")));
    assert_eq!(m.seq, 1);
}

#[test]
fn a_retried_send_with_the_same_client_message_id_records_nothing() {
    let history = [
        started(0),
        sent(&customer(), 1, "Is it still for sale?", Some("tab1-1"), 1),
        sent(&vendor(), 2, "Yes", None, 2),
    ];
    // The retry comes with a fresh message id, another time and even another
    // text: the client id alone says it is the same message.
    let state = given(history)
        .when(send(
            &customer(),
            9,
            "Is it still for sale??",
            Some("tab1-1"),
            3,
        ))
        .then_nothing();
    let earlier = state
        .message_by_client_id(Role::Customer, &cid("tab1-1"))
        .expect("the earlier message is found by its client id");
    assert_eq!(earlier.message_id, mid(1));
    assert_eq!(earlier.seq, 1);
    assert!(state.message_by_id(&mid(9)).is_none());
    assert_eq!(state.messages.len(), 2);
}

#[test]
fn a_retried_send_while_typing_records_nothing_at_all() {
    let history = [
        started(0),
        sent(&customer(), 1, "hi", Some("k"), 1),
        typing_started(&customer(), 2),
    ];
    let state = given(history)
        .when(send(&customer(), 2, "hi", Some("k"), 3))
        .then_nothing();
    assert!(state.typing[Role::Customer.index()]);
}

#[test]
fn the_same_client_message_id_from_the_other_participant_is_a_new_message() {
    let history = [started(0), sent(&customer(), 1, "hi", Some("k1"), 1)];
    let state = given(history)
        .when(send(&vendor(), 2, "hello", Some("k1"), 2))
        .then([sent(&vendor(), 2, "hello", Some("k1"), 2)]);
    assert_eq!(
        state
            .message_by_client_id(Role::Customer, &cid("k1"))
            .unwrap()
            .message_id,
        mid(1)
    );
    assert_eq!(
        state
            .message_by_client_id(Role::Vendor, &cid("k1"))
            .unwrap()
            .message_id,
        mid(2)
    );
}

#[test]
fn a_different_client_message_id_is_a_new_message() {
    given([started(0), sent(&customer(), 1, "hi", Some("k1"), 1)])
        .when(send(&customer(), 2, "hi", Some("k2"), 2))
        .then([sent(&customer(), 2, "hi", Some("k2"), 2)]);
}

#[test]
fn sends_without_a_client_message_id_are_never_merged() {
    given([started(0), sent(&customer(), 1, "hi", None, 1)])
        .when(send(&customer(), 2, "hi", None, 1))
        .then([sent(&customer(), 2, "hi", None, 1)]);
}

#[test]
fn a_send_while_typing_first_records_that_typing_stopped() {
    let state = given([started(0), typing_started(&customer(), 1)])
        .when(send(&customer(), 1, "hi", None, 2))
        .then([
            typing_stopped(&customer(), TypingStopReason::MessageSent, 2),
            sent(&customer(), 1, "hi", None, 2),
        ]);
    assert_eq!(state.typing, [false, false]);
}

#[test]
fn a_send_does_not_stop_the_other_side_typing() {
    let state = given([started(0), typing_started(&vendor(), 1)])
        .when(send(&customer(), 1, "hi", None, 2))
        .then([sent(&customer(), 1, "hi", None, 2)]);
    assert!(state.typing[Role::Vendor.index()]);
}

// ---- reading ----

/// Vendor m1, vendor m2, customer m3, vendor m4, customer m5.
fn chat() -> Vec<ConversationEvent> {
    vec![
        started(0),
        sent(&vendor(), 1, "Hello", None, 1),
        sent(&vendor(), 2, "How can I help?", None, 2),
        sent(&customer(), 3, "Is the bike red?", None, 3),
        sent(&vendor(), 4, "Yes", None, 4),
        sent(&customer(), 5, "Great", None, 5),
    ]
}

#[test]
fn marking_a_message_read_marks_it_and_everything_before_it() {
    let state =
        given(chat())
            .when(read(&customer(), 2, 10))
            .then([was_read(&customer(), 2, 2, false, 10)]);
    assert_eq!(state.read_up_to, [2, 0]);
    assert_eq!(state.unread(Role::Customer), 1, "m4 is still unread");
}

#[test]
fn reading_your_own_message_marks_the_other_sides_messages_before_it() {
    // m3 is the customer's own; the vendor's last message before it is m2.
    given(chat())
        .when(read(&customer(), 3, 10))
        .then([was_read(&customer(), 2, 2, false, 10)]);
    // m5 is the customer's own; the vendor's last before it is m4.
    given(chat())
        .when(read(&customer(), 5, 10))
        .then([was_read(&customer(), 4, 4, false, 10)]);
}

#[test]
fn reading_your_own_message_with_nothing_of_the_other_side_before_it_records_nothing() {
    // The vendor's first message is m1, so reading m1 as the vendor covers
    // nothing of the customer's.
    let state = given(chat()).when(read(&vendor(), 1, 10)).then_nothing();
    assert_eq!(state.read_up_to, [0, 0]);
}

#[test]
fn the_vendor_reads_the_customers_messages() {
    let state =
        given(chat())
            .when(read(&vendor(), 4, 10))
            .then([was_read(&vendor(), 3, 3, false, 10)]);
    assert_eq!(state.unread(Role::Vendor), 1, "m5 is still unread");
    assert_eq!(state.unread(Role::Customer), 3, "the customer read nothing");
}

#[test]
fn reading_only_moves_forward() {
    let mut history = chat();
    history.push(was_read(&customer(), 4, 4, false, 10));
    // Again the same message, an earlier one, and one's own later message
    // whose cover (m4) is already read: all nothing.
    for up_to in [4, 2, 1, 3, 5] {
        let state = given(history.clone())
            .when(read(&customer(), up_to, 11))
            .then_nothing();
        assert_eq!(state.read_up_to, [4, 0]);
    }
}

#[test]
fn reading_a_message_that_is_not_in_the_conversation_is_refused() {
    given(chat())
        .when(read(&customer(), 99, 10))
        .then_error(DomainError::MessageNotFound);
    given([started(0)])
        .when(read(&vendor(), 1, 10))
        .then_error(DomainError::MessageNotFound);
}

#[test]
fn mark_all_read_moves_the_marker_to_the_other_sides_last_message() {
    let state = given(chat())
        .when(read_all(&customer(), 10))
        .then([was_read(&customer(), 4, 4, true, 10)]);
    assert_eq!(state.unread(Role::Customer), 0);
    let state = Given { state }
        .when(read_all(&vendor(), 11))
        .then([was_read(&vendor(), 5, 5, true, 11)]);
    assert_eq!(state.unread(Role::Vendor), 0);
    assert_eq!(state.read_up_to, [4, 5]);
}

#[test]
fn mark_all_read_after_a_partial_read_covers_the_rest() {
    let mut history = chat();
    history.push(was_read(&customer(), 1, 1, false, 10));
    given(history)
        .when(read_all(&customer(), 11))
        .then([was_read(&customer(), 4, 4, true, 11)]);
}

#[test]
fn mark_all_read_with_nothing_unread_records_nothing() {
    // No messages at all.
    given([started(0)])
        .when(read_all(&customer(), 1))
        .then_nothing();
    // Only one's own messages.
    given([started(0), sent(&customer(), 1, "hi", None, 1)])
        .when(read_all(&customer(), 2))
        .then_nothing();
    // Everything already read, by either kind of read.
    let mut history = chat();
    history.push(was_read(&customer(), 4, 4, false, 10));
    given(history)
        .when(read_all(&customer(), 11))
        .then_nothing();
    let mut history = chat();
    history.push(was_read(&vendor(), 5, 5, true, 10));
    given(history).when(read_all(&vendor(), 11)).then_nothing();
}

// ---- typing ----

#[test]
fn typing_starts_and_stops() {
    let state = given([started(0)])
        .when(start_typing(&customer(), 1))
        .then([typing_started(&customer(), 1)]);
    assert_eq!(state.typing, [true, false]);
    let state = Given { state }
        .when(stop_typing(&customer(), TypingStopReason::Stopped, 2))
        .then([typing_stopped(&customer(), TypingStopReason::Stopped, 2)]);
    assert_eq!(state.typing, [false, false]);
}

#[test]
fn typing_that_expires_records_the_reason() {
    given([started(0), typing_started(&vendor(), 1)])
        .when(stop_typing(&vendor(), TypingStopReason::Expired, 6))
        .then([typing_stopped(&vendor(), TypingStopReason::Expired, 6)]);
}

#[test]
fn starting_to_type_while_typing_records_nothing_new() {
    let state = given([started(0), typing_started(&customer(), 1)])
        .when(start_typing(&customer(), 2))
        .then_nothing();
    assert_eq!(state.typing, [true, false]);
}

#[test]
fn stopping_typing_when_not_typing_records_nothing() {
    given([started(0)])
        .when(stop_typing(&customer(), TypingStopReason::Stopped, 1))
        .then_nothing();
    given([
        started(0),
        typing_started(&customer(), 1),
        typing_stopped(&customer(), TypingStopReason::Expired, 6),
    ])
    .when(stop_typing(&customer(), TypingStopReason::Stopped, 7))
    .then_nothing();
}

#[test]
fn each_side_types_on_its_own() {
    let state = given([started(0), typing_started(&customer(), 1)])
        .when(start_typing(&vendor(), 2))
        .then([typing_started(&vendor(), 2)]);
    assert_eq!(state.typing, [true, true]);
    given([started(0), typing_started(&customer(), 1)])
        .when(stop_typing(&vendor(), TypingStopReason::Stopped, 2))
        .then_nothing();
}

// ---- what the state says ----

#[test]
fn unread_counts_are_the_other_sides_messages_after_the_marker() {
    let state = given(chat()).state;
    assert_eq!(state.unread(Role::Customer), 3, "m1, m2, m4");
    assert_eq!(state.unread(Role::Vendor), 2, "m3, m5");

    let mut history = chat();
    history.push(was_read(&customer(), 2, 2, false, 10));
    history.push(was_read(&vendor(), 3, 3, false, 11));
    let state = given(history.clone()).state;
    assert_eq!(state.unread(Role::Customer), 1);
    assert_eq!(state.unread(Role::Vendor), 1);

    // A new message from the vendor adds one for the customer only.
    history.push(sent(&vendor(), 6, "Anything else?", None, 12));
    let state = given(history).state;
    assert_eq!(state.unread(Role::Customer), 2);
    assert_eq!(state.unread(Role::Vendor), 1);
}

#[test]
fn read_at_is_when_the_recipient_first_covered_the_message() {
    let mut history = chat();
    history.push(was_read(&customer(), 2, 2, false, 10));
    history.push(was_read(&vendor(), 3, 3, false, 11));
    history.push(was_read(&customer(), 4, 4, true, 12));
    let state = given(history).state;
    assert_eq!(
        state.read_at(1),
        Some(at(10)),
        "m1 by the customer's first read"
    );
    assert_eq!(state.read_at(2), Some(at(10)));
    assert_eq!(state.read_at(3), Some(at(11)), "m3 by the vendor");
    assert_eq!(state.read_at(4), Some(at(12)));
    assert_eq!(state.read_at(5), None, "the vendor has not read m5");
    assert_eq!(state.read_at(6), None, "no such message");
    assert_eq!(state.read_at(0), None);
    assert_eq!(state.last_read_at(Role::Customer), Some(at(12)));
    assert_eq!(state.last_read_at(Role::Vendor), Some(at(11)));
}

#[test]
fn a_read_does_not_mark_the_readers_own_messages() {
    let mut history = chat();
    history.push(was_read(&customer(), 4, 4, true, 10));
    let state = given(history).state;
    assert_eq!(state.read_at(3), None, "m3 is the customer's own");
    assert_eq!(state.read_at(5), None);
    assert_eq!(state.last_read_at(Role::Vendor), None);
}

#[test]
fn a_stale_read_event_changes_no_marker_or_read_time() {
    let mut history = chat();
    history.push(was_read(&customer(), 4, 4, false, 10));
    history.push(was_read(&customer(), 2, 2, false, 20));
    let state = given(history).state;
    assert_eq!(state.read_up_to, [4, 0]);
    assert_eq!(state.read_at(1), Some(at(10)));
    assert_eq!(state.last_read_at(Role::Customer), Some(at(10)));
}

#[test]
fn a_message_updates_its_senders_display_name() {
    let renamed = named(vendor(), Some("Vik's Bikes & Co"));
    let state = given([started(0)])
        .when(send(&renamed, 1, "hi", None, 1))
        .then([sent(&renamed, 1, "hi", None, 1)]);
    let info = state.info.unwrap();
    assert_eq!(info.vendor.name, Some(name("Vik's Bikes & Co")));
    assert_eq!(info.customer.name, Some(name("Carla")));
}

#[test]
fn a_read_updates_the_readers_display_name() {
    let renamed = named(customer(), Some("Carla M."));
    let state = given([started(0), sent(&vendor(), 1, "hi", None, 1)])
        .when(read_all(&renamed, 2))
        .then([was_read(&renamed, 1, 1, true, 2)]);
    assert_eq!(state.info.unwrap().customer.name, Some(name("Carla M.")));
}

#[test]
fn acting_without_a_name_keeps_the_known_name() {
    let anonymous = named(customer(), None);
    let state = given([started(0), sent(&vendor(), 1, "hi", None, 1)])
        .when(send(&anonymous, 2, "hey", None, 2))
        .then([sent(&anonymous, 2, "hey", None, 2)]);
    let state = Given { state }
        .when(read_all(&anonymous, 3))
        .then([was_read(&anonymous, 1, 1, true, 3)]);
    assert_eq!(state.info.unwrap().customer.name, Some(name("Carla")));
}

#[test]
fn every_applied_event_is_counted() {
    let state = given(chat()).state;
    assert_eq!(state.events_applied, 6);
    assert_eq!(given([]).state, ConversationState::default());
}

// ---- support access ----

mod support_access {
    use super::*;
    use souk_domain::{Operator, SupportView, SUPPORT_ACCESS_MEMORY};

    /// 15 minutes, in the fixtures' seconds.
    const WINDOW: i64 = 15 * 60;

    fn other_operator() -> Operator {
        Operator {
            id: user("o-kim"),
            name: None,
        }
    }

    #[test]
    fn an_access_to_a_conversation_that_does_not_exist_is_refused() {
        given([])
            .when(support_access(
                &sam(),
                "ticket 1",
                SupportView::Conversation,
                1,
            ))
            .then_error(DomainError::ConversationNotFound);
    }

    #[test]
    fn an_access_is_recorded_with_who_why_which_view_and_when() {
        let state = given(chat())
            .when(support_access(&sam(), "ticket 1", SupportView::State, 60))
            .then([support_accessed(&sam(), "ticket 1", SupportView::State, 60)]);
        assert_eq!(state.support_accesses.len(), 1);
        assert_eq!(state.support_accesses[0].operator, sam());
    }

    #[test]
    fn an_access_changes_no_message_marker_unread_or_typing_figure() {
        let before = given(chat().into_iter().chain([typing_started(&vendor(), 20)])).state;
        let after = given(chat().into_iter().chain([typing_started(&vendor(), 20)]))
            .when(support_access(&sam(), "ticket 1", SupportView::Events, 60))
            .then_one_event();
        assert_eq!(after.messages, before.messages);
        assert_eq!(after.read_up_to, before.read_up_to);
        assert_eq!(after.typing, before.typing);
        assert_eq!(after.info, before.info, "updatedAt and names stay");
        for role in [Role::Customer, Role::Vendor] {
            assert_eq!(after.unread(role), before.unread(role));
            assert_eq!(after.last_read_at(role), before.last_read_at(role));
        }
        for m in &before.messages {
            assert_eq!(after.read_at(m.seq), before.read_at(m.seq));
        }
        assert_eq!(after.next_seq(), before.next_seq());
    }

    #[test]
    fn the_same_operator_and_reason_within_15_minutes_is_one_access_whatever_the_view() {
        let first = support_accessed(&sam(), "ticket 1", SupportView::Conversation, 100);
        let history = || chat().into_iter().chain([first.clone()]);
        for view in SupportView::ALL {
            given(history())
                .when(support_access(&sam(), "ticket 1", view, 100 + WINDOW - 1))
                .then_nothing();
        }
        // The reason is compared after trimming.
        given(history())
            .when(support_access(
                &sam(),
                "  ticket 1 ",
                SupportView::State,
                200,
            ))
            .then_nothing();
    }

    #[test]
    fn fifteen_minutes_later_the_same_access_is_recorded_again() {
        let first = support_accessed(&sam(), "ticket 1", SupportView::Conversation, 100);
        given(chat().into_iter().chain([first]))
            .when(support_access(
                &sam(),
                "ticket 1",
                SupportView::State,
                100 + WINDOW,
            ))
            .then([support_accessed(
                &sam(),
                "ticket 1",
                SupportView::State,
                100 + WINDOW,
            )]);
    }

    #[test]
    fn another_reason_or_another_operator_is_a_new_access() {
        let first = support_accessed(&sam(), "ticket 1", SupportView::Conversation, 100);
        let history = || chat().into_iter().chain([first.clone()]);
        given(history())
            .when(support_access(
                &sam(),
                "ticket 2",
                SupportView::Conversation,
                101,
            ))
            .then([support_accessed(
                &sam(),
                "ticket 2",
                SupportView::Conversation,
                101,
            )]);
        given(history())
            .when(support_access(
                &other_operator(),
                "ticket 1",
                SupportView::Conversation,
                101,
            ))
            .then([support_accessed(
                &other_operator(),
                "ticket 1",
                SupportView::Conversation,
                101,
            )]);
    }

    #[test]
    fn a_repeat_is_recognised_after_other_reasons_in_between() {
        let history = chat().into_iter().chain([
            support_accessed(&sam(), "ticket 1", SupportView::Conversation, 100),
            support_accessed(&sam(), "ticket 2", SupportView::Conversation, 110),
            support_accessed(&other_operator(), "ticket 1", SupportView::Events, 120),
        ]);
        given(history)
            .when(support_access(&sam(), "ticket 1", SupportView::State, 130))
            .then_nothing();
    }

    #[test]
    fn only_the_latest_accesses_are_remembered() {
        // The first access, followed by as many others as are remembered:
        // its repeat is recorded again, as full and compact states agree.
        let mut history = chat();
        history.push(support_accessed(
            &sam(),
            "ticket 0",
            SupportView::Events,
            100,
        ));
        for i in 0..SUPPORT_ACCESS_MEMORY as i64 {
            history.push(support_accessed(
                &other_operator(),
                &format!("ticket {}", i + 1),
                SupportView::Events,
                101 + i,
            ));
        }
        let now = 101 + SUPPORT_ACCESS_MEMORY as i64;
        let compact = souk_domain::CompactState::from_events(&history);
        let command = support_access(&sam(), "ticket 0", SupportView::Events, now);
        assert_eq!(decide(&compact, &command).unwrap().len(), 1);
        given(history).when(command).then([support_accessed(
            &sam(),
            "ticket 0",
            SupportView::Events,
            now,
        )]);
    }

    #[test]
    fn participants_commands_are_unaffected_by_support_accesses() {
        let history = chat().into_iter().chain([support_accessed(
            &sam(),
            "ticket 1",
            SupportView::Conversation,
            100,
        )]);
        let state = given(history)
            .when(send(&customer(), 6, "still there?", None, 101))
            .then([sent(&customer(), 6, "still there?", None, 101)]);
        assert_eq!(state.messages.len(), 6);
    }
}
