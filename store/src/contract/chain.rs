//! The contract's cases on the hash chain (see [`crate::chain`]): every
//! backend hashes what it appends the same way, chains each stream from
//! [`EventHash::GENESIS`], answers and delivers the hashes it stored, and
//! never lets a conflicting append break a chain.

use futures::StreamExt;

use super::{assert_conflict, events, read_forwards, read_mine, take_mine, unique_stream};
use crate::chain::{self, EventHash};
use crate::{EventStore, ExpectedRevision, RecordedEvent, StoreError};

/// Asserts that `read`, a whole stream, chains from GENESIS.
fn assert_chained(read: &[RecordedEvent]) {
    assert!(!read.is_empty());
    let first = &read[0];
    assert_eq!(first.revision, 0);
    assert_eq!(
        first.hash,
        chain::link(
            &EventHash::GENESIS,
            &first.stream,
            0,
            &first.event_type,
            first.version,
            &first.data,
            &first.recorded_at
        ),
        "the first event of a stream chains to 32 zero bytes"
    );
    assert_eq!(
        chain::check(EventHash::GENESIS, read),
        Ok(read.last().expect("not empty").hash),
        "each event chains to its stream's previous one"
    );
}

/// Hashes chain per stream (interleaved streams, multi-event appends); the
/// append answers the hashes it stored; stream reads, log reads and live
/// subscriptions carry the same ones; `verify` finds the stream intact.
pub async fn hashes_chain_per_stream<S: EventStore>(store: S) {
    let base = store.last_position().await.expect("last position");
    let prefix = "contract-chain-";
    let (a, b) = (unique_stream("chain"), unique_stream("chain"));
    let mut sub = store.subscribe_all(base);
    let mut answered = Vec::new();
    for round in 0..4u64 {
        for stream in [&a, &b] {
            let expected = match round {
                0 => ExpectedRevision::NoStream,
                r => ExpectedRevision::Exact(r * 2 - 1),
            };
            let written = store
                .append(stream, expected, events(&format!("r{round}"), 2))
                .await
                .expect("append");
            assert_eq!(written.hashes.len(), 2, "one hash per event appended");
            answered.extend(written.hashes);
        }
    }
    let live = take_mine(&mut sub, prefix, 16).await;
    let logged = read_mine(&store, base, prefix).await;
    let read_a = read_forwards(&store, &a).await;
    let read_b = read_forwards(&store, &b).await;
    assert_chained(&read_a);
    assert_chained(&read_b);
    assert_ne!(read_a[0].hash, read_b[0].hash, "the stream name is hashed");
    let hashes = |events: &[RecordedEvent]| events.iter().map(|e| e.hash).collect::<Vec<_>>();
    assert_eq!(
        hashes(&logged),
        answered,
        "appends answer the stored hashes"
    );
    assert_eq!(hashes(&live), answered, "subscriptions deliver them");
    let mut by_stream = read_a.clone();
    by_stream.extend(read_b.iter().cloned());
    by_stream.sort_by_key(|e| e.position);
    assert_eq!(by_stream, logged, "stream reads and log reads agree");

    let report = chain::verify(&store, Some(&a), |_| {})
        .await
        .expect("verify");
    assert_eq!((report.events_checked, report.streams), (8, 1));
    assert!(report.is_intact(), "{report:?}");
}

/// Conflicting appends, alone and in the same group as the winning one
/// (appenders racing on one stream with exact revisions), leave the chain
/// intact: the winner chains to the real predecessor, the loser writes
/// nothing.
pub async fn conflicts_leave_the_chain_intact<S: EventStore + Clone>(store: S) {
    let stream = unique_stream("chainrace");
    let mut head = store
        .append(&stream, ExpectedRevision::NoStream, events("start", 1))
        .await
        .expect("first append")
        .next_expected_revision;
    for round in 0..20 {
        let racers: Vec<_> = (0..3)
            .map(|k| {
                let (store, stream) = (store.clone(), stream.clone());
                tokio::spawn(async move {
                    store
                        .append(
                            &stream,
                            ExpectedRevision::Exact(head),
                            events(&format!("r{round}k{k}"), 1 + k),
                        )
                        .await
                })
            })
            .collect();
        let mut winners = Vec::new();
        for racer in racers {
            match racer.await.expect("racer") {
                Ok(written) => winners.push(written.next_expected_revision),
                Err(StoreError::WrongExpectedRevision { .. }) => {}
                Err(other) => panic!("round {round}: {other}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: one winner");
        let late = store
            .append(&stream, ExpectedRevision::Exact(head), events("late", 1))
            .await;
        assert_conflict(
            late,
            &stream,
            ExpectedRevision::Exact(head),
            Some(winners[0]),
        );
        head = winners[0];
    }
    let read = read_forwards(&store, &stream).await;
    assert_eq!(read.len() as u64, head + 1);
    assert_chained(&read);
    let report = chain::verify(&store, Some(&stream), |_| {})
        .await
        .expect("verify");
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events_checked, read.len() as u64);
}

/// `verify` over the whole log walks it in position order, across streams,
/// and finds it intact (whatever other cases wrote: each of their streams
/// chains too), reporting progress as it goes.
pub async fn verify_walks_the_whole_log<S: EventStore>(store: S) {
    let streams: Vec<String> = (0..3).map(|_| unique_stream("chainall")).collect();
    for round in 0..3 {
        for stream in &streams {
            store
                .append(
                    stream,
                    ExpectedRevision::Any,
                    events(&format!("r{round}"), 2),
                )
                .await
                .expect("append");
        }
    }
    let last = store.last_position().await.expect("last position");
    let mut seen = Vec::new();
    let report = chain::verify(&store, None, |p| seen.push(p))
        .await
        .expect("verify");
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.upgrade, None, "every event was hashed as appended");
    assert_eq!(report.events_checked, last, "every event of the log");
    assert_eq!(report.last_position, last);
    assert!(report.streams >= 3);
    let done = seen.last().expect("progress reported");
    assert_eq!(
        (done.events, done.position, done.last_position),
        (last, last, last)
    );
    let mut sub = store.subscribe_all(0);
    // The subscription's events carry the same hashes as the log's.
    let first = sub.next().await.expect("an event").expect("no error");
    let read = store.read_all(first.position, 1).await.expect("read all");
    assert_eq!(read[0].hash, first.hash);
}
