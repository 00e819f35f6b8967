//! Properties of `decide` and `evolve` over generated histories.
//!
//! A customer, a vendor, an outsider and an impostor (the customer's id
//! claiming the vendor's role) issue random starts, sends (with client message
//! ids from a small pool, so retries happen), reads of existing and unknown
//! messages, read-alls and typing starts and stops, and two operators read
//! it for a few reasons (now and then after a pause longer than the 15
//! minutes that make repeats one access), at increasing times. Each
//! command goes through `decide`, its events through `evolve`, and after every
//! step the invariants of DESIGN.md that the domain owns are checked against
//! recounts made from the events and messages, not from the state's own
//! bookkeeping.

mod support;

use std::collections::HashSet;

use proptest::prelude::*;
use proptest::sample::Index;
use souk_domain::{
    decide, evolve, Actor, ClientMessageId, Command, CompactState, ConversationEvent,
    ConversationState, DisplayName, DomainError, Facts, MessageContent, MessageId, Operator,
    Participant, Role, SupportReason, SupportView, Timestamp, TypingStopReason, UserId,
    SUPPORT_ACCESS_MEMORY, SUPPORT_ACCESS_WINDOW,
};
use support::{
    bike, cid, conversation_id, customer, helmet as helmet_card, name, outsider, text, vendor,
    BASE_MILLIS,
};
use uuid::Uuid;

#[derive(Clone, Copy, Debug)]
enum Who {
    Customer,
    Vendor,
    /// Neither participant, claiming a role.
    Outsider(Role),
    /// The customer's id claiming the vendor's role.
    Impostor,
}

#[derive(Clone, Debug)]
enum Target {
    /// One of the messages recorded so far (an unknown one if there is none).
    Existing(Index),
    Unknown,
}

#[derive(Clone, Debug)]
enum Op {
    Start {
        by: Role,
        /// Names another vendor for the same conversation id once it is
        /// started (before that, the start names the usual pair).
        other_vendor: bool,
    },
    Send {
        who: Who,
        client_id: Option<u8>,
        product: bool,
        name: Option<u8>,
    },
    Read {
        who: Who,
        target: Target,
        name: Option<u8>,
    },
    ReadAll {
        who: Who,
        name: Option<u8>,
    },
    TypingStart {
        who: Who,
    },
    TypingStop {
        who: Who,
        reason: TypingStopReason,
    },
    /// A participant (or not) asks about the bike or the helmet.
    AskAbout {
        who: Who,
        helmet: bool,
        name: Option<u8>,
    },
    /// Operator `operator` (of two) reads `view` for reason `reason` (of
    /// three).
    SupportAccess {
        operator: u8,
        reason: u8,
        view: SupportView,
    },
}

const NAMES: [&str; 3] = ["Ana", "Bo", "Cy"];

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        4 => Just(Who::Customer),
        4 => Just(Who::Vendor),
        1 => prop_oneof![Just(Role::Customer), Just(Role::Vendor)].prop_map(Who::Outsider),
        1 => Just(Who::Impostor),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let name = proptest::option::of(0..NAMES.len() as u8);
    prop_oneof![
        2 => (prop_oneof![Just(Role::Customer), Just(Role::Vendor)], prop::bool::weighted(0.2))
            .prop_map(|(by, other_vendor)| Op::Start { by, other_vendor }),
        10 => (who(), proptest::option::weighted(0.7, 0..4u8), any::<bool>(), name.clone())
            .prop_map(|(who, client_id, product, name)| Op::Send { who, client_id, product, name }),
        5 => (
            who(),
            prop_oneof![4 => any::<Index>().prop_map(Target::Existing), 1 => Just(Target::Unknown)],
            name.clone(),
        )
            .prop_map(|(who, target, name)| Op::Read { who, target, name }),
        2 => (who(), name.clone()).prop_map(|(who, name)| Op::ReadAll { who, name }),
        2 => (who(), any::<bool>(), name)
            .prop_map(|(who, helmet, name)| Op::AskAbout { who, helmet, name }),
        3 => who().prop_map(|who| Op::TypingStart { who }),
        3 => (
            who(),
            prop_oneof![
                Just(TypingStopReason::Stopped),
                Just(TypingStopReason::Expired),
                Just(TypingStopReason::MessageSent),
            ],
        )
            .prop_map(|(who, reason)| Op::TypingStop { who, reason }),
        3 => (0..2u8, 0..3u8, proptest::sample::select(SupportView::ALL.to_vec()))
            .prop_map(|(operator, reason, view)| Op::SupportAccess { operator, reason, view }),
    ]
}

/// Ops, each with the milliseconds since the previous one (at least 1; now
/// and then up to 20 minutes, so support accesses both repeat within the
/// window and outlive it).
fn history() -> impl Strategy<Value = Vec<(Op, i64)>> {
    let gap = prop_oneof![19 => 1..5_000i64, 1 => 60_000..1_200_000i64];
    prop::collection::vec((op(), gap), 0..80)
}

const REASONS: [&str; 3] = ["ticket 1", "ticket 2", "fraud report"];

fn operator(i: u8) -> Operator {
    Operator {
        id: UserId::parse(&format!("o-{i}")).unwrap(),
        name: None,
    }
}

fn actor(who: Who, name_index: Option<u8>) -> Actor {
    let mut actor = match who {
        Who::Customer => customer(),
        Who::Vendor => vendor(),
        Who::Outsider(role) => Actor { role, ..outsider() },
        Who::Impostor => Actor {
            role: Role::Vendor,
            ..customer()
        },
    };
    actor.name = name_index.map(|i| name(NAMES[i as usize]));
    actor
}

fn is_participant(who: Who) -> bool {
    matches!(who, Who::Customer | Who::Vendor)
}

/// Turns an op into a command; `step` makes message ids unique.
fn command(op: &Op, step: usize, at: Timestamp, state: &ConversationState) -> Command {
    let message_id = MessageId::from_uuid(Uuid::from_u128(step as u128 + 1));
    let unknown = MessageId::from_uuid(Uuid::from_u128(u128::MAX - step as u128));
    match op {
        Op::Start { by, other_vendor } => Command::StartConversation {
            conversation_id: conversation_id(),
            customer: Participant {
                id: customer().id,
                name: Some(name("Carla")),
            },
            vendor: Participant {
                id: if *other_vendor && state.info.is_some() {
                    outsider().id
                } else {
                    vendor().id
                },
                name: None,
            },
            product: Some(bike()),
            by: *by,
            at,
        },
        Op::Send {
            who,
            client_id,
            product,
            name,
        } => Command::SendMessage {
            by: actor(*who, *name),
            message_id,
            content: if *product {
                MessageContent::Product {
                    product: bike(),
                    caption: None,
                }
            } else {
                MessageContent::Text(text(&format!("message {step}")))
            },
            client_message_id: client_id.map(|k| cid(&format!("k{k}"))),
            at,
        },
        Op::Read { who, target, name } => Command::MarkRead {
            by: actor(*who, *name),
            up_to: match target {
                Target::Existing(i) if !state.messages.is_empty() => {
                    i.get(&state.messages).message_id
                }
                _ => unknown,
            },
            at,
        },
        Op::ReadAll { who, name } => Command::MarkAllRead {
            by: actor(*who, *name),
            at,
        },
        Op::TypingStart { who } => Command::StartTyping {
            by: actor(*who, None),
            at,
        },
        Op::TypingStop { who, reason } => Command::StopTyping {
            by: actor(*who, None),
            reason: *reason,
            at,
        },
        Op::AskAbout { who, helmet, name } => Command::ChangeCurrentProduct {
            by: actor(*who, *name),
            product: if *helmet { helmet_card() } else { bike() },
            at,
        },
        Op::SupportAccess {
            operator: o,
            reason,
            view,
        } => Command::RecordSupportAccess {
            operator: operator(*o),
            reason: SupportReason::parse(REASONS[*reason as usize]).unwrap(),
            view: *view,
            at,
        },
    }
}

/// Checks the outcome a step must have given who acts and the messages, markers
/// and typing flags before it: the error, or how many events and which seq or
/// read marker they carry.
fn check_outcome(
    op: &Op,
    before: &ConversationState,
    command: &Command,
    decided: &Result<Vec<ConversationEvent>, DomainError>,
) -> Result<(), TestCaseError> {
    let started = before.info.is_some();
    if let Op::Start { other_vendor, .. } = op {
        let expected = match (started, other_vendor) {
            (false, _) => Ok(1),
            (true, false) => Ok(0),
            (true, true) => Err(DomainError::ParticipantsMismatch),
        };
        prop_assert_eq!(
            decided.as_ref().map(Vec::len).map_err(Clone::clone),
            expected
        );
        return Ok(());
    }
    if let Command::RecordSupportAccess {
        operator,
        reason,
        view,
        at,
    } = command
    {
        if !started {
            prop_assert_eq!(decided, &Err(DomainError::ConversationNotFound));
            return Ok(());
        }
        // A repeat: the same operator and reason among the last accesses
        // remembered, less than the window before.
        let window = SUPPORT_ACCESS_WINDOW.as_millis() as i64;
        let repeat = before
            .support_accesses
            .iter()
            .rev()
            .take(SUPPORT_ACCESS_MEMORY)
            .find(|a| a.operator.id == operator.id && &a.reason == reason)
            .is_some_and(|a| at.millis() - a.at.millis() < window);
        let events = decided
            .as_ref()
            .map_err(|e| fail(format!("support access: {e:?}")))?;
        if repeat {
            prop_assert!(events.is_empty(), "a repeat recorded {:?}", events);
        } else {
            let [ConversationEvent::SupportAccessed(a)] = events.as_slice() else {
                return Err(fail(format!("expected one access, got {events:?}")));
            };
            prop_assert_eq!(&a.operator, operator);
            prop_assert_eq!(&a.reason, reason);
            prop_assert_eq!(a.view, *view);
        }
        return Ok(());
    }
    let who = match op {
        Op::Send { who, .. }
        | Op::Read { who, .. }
        | Op::ReadAll { who, .. }
        | Op::TypingStart { who }
        | Op::TypingStop { who, .. }
        | Op::AskAbout { who, .. } => *who,
        Op::Start { .. } | Op::SupportAccess { .. } => unreachable!("handled above"),
    };
    if !started {
        prop_assert_eq!(decided, &Err(DomainError::ConversationNotFound));
        return Ok(());
    }
    if !is_participant(who) {
        prop_assert_eq!(decided, &Err(DomainError::NotAParticipant));
        return Ok(());
    }
    let by = command.actor().expect("not a start");
    let side = by.role.index();
    match command {
        Command::SendMessage {
            message_id,
            client_message_id,
            ..
        } => {
            let events = decided.as_ref().map_err(|e| fail(format!("send: {e:?}")))?;
            let retry = client_message_id.as_ref().is_some_and(|k| {
                before
                    .messages
                    .iter()
                    .any(|m| m.sender.role == by.role && m.client_message_id.as_ref() == Some(k))
            });
            if retry {
                prop_assert!(events.is_empty(), "a retry recorded {:?}", events);
            } else {
                prop_assert_eq!(events.len(), 1 + usize::from(before.typing[side]));
                let Some(ConversationEvent::MessageSent(m)) = events.last() else {
                    return Err(fail(format!("no MessageSent in {events:?}")));
                };
                prop_assert_eq!(m.seq, before.messages.len() as u64 + 1);
                prop_assert_eq!(m.message_id, *message_id);
                prop_assert_eq!(m.sender.role, by.role);
                if before.typing[side] {
                    let ConversationEvent::TypingStopped(t) = &events[0] else {
                        return Err(fail(format!("typing not stopped first: {events:?}")));
                    };
                    prop_assert_eq!(t.reason, Some(TypingStopReason::MessageSent));
                    prop_assert_eq!(t.role, by.role);
                }
            }
        }
        Command::MarkRead { up_to, .. } => {
            match before.messages.iter().position(|m| m.message_id == *up_to) {
                None => prop_assert_eq!(decided, &Err(DomainError::MessageNotFound)),
                Some(i) => check_read(before, by.role, i + 1, false, decided)?,
            }
        }
        Command::MarkAllRead { .. } => {
            check_read(before, by.role, before.messages.len(), true, decided)?
        }
        Command::StartTyping { .. } => {
            let n = decided
                .as_ref()
                .map_err(|e| fail(format!("typing: {e:?}")))?
                .len();
            prop_assert_eq!(n, usize::from(!before.typing[side]));
        }
        Command::StopTyping { .. } => {
            let n = decided
                .as_ref()
                .map_err(|e| fail(format!("typing: {e:?}")))?
                .len();
            prop_assert_eq!(n, usize::from(before.typing[side]));
        }
        Command::ChangeCurrentProduct { product, .. } => {
            let events = decided
                .as_ref()
                .map_err(|e| fail(format!("ask about: {e:?}")))?;
            let current = before
                .info
                .as_ref()
                .and_then(|i| i.current_product.as_ref());
            if current.is_some_and(|c| c.id == product.id) {
                prop_assert!(events.is_empty(), "the same product recorded {:?}", events);
            } else {
                let [ConversationEvent::CurrentProductChanged(c)] = events.as_slice() else {
                    return Err(fail(format!("expected one change, got {events:?}")));
                };
                prop_assert_eq!(&c.product, product);
                prop_assert_eq!(c.by.role, by.role);
            }
        }
        Command::StartConversation { .. } | Command::RecordSupportAccess { .. } => {
            unreachable!("handled above")
        }
    }
    Ok(())
}

/// A read by `reader` covering the first `len` messages moves the marker to the
/// other side's last message among them, if that is further; `all` tells a
/// read-all from a read of one message.
fn check_read(
    before: &ConversationState,
    reader: Role,
    len: usize,
    all: bool,
    decided: &Result<Vec<ConversationEvent>, DomainError>,
) -> Result<(), TestCaseError> {
    let events = decided.as_ref().map_err(|e| fail(format!("read: {e:?}")))?;
    let cover = before.messages[..len]
        .iter()
        .rev()
        .find(|m| m.sender.role == reader.other())
        .map_or(0, |m| m.seq);
    if cover > before.read_up_to[reader.index()] {
        let [ConversationEvent::MessageRead(r)] = events.as_slice() else {
            return Err(fail(format!("expected one read, got {events:?}")));
        };
        prop_assert_eq!(r.up_to_seq, cover);
        prop_assert_eq!(r.reader_role, reader);
        prop_assert_eq!(r.all, all);
        prop_assert_eq!(
            Some(r.up_to_message_id),
            before.message(cover).map(|m| m.message_id)
        );
    } else {
        prop_assert!(
            events.is_empty(),
            "a read that moves nothing recorded {:?}",
            events
        );
    }
    Ok(())
}

fn fail(reason: String) -> TestCaseError {
    TestCaseError::fail(reason)
}

/// The invariants that hold after every step.
fn check_invariants(
    before: &ConversationState,
    state: &ConversationState,
    events: &[ConversationEvent],
) -> Result<(), TestCaseError> {
    // Seq runs 1, 2, 3, ... with no gap and no repeat.
    for (i, m) in state.messages.iter().enumerate() {
        prop_assert_eq!(m.seq, i as u64 + 1);
        prop_assert_eq!(state.message_by_id(&m.message_id), Some(m));
    }

    for role in [Role::Customer, Role::Vendor] {
        let marker = state.read_up_to[role.index()];
        // Unread = the other side's messages after the reader's marker.
        let recount = state
            .messages
            .iter()
            .filter(|m| m.sender.role != role && m.seq > marker)
            .count() as u64;
        prop_assert_eq!(state.unread(role), recount, "unread of {}", role);
        prop_assert!(state.unread(role) <= state.messages.len() as u64);
        // Markers only move forward, and rest on a message of the other side.
        prop_assert!(
            marker >= before.read_up_to[role.index()],
            "{} marker moved back",
            role
        );
        if marker > 0 {
            let m = state
                .message(marker)
                .ok_or_else(|| fail(format!("{role} marker {marker} past the end")))?;
            prop_assert_eq!(m.sender.role, role.other());
        }
        // A message is read exactly when its recipient's marker covers it.
        for m in state
            .messages
            .iter()
            .filter(|m| m.sender.role == role.other())
        {
            let read_at = state.read_at(m.seq);
            prop_assert_eq!(
                read_at.is_some(),
                m.seq <= marker,
                "read_at of seq {}",
                m.seq
            );
            if let Some(t) = read_at {
                prop_assert!(t >= m.at, "seq {} read before it was sent", m.seq);
            }
        }
        // Typing: whether the side's last typing event was a start.
        let typing = events.iter().rev().find_map(|e| match e {
            ConversationEvent::TypingStarted(t) if t.role == role => Some(true),
            ConversationEvent::TypingStopped(t) if t.role == role => Some(false),
            _ => None,
        });
        prop_assert_eq!(
            state.typing[role.index()],
            typing.unwrap_or(false),
            "typing of {}",
            role
        );
        // Display names: the last one recorded for the side.
        if let Some(info) = &state.info {
            prop_assert_eq!(&info.participant(role).name, &last_name(events, role));
        }
    }

    // A (role, clientMessageId) pair never yields two messages.
    let mut seen: HashSet<(Role, &ClientMessageId)> = HashSet::new();
    for m in &state.messages {
        if let Some(k) = &m.client_message_id {
            prop_assert!(
                seen.insert((m.sender.role, k)),
                "two messages for {:?}",
                (m.sender.role, k)
            );
            prop_assert_eq!(state.message_by_client_id(m.sender.role, k), Some(m));
        }
    }

    // Support accesses: every one recorded is kept, in order; no two of the
    // same operator and reason less than the window apart (among the
    // accesses remembered); and they change nothing else.
    let recorded: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ConversationEvent::SupportAccessed(a) => Some(a),
            _ => None,
        })
        .collect();
    prop_assert_eq!(state.support_accesses.iter().collect::<Vec<_>>(), recorded);
    let window = SUPPORT_ACCESS_WINDOW.as_millis() as i64;
    for (i, a) in state.support_accesses.iter().enumerate() {
        let remembered = i.saturating_sub(SUPPORT_ACCESS_MEMORY)..i;
        for b in &state.support_accesses[remembered] {
            prop_assert!(
                !(a.operator.id == b.operator.id
                    && a.reason == b.reason
                    && a.at.millis() - b.at.millis() < window),
                "{:?} repeats {:?}",
                a,
                b
            );
        }
    }
    if state.support_accesses.len() > before.support_accesses.len() {
        prop_assert_eq!(&state.messages, &before.messages);
        prop_assert_eq!(state.read_up_to, before.read_up_to);
        prop_assert_eq!(state.typing, before.typing);
        prop_assert_eq!(&state.info, &before.info);
    }

    // The state is exactly the fold of the recorded events.
    prop_assert_eq!(state.events_applied, events.len() as u64);
    prop_assert_eq!(&ConversationState::from_events(events), state);
    Ok(())
}

/// The last display name the events record for `role`'s participant.
fn last_name(events: &[ConversationEvent], role: Role) -> Option<DisplayName> {
    let mut name = None;
    for e in events {
        let recorded = match e {
            ConversationEvent::ConversationStarted(s) => Some(
                match role {
                    Role::Customer => &s.customer,
                    Role::Vendor => &s.vendor,
                }
                .name
                .clone(),
            ),
            ConversationEvent::MessageSent(m) if m.sender.role == role => {
                m.sender_name.clone().map(Some)
            }
            ConversationEvent::MessageRead(r) if r.reader_role == role => {
                r.reader_name.clone().map(Some)
            }
            ConversationEvent::CurrentProductChanged(c) if c.by.role == role => {
                c.by_name.clone().map(Some)
            }
            _ => None,
        };
        if let Some(n) = recorded {
            name = n;
        }
    }
    name
}

/// The compact state agrees with the full one on everything it keeps.
fn check_compact(state: &ConversationState, compact: &CompactState) -> Result<(), TestCaseError> {
    prop_assert_eq!(&compact.info, &state.info);
    prop_assert_eq!(compact.read_up_to, state.read_up_to);
    prop_assert_eq!(compact.typing, state.typing);
    prop_assert_eq!(compact.last_seq(), state.messages.len() as u64);
    for o in 0..2 {
        for reason in REASONS {
            let (id, reason) = (operator(o).id, SupportReason::parse(reason).unwrap());
            prop_assert_eq!(
                Facts::last_support_access(compact, &id, &reason),
                Facts::last_support_access(state, &id, &reason)
            );
        }
    }
    for role in [Role::Customer, Role::Vendor] {
        prop_assert_eq!(
            compact.unread(role),
            state.unread(role),
            "unread of {}",
            role
        );
        prop_assert_eq!(compact.last_read_at(role), state.last_read_at(role));
        for max in 0..=state.messages.len() as u64 + 1 {
            prop_assert_eq!(
                Facts::last_message_from(compact, role, max),
                Facts::last_message_from(state, role, max)
            );
        }
    }
    for m in &state.messages {
        prop_assert_eq!(compact.message_id(m.seq), Some(m.message_id));
        prop_assert_eq!(compact.sender_role(m.seq), Some(m.sender.role));
        prop_assert_eq!(compact.seq_of(&m.message_id), Some(m.seq));
    }
    Ok(())
}

/// Runs a history; returns the events recorded and the final state.
fn run(
    history: &[(Op, i64)],
) -> Result<(Vec<ConversationEvent>, ConversationState), TestCaseError> {
    let mut state = ConversationState::default();
    // What an actor keeps: it must decide exactly as the full state does.
    let mut compact = CompactState::default();
    let mut events: Vec<ConversationEvent> = Vec::new();
    let mut millis = BASE_MILLIS;
    for (step, (op, gap)) in history.iter().enumerate() {
        millis += gap;
        let at = Timestamp::from_millis(millis);
        let command = command(op, step, at, &state);
        let decided = decide(&state, &command);
        prop_assert_eq!(
            &decide(&compact, &command),
            &decided,
            "the compact state decides {:?} as the full one",
            &command
        );
        check_outcome(op, &state, &command, &decided)?;
        let new = decided.unwrap_or_default();
        for e in &new {
            prop_assert_eq!(e.at(), at, "events carry the command's time");
        }
        let before = state.clone();
        state = new.iter().fold(state, evolve);
        for e in &new {
            compact.apply(e);
        }
        events.extend(new);
        check_invariants(&before, &state, &events)?;
        check_compact(&state, &compact)?;
    }
    Ok((events, state))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_step_keeps_the_invariants(history in history()) {
        run(&history)?;
    }

    #[test]
    fn the_recorded_events_survive_the_log_and_replay_to_the_same_state(history in history()) {
        let (events, state) = run(&history)?;
        let stored: Vec<_> = events
            .iter()
            .map(|e| (e.event_type(), e.version(), e.to_json()))
            .collect();
        let decoded = stored
            .iter()
            .map(|(t, v, json)| ConversationEvent::decode(t, *v, json))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fail(format!("decode: {e}")))?;
        prop_assert_eq!(&decoded, &events);
        prop_assert_eq!(ConversationState::from_events(&decoded), state);
    }

    #[test]
    fn deciding_again_on_the_resulting_state_is_idempotent_for_retries(history in history()) {
        // Replaying every send with a client id on the final state records
        // nothing: the retry of any earlier message is recognised.
        let (_, state) = run(&history)?;
        for m in &state.messages {
            let Some(k) = &m.client_message_id else { continue };
            let by = Actor {
                id: m.sender.id.clone(),
                role: m.sender.role,
                name: None,
            };
            let retry = Command::SendMessage {
                by,
                message_id: MessageId::from_uuid(Uuid::from_u128(u128::MAX / 2)),
                content: MessageContent::Text(text("again")),
                client_message_id: Some(k.clone()),
                at: Timestamp::from_millis(BASE_MILLIS),
            };
            prop_assert_eq!(decide(&state, &retry), Ok(vec![]));
        }
    }
}
