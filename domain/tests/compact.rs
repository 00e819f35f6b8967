//! What an actor keeps of a conversation: windows of the last messages' ids
//! and sides and of the last client ids, whatever the history's length, and
//! what it looks up in the log for a read of an older message.

mod support;

use souk_domain::{
    decide, evolve, Command, CompactState, ConversationEvent, ConversationState, DomainError,
    Facts, Role, IDEMPOTENCY_WINDOW,
};
use support::{customer, read, send, start, vendor};

/// Applies what `command` decides to `state`; returns how many events.
fn run(state: &mut CompactState, command: &souk_domain::Command) -> usize {
    let events = decide(&*state, command).expect("decided");
    for e in &events {
        state.apply(e);
    }
    events.len()
}

/// Decides `command` as an actor does: recalls from `log` (every message so
/// far, newest first) what the state's window lacks, decides, applies, trims.
/// Returns the events.
fn act(
    state: &mut CompactState,
    log: &ConversationState,
    command: &Command,
) -> Result<Vec<ConversationEvent>, DomainError> {
    if let Some(mut recall) = state.recall_for([command]) {
        for m in log.messages.iter().rev() {
            if recall.see(m.seq, m.message_id, m.sender.role) {
                break;
            }
        }
        state.remember(recall);
    }
    let events = decide(&*state, command);
    for e in events.iter().flatten() {
        state.apply(e);
    }
    state.trim();
    events
}

#[test]
fn an_actor_s_memory_is_the_same_after_1000_and_after_20000_long_messages() {
    let mut state = CompactState::default();
    let mut log = ConversationState::default();
    let mut step = |state: &mut CompactState, command: &Command| {
        let events = act(state, &log, command).expect("decided");
        log = events.iter().fold(std::mem::take(&mut log), evolve);
        events.len()
    };
    step(&mut state, &start(0));
    let long = "a long message about a bicycle, its frame, its gears. ".repeat(70);
    assert!(long.len() > 3_500);
    let (c, v) = (customer(), vendor());
    let mut sizes = Vec::new();
    for n in 1..=20_000u128 {
        let by = if n % 2 == 0 { &c } else { &v };
        let client_id = format!("tab-{n}");
        step(&mut state, &send(by, n, &long, Some(&client_id), n as i64));
        if n % 10 == 0 {
            // Reads come and go too.
            step(&mut state, &read(&c, n - 1, n as i64));
        }
        if n == 1_000 || n == 20_000 {
            sizes.push(state.heap_bytes());
        }
    }
    assert_eq!(state.last_seq(), 20_000);
    // Windows of the last 1,000 messages and client ids, full at 1,000
    // messages: nothing more after 19,000 more (the text alone is 76 MB).
    assert!(sizes[1] <= sizes[0] + 64, "{sizes:?}");
    assert!(sizes[1] < 64 * 1024, "{sizes:?}");
    assert_eq!(state.unread(Role::Customer), log.unread(Role::Customer));
    assert_eq!(state.unread(Role::Customer), 0);
    assert_eq!(state.unread(Role::Vendor), 10_000);

    // An old message read, its id long out of the window: looked up, and
    // the marker and unread count move as on the full state.
    let old = read(&v, 4, 20_001);
    assert_eq!(decide(&log, &old).unwrap().len(), 1);
    let events = act(&mut state, &log, &old).unwrap();
    assert_eq!(events, decide(&log, &old).unwrap());
    log = events.iter().fold(log, evolve);
    assert_eq!(state.read_up_to, log.read_up_to);
    assert_eq!(state.unread(Role::Vendor), log.unread(Role::Vendor));
    assert_eq!(state.unread(Role::Vendor), 9_998);
    assert!(
        state.heap_bytes() <= sizes[0] + 64,
        "the recall is forgotten"
    );

    // An unknown id: not found, as before.
    let unknown = read(&v, 99_999, 20_002);
    assert_eq!(
        act(&mut state, &log, &unknown),
        Err(DomainError::MessageNotFound)
    );
}

#[test]
fn a_retry_is_recognised_within_the_window_and_not_beyond() {
    let mut state = CompactState::default();
    run(&mut state, &start(0));
    let c = customer();
    let first = send(&c, 1, "first", Some("tab-0001"), 1);
    assert_eq!(run(&mut state, &first), 1);
    assert_eq!(run(&mut state, &first), 0, "a retry records nothing");
    for n in 2..=IDEMPOTENCY_WINDOW as u128 {
        run(
            &mut state,
            &send(&c, n, "more", Some(&format!("tab-{n:04}")), n as i64),
        );
    }
    // Exactly the window's worth of client ids since: still recognised.
    assert_eq!(
        state.client_message_seq(c.role, &support::cid("tab-0001")),
        Some(1)
    );
    assert_eq!(run(&mut state, &first), 0);
    // One more pushes it out: a retry that late is a new message.
    let n = IDEMPOTENCY_WINDOW as u128 + 1;
    run(
        &mut state,
        &send(&c, n, "one more", Some("tab-late"), n as i64),
    );
    assert_eq!(
        state.client_message_seq(c.role, &support::cid("tab-0001")),
        None
    );
    assert_eq!(
        run(&mut state, &send(&c, n + 1, "first", Some("tab-0001"), 0)),
        1
    );
}

mod windows {
    //! With a window of a few messages, an actor deciding as it does (recall,
    //! decide, apply, trim) decides every read exactly as the whole history.
    use super::*;
    use proptest::prelude::*;
    use support::read_all;

    #[derive(Clone, Debug)]
    enum Op {
        /// A message from the vendor (true) or the customer.
        Send(bool),
        /// A read by the vendor (true) or the customer of message `n` (an
        /// existing one, picked by index; or an unknown id).
        Read(bool, prop::sample::Index, bool),
        ReadAll(bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            5 => any::<bool>().prop_map(Op::Send),
            4 => (any::<bool>(), any::<prop::sample::Index>(), prop::bool::weighted(0.1))
                .prop_map(|(v, i, unknown)| Op::Read(v, i, unknown)),
            1 => any::<bool>().prop_map(Op::ReadAll),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_small_window_decides_as_the_whole_history(
            window in 1usize..6,
            ops in prop::collection::vec(op(), 1..80),
        ) {
            let mut compact = CompactState::with_window(window);
            let mut log = ConversationState::default();
            let (c, v) = (customer(), vendor());
            let first = act(&mut compact, &log, &start(0)).unwrap();
            log = first.iter().fold(log, evolve);
            let mut n = 0u128;
            for (step, op) in ops.iter().enumerate() {
                let secs = step as i64 + 1;
                let command = match op {
                    Op::Send(vendor_sends) => {
                        n += 1;
                        send(if *vendor_sends { &v } else { &c }, n, "hi", None, secs)
                    }
                    Op::Read(vendor_reads, pick, unknown) => {
                        let by = if *vendor_reads { &v } else { &c };
                        let target = if *unknown || n == 0 { 1_000_000 } else { pick.index(n as usize) as u128 + 1 };
                        read(by, target, secs)
                    }
                    Op::ReadAll(vendor_reads) => read_all(if *vendor_reads { &v } else { &c }, secs),
                };
                let expected = decide(&log, &command);
                let got = act(&mut compact, &log, &command);
                prop_assert_eq!(&got, &expected, "{:?}", command);
                log = got.unwrap_or_default().iter().fold(log, evolve);
                prop_assert!(compact.is_complete());
                for role in [Role::Customer, Role::Vendor] {
                    prop_assert_eq!(compact.unread(role), log.unread(role), "unread of {}", role);
                    prop_assert_eq!(compact.last_read_at(role), log.last_read_at(role));
                }
                prop_assert_eq!(compact.read_up_to, log.read_up_to);
                prop_assert_eq!(compact.last_seq(), log.messages.len() as u64);
                prop_assert!(compact.first_recent_seq() + window as u64 > compact.last_seq());
            }
        }
    }
}
