//! Property: after any mix of sends and reads by both sides across a few
//! conversations (one user on both sides of different ones), every
//! participant's per-conversation unread count and inbox total equal a
//! recount from the log, at every point a client could look, and so do the
//! figures of every notification.

mod common;

use common::*;
use proptest::prelude::*;
use souk_domain::{ConversationId, Role};
use souk_projections::Projections;

#[derive(Clone, Debug)]
enum Op {
    Send(usize, Role),
    ReadAll(usize, Role),
    /// Read up to the message at this index (modulo the history), if any.
    ReadUpTo(usize, Role, usize),
    Typing(usize, Role, bool),
    /// Wait for the projections and check every figure now.
    Check,
    /// Stop the consumer and start a new one on the same file: the figures
    /// of notifications are then loaded from the read models.
    Restart,
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Customer), Just(Role::Vendor)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..4usize, role()).prop_map(|(c, r)| Op::Send(c, r)),
        2 => (0..4usize, role()).prop_map(|(c, r)| Op::ReadAll(c, r)),
        2 => (0..4usize, role(), any::<usize>()).prop_map(|(c, r, i)| Op::ReadUpTo(c, r, i)),
        1 => (0..4usize, role(), any::<bool>()).prop_map(|(c, r, on)| Op::Typing(c, r, on)),
        1 => Just(Op::Check),
        1 => Just(Op::Restart),
    ]
}

async fn run(ops: Vec<Op>) {
    let mut w = World::new().await;
    let mut rx = w.projections.subscribe();
    let mut notified = Vec::new();
    let conversations: [ConversationId; 4] = [
        w.start(("c-1", None), ("v-1", None), None).await,
        w.start(("c-2", None), ("v-1", None), None).await,
        // "u" is a customer here and a vendor in the next one.
        w.start(("u", None), ("v-1", None), None).await,
        w.start(("c-1", None), ("u", None), None).await,
    ];
    for op in ops {
        match op {
            Op::Send(c, role) => {
                w.send(conversations[c], role, "hello").await;
            }
            Op::ReadAll(c, role) => w.read_all(conversations[c], role).await,
            Op::ReadUpTo(c, role, i) => {
                let id = conversations[c];
                let messages = &w.states[&id].messages;
                if messages.is_empty() {
                    w.read_all(id, role).await;
                } else {
                    let up_to = messages[i % messages.len()].message_id;
                    w.read(id, role, up_to).await;
                }
            }
            Op::Typing(c, role, on) => w.typing(conversations[c], role, on).await,
            Op::Check => assert_unread_matches_the_log(&w).await,
            Op::Restart => {
                w.stop().await;
                while let Ok(n) = rx.try_recv() {
                    notified.push(n);
                }
                w.projections = Projections::open(&w.path()).unwrap();
                rx = w.projections.subscribe();
                w.consumer = Some(w.projections.start(w.store.clone()));
            }
        }
    }
    assert_unread_matches_the_log(&w).await;
    let end = w.sync().await;
    while let Ok(n) = rx.try_recv() {
        notified.push(n);
    }
    let mut last = 0;
    for n in notified {
        check_notification(&w.store, &n);
        assert_eq!(n.position, last + 1);
        last = n.position;
    }
    assert_eq!(last, end);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn unread_counts_always_equal_a_recount_of_the_log(ops in prop::collection::vec(op(), 0..60)) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(run(ops));
    }
}
