//! What an actor keeps of a conversation: bounded by the messages' ids and
//! sides, whatever their text, and a bounded window of client ids.

mod support;

use souk_domain::{decide, CompactState, Facts, IDEMPOTENCY_WINDOW};
use support::{customer, send, start, vendor};

/// Applies what `command` decides to `state`; returns how many events.
fn run(state: &mut CompactState, command: &souk_domain::Command) -> usize {
    let events = decide(&*state, command).expect("decided");
    for e in &events {
        state.apply(e);
    }
    events.len()
}

#[test]
fn twenty_thousand_long_messages_cost_an_actor_under_a_megabyte() {
    let mut state = CompactState::default();
    run(&mut state, &start(0));
    let long = "a long message about a bicycle, its frame, its gears. ".repeat(70);
    assert!(long.len() > 3_500);
    let (c, v) = (customer(), vendor());
    let mut sizes = Vec::new();
    for n in 1..=20_000u128 {
        let by = if n % 2 == 0 { &c } else { &v };
        let client_id = format!("tab-{n}");
        run(&mut state, &send(by, n, &long, Some(&client_id), n as i64));
        if n % 5_000 == 0 {
            sizes.push(state.heap_bytes());
        }
    }
    assert_eq!(state.last_seq(), 20_000);
    // 16 bytes and a bit per message (with a growing vector's slack), plus
    // the window of client ids: under 1 MB, where the messages' text alone
    // is 76 MB.
    let last = *sizes.last().unwrap();
    assert!(last < 1024 * 1024, "{sizes:?}");
    // Past the client-id window, it grows by the ids only.
    let per_message = (sizes[3] - sizes[1]) as f64 / 10_000.0;
    assert!(
        per_message < 40.0,
        "{per_message} bytes per message ({sizes:?})"
    );
    assert_eq!(state.unread(souk_domain::Role::Customer), 10_000);
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
