//! The contract every [`EventStore`] backend passes: one `pub async fn` per
//! case, each taking a fresh store, and [`contract_tests!`](crate::contract_tests)
//! to turn them into one `#[tokio::test]` each in a backend's test file:
//!
//! ```text
//! souk_store::contract_tests!(souk_store::MemoryStore::new);
//! ```
//!
//! The argument is anything callable as `make() -> S` with
//! `S: EventStore + Clone`; it is called once per case. The calling crate
//! needs `tokio` (with the `macros` and `rt-multi-thread` features) as a
//! dev-dependency. Most cases run on a current-thread runtime (the shape of
//! actix's arbiters), the concurrency cases on two worker threads.
//!
//! The cases do not need an empty store: each writes streams whose names
//! are unique to the case and the run, and reads of the whole log are taken
//! from the position the case started at and filtered to its own streams.
//! They panic (assert) on a broken contract, like any test.
//!
//! The hash chain's cases are in `chain` (re-exported here).

mod chain;

pub use chain::{
    conflicts_leave_the_chain_intact, hashes_chain_per_stream, verify_walks_the_whole_log,
};

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::StreamExt;

use crate::{
    Direction, EventStore, ExpectedRevision, NewEvent, Position, ReadFrom, RecordedEvent,
    StoreError,
};

/// A stream name no other case or run uses.
fn unique_stream(case: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("contract-{case}-{nanos:x}-{n}")
}

/// An event whose payload names it.
fn event(tag: &str) -> NewEvent {
    NewEvent {
        event_type: "ContractTested".to_owned(),
        version: 1,
        data: serde_json::json!({ "tag": tag }).to_string(),
    }
}

fn events(prefix: &str, n: usize) -> Vec<NewEvent> {
    (0..n).map(|i| event(&format!("{prefix}-{i}"))).collect()
}

fn tag(e: &RecordedEvent) -> String {
    let v: serde_json::Value = serde_json::from_str(&e.data).expect("payload is JSON");
    v["tag"].as_str().expect("payload has a tag").to_owned()
}

fn tags(events: &[RecordedEvent]) -> Vec<String> {
    events.iter().map(tag).collect()
}

fn revisions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.revision).collect()
}

fn assert_conflict(
    result: Result<crate::AppendResult, StoreError>,
    stream: &str,
    expected: ExpectedRevision,
    actual: Option<u64>,
) {
    match result {
        Err(StoreError::WrongExpectedRevision {
            stream: s,
            expected: e,
            actual: a,
        }) => {
            assert_eq!(s, stream, "conflict names the stream");
            assert_eq!(e, expected, "conflict names what was expected");
            assert_eq!(a, actual, "conflict names the actual revision");
        }
        other => panic!("expected a conflict on {stream} (actual {actual:?}), got {other:?}"),
    }
}

async fn read_forwards<S: EventStore>(store: &S, stream: &str) -> Vec<RecordedEvent> {
    store
        .read_stream(stream, ReadFrom::Start, Direction::Forwards, usize::MAX)
        .await
        .expect("read stream")
}

/// Every event after `after` whose stream starts with `prefix`, in position
/// order.
async fn read_mine<S: EventStore>(store: &S, after: Position, prefix: &str) -> Vec<RecordedEvent> {
    let mut out = Vec::new();
    let mut from = after + 1;
    loop {
        let page = store.read_all(from, 1000).await.expect("read all");
        let Some(last) = page.last() else {
            return out;
        };
        from = last.position + 1;
        out.extend(page.into_iter().filter(|e| e.stream.starts_with(prefix)));
    }
}

fn assert_positions_increase(events: &[RecordedEvent]) {
    for pair in events.windows(2) {
        assert!(
            pair[0].position < pair[1].position,
            "positions must strictly increase: {} then {}",
            pair[0].position,
            pair[1].position
        );
    }
}

/// `NoStream` creates a stream at revision 0 and fails once it exists.
pub async fn append_no_stream<S: EventStore>(store: S) {
    let stream = unique_stream("no-stream");
    let written = store
        .append(&stream, ExpectedRevision::NoStream, events("a", 3))
        .await
        .expect("first append");
    assert_eq!(written.next_expected_revision, 2);
    assert!(written.first_position >= 1);
    assert!(written.first_position < written.position);
    let again = store
        .append(&stream, ExpectedRevision::NoStream, events("b", 1))
        .await;
    assert_conflict(again, &stream, ExpectedRevision::NoStream, Some(2));
    assert_eq!(
        tags(&read_forwards(&store, &stream).await),
        ["a-0", "a-1", "a-2"]
    );
}

/// `Any` appends to a new or an existing stream.
pub async fn append_any<S: EventStore>(store: S) {
    let stream = unique_stream("any");
    let first = store
        .append(&stream, ExpectedRevision::Any, events("a", 1))
        .await
        .expect("append any to a new stream");
    assert_eq!(first.next_expected_revision, 0);
    let second = store
        .append(&stream, ExpectedRevision::Any, events("b", 2))
        .await
        .expect("append any to an existing stream");
    assert_eq!(second.next_expected_revision, 2);
    assert!(second.first_position > first.position);
    let read = read_forwards(&store, &stream).await;
    assert_eq!(revisions(&read), [0, 1, 2]);
    assert_eq!(tags(&read), ["a-0", "b-0", "b-1"]);
}

/// `Exact(n)` succeeds only at revision `n`; every conflict reports the
/// stream's actual revision.
pub async fn append_exact_and_conflicts<S: EventStore>(store: S) {
    let stream = unique_stream("exact");
    let on_missing = store
        .append(&stream, ExpectedRevision::Exact(0), events("x", 1))
        .await;
    assert_conflict(on_missing, &stream, ExpectedRevision::Exact(0), None);

    store
        .append(&stream, ExpectedRevision::NoStream, events("a", 2))
        .await
        .expect("create");
    let behind = store
        .append(&stream, ExpectedRevision::Exact(0), events("x", 1))
        .await;
    assert_conflict(behind, &stream, ExpectedRevision::Exact(0), Some(1));
    let ahead = store
        .append(&stream, ExpectedRevision::Exact(5), events("x", 1))
        .await;
    assert_conflict(ahead, &stream, ExpectedRevision::Exact(5), Some(1));

    let written = store
        .append(&stream, ExpectedRevision::Exact(1), events("b", 2))
        .await
        .expect("append at the right revision");
    assert_eq!(written.next_expected_revision, 3);
    store
        .append(
            &stream,
            ExpectedRevision::Exact(written.next_expected_revision),
            events("c", 1),
        )
        .await
        .expect("append at the returned revision");
    let read = read_forwards(&store, &stream).await;
    assert_eq!(tags(&read), ["a-0", "a-1", "b-0", "b-1", "c-0"]);
    assert_eq!(revisions(&read), [0, 1, 2, 3, 4]);
}

/// Empty batches, empty stream names and non-JSON payloads are refused and
/// write nothing.
pub async fn invalid_appends_rejected<S: EventStore>(store: S) {
    let stream = unique_stream("invalid");
    let before = store.last_position().await.expect("last position");
    let empty = store
        .append(&stream, ExpectedRevision::Any, Vec::new())
        .await;
    assert!(
        matches!(empty, Err(StoreError::InvalidAppend(_))),
        "{empty:?}"
    );
    let unnamed = store
        .append("", ExpectedRevision::Any, events("a", 1))
        .await;
    assert!(
        matches!(unnamed, Err(StoreError::InvalidAppend(_))),
        "{unnamed:?}"
    );
    let mut bad = events("a", 2);
    bad[1].data = "{not json".to_owned();
    let not_json = store.append(&stream, ExpectedRevision::Any, bad).await;
    assert!(
        matches!(not_json, Err(StoreError::InvalidAppend(_))),
        "{not_json:?}"
    );
    let mut untyped = events("a", 1);
    untyped[0].event_type.clear();
    let untyped = store.append(&stream, ExpectedRevision::Any, untyped).await;
    assert!(
        matches!(untyped, Err(StoreError::InvalidAppend(_))),
        "{untyped:?}"
    );

    assert!(read_forwards(&store, &stream).await.is_empty());
    assert_eq!(store.last_position().await.expect("last position"), before);
    store
        .append(&stream, ExpectedRevision::NoStream, events("ok", 1))
        .await
        .expect("the stream is still new after refused appends");
}

async fn stream_of_ten<S: EventStore>(store: &S, case: &str) -> String {
    let stream = unique_stream(case);
    // Several appends so the stream is not one batch.
    let mut expected = ExpectedRevision::NoStream;
    for chunk in [3, 4, 3] {
        let start = match expected {
            ExpectedRevision::Exact(r) => r + 1,
            _ => 0,
        };
        let batch = (start..start + chunk)
            .map(|i| event(&format!("e{i}")))
            .collect();
        let written = store
            .append(&stream, expected, batch)
            .await
            .expect("append");
        expected = ExpectedRevision::Exact(written.next_expected_revision);
    }
    stream
}

fn tagged(range: impl IntoIterator<Item = u64>) -> Vec<String> {
    range.into_iter().map(|i| format!("e{i}")).collect()
}

/// Forwards reads: from the start, from a revision, from the end, limited.
pub async fn read_stream_forwards<S: EventStore>(store: S) {
    let stream = stream_of_ten(&store, "forwards").await;
    let read = |from, limit| store.read_stream(&stream, from, Direction::Forwards, limit);

    let all = read(ReadFrom::Start, 100).await.expect("read");
    assert_eq!(tags(&all), tagged(0..10));
    assert_eq!(revisions(&all), (0..10).collect::<Vec<_>>());
    assert_positions_increase(&all);
    assert!(all.iter().all(|e| e.stream == stream));

    assert_eq!(
        tags(&read(ReadFrom::Start, 4).await.expect("read")),
        tagged(0..4)
    );
    assert_eq!(
        tags(&read(ReadFrom::Revision(6), 100).await.expect("read")),
        tagged(6..10)
    );
    assert_eq!(
        tags(&read(ReadFrom::Revision(2), 3).await.expect("read")),
        tagged(2..5)
    );
    assert_eq!(
        tags(&read(ReadFrom::End, 100).await.expect("read")),
        tagged([9])
    );
    assert!(read(ReadFrom::Revision(10), 100)
        .await
        .expect("read")
        .is_empty());
    assert!(read(ReadFrom::Start, 0).await.expect("read").is_empty());
}

/// Backwards reads: from the end, from a revision, from the start, limited.
pub async fn read_stream_backwards<S: EventStore>(store: S) {
    let stream = stream_of_ten(&store, "backwards").await;
    let read = |from, limit| store.read_stream(&stream, from, Direction::Backwards, limit);

    let all = read(ReadFrom::End, 100).await.expect("read");
    assert_eq!(tags(&all), tagged((0..10).rev()));
    assert_eq!(revisions(&all), (0..10).rev().collect::<Vec<_>>());

    assert_eq!(
        tags(&read(ReadFrom::End, 3).await.expect("read")),
        tagged([9, 8, 7])
    );
    assert_eq!(
        tags(&read(ReadFrom::Revision(4), 100).await.expect("read")),
        tagged((0..5).rev())
    );
    assert_eq!(
        tags(&read(ReadFrom::Revision(4), 2).await.expect("read")),
        tagged([4, 3])
    );
    assert_eq!(
        tags(&read(ReadFrom::Start, 100).await.expect("read")),
        tagged([0])
    );
    assert_eq!(
        tags(&read(ReadFrom::Revision(50), 2).await.expect("read")),
        tagged([9, 8]),
        "backwards from past the end starts at the last event"
    );
    assert!(read(ReadFrom::End, 0).await.expect("read").is_empty());
}

/// A stream that was never written reads as empty, whatever the read.
pub async fn missing_stream_reads_empty<S: EventStore>(store: S) {
    let stream = unique_stream("missing");
    for direction in [Direction::Forwards, Direction::Backwards] {
        for from in [ReadFrom::Start, ReadFrom::End, ReadFrom::Revision(3)] {
            let read = store
                .read_stream(&stream, from, direction, 10)
                .await
                .expect("reading a missing stream is not an error");
            assert!(read.is_empty(), "{direction:?} from {from:?}: {read:?}");
        }
    }
}

/// `read_all` from a position, limited, in position order, with the
/// revisions and payloads the appends wrote.
pub async fn read_all_from_position<S: EventStore>(store: S) {
    let base = store.last_position().await.expect("last position");
    let a = unique_stream("all-a");
    let b = unique_stream("all-b");
    let prefix = "contract-all-";
    let first = store
        .append(&a, ExpectedRevision::NoStream, events("a", 2))
        .await
        .expect("append");
    let second = store
        .append(&b, ExpectedRevision::NoStream, events("b", 3))
        .await
        .expect("append");
    let third = store
        .append(&a, ExpectedRevision::Exact(1), events("c", 1))
        .await
        .expect("append");

    let mine: Vec<_> = read_mine(&store, base, prefix)
        .await
        .into_iter()
        .filter(|e| e.stream == a || e.stream == b)
        .collect();
    assert_eq!(tags(&mine), ["a-0", "a-1", "b-0", "b-1", "b-2", "c-0"]);
    assert_positions_increase(&mine);
    assert_eq!(mine[0].position, first.first_position);
    assert_eq!(mine[1].position, first.position);
    assert_eq!(mine[2].position, second.first_position);
    assert_eq!(mine[4].position, second.position);
    assert_eq!(mine[5].position, third.position);

    let from_second = store
        .read_all(second.first_position, 2)
        .await
        .expect("read all");
    assert_eq!(from_second.len(), 2, "the limit is honoured");
    assert_eq!(from_second[0].position, second.first_position);
    assert_eq!(tags(&from_second), ["b-0", "b-1"]);
    let beyond = store
        .read_all(third.position + 1_000_000, 10)
        .await
        .expect("read all past the end");
    assert!(beyond.is_empty());
    assert!(store.read_all(0, 0).await.expect("read all").is_empty());
}

/// Positions strictly increase across the log, revisions run 0, 1, 2, ...
/// in each stream, every field comes back as written, and append results
/// match what is read.
pub async fn positions_and_revisions<S: EventStore>(store: S) {
    let base = store.last_position().await.expect("last position");
    let streams: Vec<String> = (0..3).map(|_| unique_stream("posrev")).collect();
    let mut results = Vec::new();
    for round in 0..4 {
        for (i, stream) in streams.iter().enumerate() {
            let mut batch = events(&format!("r{round}s{i}"), 1 + (round + i) % 3);
            batch[0].version = 7;
            batch[0].event_type = "Special".to_owned();
            let written = store
                .append(stream, ExpectedRevision::Any, batch.clone())
                .await
                .expect("append");
            results.push((stream.clone(), batch, written));
        }
    }
    let log = read_mine(&store, base, "contract-posrev-").await;
    let log: Vec<_> = log
        .into_iter()
        .filter(|e| streams.contains(&e.stream))
        .collect();
    assert_positions_increase(&log);
    let mut next_revision: HashMap<&str, u64> = HashMap::new();
    let mut at = 0;
    for (stream, batch, written) in &results {
        let recorded = &log[at..at + batch.len()];
        at += batch.len();
        let expected_first = *next_revision.get(stream.as_str()).unwrap_or(&0);
        for (k, (new, rec)) in batch.iter().zip(recorded).enumerate() {
            assert_eq!(&rec.stream, stream);
            assert_eq!(rec.revision, expected_first + k as u64);
            assert_eq!(rec.event_type, new.event_type);
            assert_eq!(rec.version, new.version);
            assert_eq!(rec.data, new.data);
            assert_eq!(rec.recorded_at, written.recorded_at);
        }
        assert_eq!(recorded[0].position, written.first_position);
        assert_eq!(recorded[batch.len() - 1].position, written.position);
        assert_eq!(
            written.next_expected_revision,
            expected_first + batch.len() as u64 - 1
        );
        next_revision.insert(stream, written.next_expected_revision + 1);
    }
    assert_eq!(at, log.len(), "nothing but what was appended");
}

/// Payloads come back byte for byte: unicode, escapes, nesting, size.
pub async fn payloads_round_trip<S: EventStore>(store: S) {
    let stream = unique_stream("payload");
    let big = "x".repeat(200_000);
    let payloads = [
        r#"{"text":"مرحبا 👋 \"quoted\" \\ back\nslash","n":-1.5e3}"#.to_owned(),
        r#"{ "spaced" : [ 1 , 2 , { "deep" : null } ] }"#.to_owned(),
        format!(r#"{{"big":"{big}"}}"#),
        "[]".to_owned(),
    ];
    let batch: Vec<NewEvent> = payloads
        .iter()
        .map(|data| NewEvent {
            event_type: "Payload".to_owned(),
            version: 3,
            data: data.clone(),
        })
        .collect();
    store
        .append(&stream, ExpectedRevision::NoStream, batch)
        .await
        .expect("append");
    let read = read_forwards(&store, &stream).await;
    let datas: Vec<_> = read.iter().map(|e| e.data.clone()).collect();
    assert_eq!(datas, payloads);
}

/// `last_position` is the position of the last append.
pub async fn last_position_tracks_appends<S: EventStore>(store: S) {
    let stream = unique_stream("last");
    let before = store.last_position().await.expect("last position");
    let written = store
        .append(&stream, ExpectedRevision::NoStream, events("a", 3))
        .await
        .expect("append");
    assert!(written.position > before);
    assert_eq!(
        store.last_position().await.expect("last position"),
        written.position
    );
    let more = store
        .append(&stream, ExpectedRevision::Exact(2), events("b", 1))
        .await
        .expect("append");
    assert_eq!(
        store.last_position().await.expect("last position"),
        more.position
    );
}

/// Appends `appends` batches of 1 to 3 events over `streams` streams named
/// with `prefix`, from `tasks` concurrent tasks; returns how many events.
async fn append_concurrently<S: EventStore + Clone>(
    store: &S,
    prefix: &str,
    streams: usize,
    tasks: usize,
    appends: usize,
) -> usize {
    let names: Vec<String> = (0..streams).map(|_| unique_stream(prefix)).collect();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = store.clone();
        let names = names.clone();
        handles.push(tokio::spawn(async move {
            let mut written = 0;
            for i in 0..appends {
                let n = 1 + (t + i) % 3;
                let stream = &names[(t + i) % names.len()];
                store
                    .append(
                        stream,
                        ExpectedRevision::Any,
                        events(&format!("t{t}i{i}"), n),
                    )
                    .await
                    .expect("append");
                written += n;
            }
            written
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.expect("appender task");
    }
    total
}

async fn take_mine(
    sub: &mut crate::Subscription,
    prefix: &str,
    count: usize,
) -> Vec<RecordedEvent> {
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let event = sub
            .next()
            .await
            .expect("the subscription does not end while the store is open")
            .expect("the subscription does not fail");
        if event.stream.starts_with(prefix) {
            out.push(event);
        }
    }
    out
}

/// A subscription from before existing events sees them, then every event
/// appended concurrently while it runs: in position order, no gap, no
/// repeat.
pub async fn subscribe_from_start<S: EventStore + Clone>(store: S) {
    let base = store.last_position().await.expect("last position");
    let prefix = "contract-substart-";
    let before = append_concurrently(&store, "substart", 2, 1, 5).await;
    let mut sub = store.subscribe_all(base);
    let writer = {
        let store = store.clone();
        tokio::spawn(async move { append_concurrently(&store, "substart", 4, 4, 40).await })
    };
    let first = take_mine(&mut sub, prefix, before).await;
    let during = writer.await.expect("writer");
    let rest = take_mine(&mut sub, prefix, during).await;
    let seen: Vec<_> = first.into_iter().chain(rest).collect();
    assert_positions_increase(&seen);
    assert_eq!(seen, read_mine(&store, base, prefix).await);
}

/// A subscription from a position in the middle starts right after it.
pub async fn subscribe_from_middle<S: EventStore + Clone>(store: S) {
    let stream = unique_stream("submid");
    let mut positions = Vec::new();
    for i in 0..6 {
        let expected = if i == 0 {
            ExpectedRevision::NoStream
        } else {
            ExpectedRevision::Exact(i - 1)
        };
        let written = store
            .append(&stream, expected, vec![event(&format!("e{i}"))])
            .await
            .expect("append");
        positions.push(written.position);
    }
    let mut sub = store.subscribe_all(positions[2]);
    let caught_up = take_mine(&mut sub, &stream, 3).await;
    assert_eq!(tags(&caught_up), ["e3", "e4", "e5"]);
    assert_eq!(caught_up[0].position, positions[3]);

    let writer = {
        let store = store.clone();
        let stream = stream.clone();
        tokio::spawn(async move {
            for i in 6..30 {
                store
                    .append(
                        &stream,
                        ExpectedRevision::Exact(i - 1),
                        vec![event(&format!("e{i}"))],
                    )
                    .await
                    .expect("append");
            }
        })
    };
    let live = take_mine(&mut sub, &stream, 24).await;
    writer.await.expect("writer");
    assert_eq!(tags(&live), tagged(6..30));
    assert_positions_increase(&live);
}

/// A subscriber that does not read while many appends happen still gets
/// every event once, in order, when it reads again.
pub async fn slow_subscriber_catches_up<S: EventStore + Clone>(store: S) {
    let base = store.last_position().await.expect("last position");
    let prefix = "contract-slow-";
    let mut sub = store.subscribe_all(base);
    let first = append_concurrently(&store, "slow", 3, 1, 2).await;
    let head = take_mine(&mut sub, prefix, first).await;
    // Now live; stop reading while far more batches than any live buffer
    // holds are appended.
    let more = append_concurrently(&store, "slow", 8, 16, 80).await;
    let tail = take_mine(&mut sub, prefix, more).await;
    let seen: Vec<_> = head.into_iter().chain(tail).collect();
    assert_positions_increase(&seen);
    assert_eq!(seen, read_mine(&store, base, prefix).await);
}

/// Dropping a subscription (caught up or not) leaves the store working.
pub async fn dropped_subscription<S: EventStore + Clone>(store: S) {
    let stream = unique_stream("dropsub");
    store
        .append(&stream, ExpectedRevision::NoStream, events("a", 2))
        .await
        .expect("append");
    let mut sub = store.subscribe_all(0);
    sub.next().await.expect("an event").expect("no error");
    drop(sub);
    let never_polled = store.subscribe_all(0);
    drop(never_polled);
    store
        .append(&stream, ExpectedRevision::Exact(1), events("b", 1))
        .await
        .expect("append after the subscriptions are gone");
    let mut sub = store.subscribe_all(0);
    let mine = take_mine(&mut sub, &stream, 3).await;
    assert_eq!(tags(&mine), ["a-0", "a-1", "b-0"]);
}

/// Many appenders racing for each revision of one stream with `Exact`:
/// exactly one wins each revision, the others get a conflict naming it.
pub async fn racing_exact_appenders<S: EventStore + Clone>(store: S) {
    let stream = unique_stream("race");
    let racers = 8;
    for revision in 0..12u64 {
        let expected = match revision {
            0 => ExpectedRevision::NoStream,
            r => ExpectedRevision::Exact(r - 1),
        };
        let mut handles = Vec::new();
        for t in 0..racers {
            let store = store.clone();
            let stream = stream.clone();
            handles.push(tokio::spawn(async move {
                let result = store
                    .append(&stream, expected, vec![event(&format!("r{revision}t{t}"))])
                    .await;
                (t, result)
            }));
        }
        let mut winners = Vec::new();
        for h in handles {
            let (t, result) = h.await.expect("racer");
            match result {
                Ok(written) => {
                    assert_eq!(written.next_expected_revision, revision);
                    winners.push(t);
                }
                Err(err) => assert_conflict(Err(err), &stream, expected, Some(revision)),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "exactly one winner for revision {revision}"
        );
        let read = store
            .read_stream(
                &stream,
                ReadFrom::Revision(revision),
                Direction::Forwards,
                10,
            )
            .await
            .expect("read");
        assert_eq!(tags(&read), [format!("r{revision}t{}", winners[0])]);
    }
}

/// Concurrent appenders that reload and retry on conflict (as the actors
/// do) over a few streams: every success gets its own revision, nothing is
/// lost, revisions are 0, 1, 2, ... in each stream.
pub async fn retrying_appenders<S: EventStore + Clone>(store: S) {
    let streams: Vec<String> = (0..2).map(|_| unique_stream("retry")).collect();
    let tasks = 8;
    let per_task = 15;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = store.clone();
        let streams = streams.clone();
        handles.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for i in 0..per_task {
                let stream = &streams[(t + i) % streams.len()];
                let last = store
                    .read_stream(stream, ReadFrom::End, Direction::Backwards, 1)
                    .await
                    .expect("read head");
                let mut expected = last.first().map_or(ExpectedRevision::NoStream, |e| {
                    ExpectedRevision::Exact(e.revision)
                });
                let tag = format!("t{t}i{i}");
                loop {
                    match store.append(stream, expected, vec![event(&tag)]).await {
                        Ok(written) => {
                            won.push((stream.clone(), written.next_expected_revision, tag));
                            break;
                        }
                        Err(StoreError::WrongExpectedRevision { actual, .. }) => {
                            expected =
                                actual.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
                        }
                        Err(other) => panic!("append failed: {other}"),
                    }
                }
            }
            won
        }));
    }
    let mut claimed = BTreeSet::new();
    let mut wins = Vec::new();
    for h in handles {
        for (stream, revision, tag) in h.await.expect("appender") {
            assert!(
                claimed.insert((stream.clone(), revision)),
                "{stream}@{revision} won twice"
            );
            wins.push((stream, revision, tag));
        }
    }
    assert_eq!(wins.len(), tasks * per_task);
    let mut total = 0;
    for stream in &streams {
        let read = read_forwards(&store, stream).await;
        assert_eq!(revisions(&read), (0..read.len() as u64).collect::<Vec<_>>());
        for (s, revision, tag) in &wins {
            if s == stream {
                assert_eq!(&tag_at(&read, *revision), tag);
            }
        }
        total += read.len();
    }
    assert_eq!(total, tasks * per_task);
}

fn tag_at(read: &[RecordedEvent], revision: u64) -> String {
    tag(&read[revision as usize])
}

/// A multi-event append is all or nothing: concurrent batches on one stream
/// never interleave, and a refused batch writes none of its events.
pub async fn multi_event_appends_are_atomic<S: EventStore + Clone>(store: S) {
    let stream = unique_stream("atomic");
    let tasks = 6;
    let batches = 8;
    let size = 5;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = store.clone();
        let stream = stream.clone();
        handles.push(tokio::spawn(async move {
            for b in 0..batches {
                let written = store
                    .append(
                        &stream,
                        ExpectedRevision::Any,
                        events(&format!("t{t}b{b}"), size),
                    )
                    .await
                    .expect("append");
                assert_eq!(
                    (written.next_expected_revision + 1) % size as u64,
                    0,
                    "a batch ends on a batch boundary"
                );
            }
        }));
    }
    for h in handles {
        h.await.expect("appender");
    }
    let read = read_forwards(&store, &stream).await;
    assert_eq!(read.len(), tasks * batches * size);
    assert_positions_increase(&read);
    for chunk in read.chunks(size) {
        let tags = tags(chunk);
        let batch = tags[0].rsplit_once('-').expect("tag").0.to_owned();
        let expected: Vec<_> = (0..size).map(|k| format!("{batch}-{k}")).collect();
        assert_eq!(tags, expected, "one batch, whole and in order");
        assert!(chunk.iter().all(|e| e.recorded_at == chunk[0].recorded_at));
    }

    let head = read.len() as u64 - 1;
    let refused = store
        .append(
            &stream,
            ExpectedRevision::Exact(head - 1),
            events("refused", 4),
        )
        .await;
    assert_conflict(
        refused,
        &stream,
        ExpectedRevision::Exact(head - 1),
        Some(head),
    );
    assert_eq!(read_forwards(&store, &stream).await.len(), read.len());
}

/// Runs every case, each on a fresh store from `make`. Prefer
/// [`contract_tests!`](crate::contract_tests), which reports cases
/// separately; this is for a runtime the caller already built.
pub async fn run_all<S: EventStore + Clone>(make: impl Fn() -> S) {
    append_no_stream(make()).await;
    append_any(make()).await;
    append_exact_and_conflicts(make()).await;
    invalid_appends_rejected(make()).await;
    read_stream_forwards(make()).await;
    read_stream_backwards(make()).await;
    missing_stream_reads_empty(make()).await;
    read_all_from_position(make()).await;
    positions_and_revisions(make()).await;
    payloads_round_trip(make()).await;
    last_position_tracks_appends(make()).await;
    subscribe_from_start(make()).await;
    subscribe_from_middle(make()).await;
    slow_subscriber_catches_up(make()).await;
    dropped_subscription(make()).await;
    racing_exact_appenders(make()).await;
    retrying_appenders(make()).await;
    multi_event_appends_are_atomic(make()).await;
    hashes_chain_per_stream(make()).await;
    conflicts_leave_the_chain_intact(make()).await;
    verify_walks_the_whole_log(make()).await;
}

/// One `#[tokio::test]` per contract case, each on a fresh store from
/// `$make` (called as `($make)()`). Invoke it once per backend, in its own
/// module if a file tests several.
#[macro_export]
macro_rules! contract_tests {
    ($make:expr) => {
        $crate::contract_tests!(@cases $make;
            current_thread: append_no_stream, append_any, append_exact_and_conflicts,
                invalid_appends_rejected, read_stream_forwards, read_stream_backwards,
                missing_stream_reads_empty, read_all_from_position, positions_and_revisions,
                payloads_round_trip, last_position_tracks_appends, subscribe_from_middle,
                dropped_subscription, hashes_chain_per_stream, verify_walks_the_whole_log;
            multi_thread: subscribe_from_start, slow_subscriber_catches_up,
                racing_exact_appenders, retrying_appenders, multi_event_appends_are_atomic,
                conflicts_leave_the_chain_intact;
        );
    };
    (@cases $make:expr;
        current_thread: $($single:ident),* ;
        multi_thread: $($multi:ident),* ;
    ) => {
        $(
            #[::tokio::test]
            async fn $single() {
                $crate::contract::within_a_minute($crate::contract::$single(($make)())).await;
            }
        )*
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $multi() {
                $crate::contract::within_a_minute($crate::contract::$multi(($make)())).await;
            }
        )*
    };
}

/// Runs a case, failing it instead of hanging if it takes over a minute
/// (a subscription that never delivers, a writer that never answers).
pub async fn within_a_minute(case: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(std::time::Duration::from_secs(60), case)
        .await
        .expect("the contract case took over a minute");
}
