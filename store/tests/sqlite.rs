//! What the SQLite backend promises beyond the contract: reopening, closing,
//! group commit, recovery from a failed transaction.

use futures::StreamExt;
use souk_store::{
    Direction, EventStore, ExpectedRevision, NewEvent, ReadFrom, SqliteConfig, SqliteStore,
    StoreError,
};

fn event(n: usize) -> NewEvent {
    NewEvent {
        event_type: "Tested".to_owned(),
        version: 1,
        data: format!("{{\"n\":{n}}}"),
    }
}

fn open(path: &std::path::Path) -> SqliteStore {
    SqliteStore::open(path, SqliteConfig::default()).expect("open")
}

#[tokio::test]
async fn reopening_keeps_events_positions_and_stream_heads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/events.db");
    let store = open(&path);
    store
        .append("s-a", ExpectedRevision::NoStream, vec![event(0), event(1)])
        .await
        .unwrap();
    store
        .append("s-b", ExpectedRevision::NoStream, vec![event(2)])
        .await
        .unwrap();
    let before = store.read_all(0, 100).await.unwrap();
    drop(store);

    let store = open(&path);
    assert_eq!(store.read_all(0, 100).await.unwrap(), before);
    assert_eq!(store.last_position().await.unwrap(), 3);
    let conflict = store
        .append("s-a", ExpectedRevision::NoStream, vec![event(9)])
        .await;
    assert!(
        matches!(
            conflict,
            Err(StoreError::WrongExpectedRevision {
                actual: Some(1),
                ..
            })
        ),
        "{conflict:?}"
    );
    let next = store
        .append("s-a", ExpectedRevision::Exact(1), vec![event(3)])
        .await
        .unwrap();
    assert_eq!((next.next_expected_revision, next.position), (2, 4));
}

#[tokio::test]
async fn close_commits_what_was_sent_then_refuses_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = open(&path);
    let mut pending = Vec::new();
    for i in 0..50 {
        let store = store.clone();
        pending.push(tokio::spawn(async move {
            store
                .append(
                    &format!("s-{i}"),
                    ExpectedRevision::NoStream,
                    vec![event(i)],
                )
                .await
        }));
    }
    // Every append is either committed before the close or refused, never
    // lost in between.
    tokio::task::yield_now().await;
    store.close().await;
    let mut committed = 0;
    for p in pending {
        match p.await.unwrap() {
            Ok(_) => committed += 1,
            Err(StoreError::Closed) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    let after = store
        .append("late", ExpectedRevision::Any, vec![event(0)])
        .await;
    assert!(matches!(after, Err(StoreError::Closed)), "{after:?}");
    assert_eq!(store.read_all(0, 100).await.unwrap().len(), committed);
    store.close().await;
    drop(store);
    assert_eq!(open(&path).read_all(0, 100).await.unwrap().len(), committed);
}

#[tokio::test]
async fn subscriptions_end_with_closed_after_delivering_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("events.db"));
    let mut live = store.subscribe_all(0);
    store
        .append("s", ExpectedRevision::NoStream, vec![event(0), event(1)])
        .await
        .unwrap();
    store.close().await;
    let mut seen = Vec::new();
    let end = loop {
        match live.next().await {
            Some(Ok(e)) => seen.push(e.position),
            Some(Err(e)) => break e,
            None => panic!("the stream ended without saying why"),
        }
    };
    assert_eq!(seen, [1, 2]);
    assert!(matches!(end, StoreError::Closed), "{end:?}");
    assert!(live.next().await.is_none());

    // Subscribing after the close still catches up.
    let mut late = store.subscribe_all(1);
    assert_eq!(late.next().await.unwrap().unwrap().position, 2);
    assert!(matches!(late.next().await, Some(Err(StoreError::Closed))));
}

#[tokio::test]
async fn dropping_the_last_handle_commits_pending_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = open(&path);
    let subscription = store.subscribe_all(0);
    let mut pending = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        pending.push(tokio::spawn(async move {
            store
                .append("s", ExpectedRevision::Any, vec![event(i)])
                .await
                .unwrap()
        }));
    }
    drop(store);
    for p in pending {
        p.await.unwrap();
    }
    // A live subscription does not keep the writer alive.
    drop(subscription);
    let reopened = open(&path);
    let read = reopened
        .read_stream("s", ReadFrom::Start, Direction::Forwards, 100)
        .await
        .unwrap();
    assert_eq!(read.len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_commits_unless_group_commit_is_off() {
    for group_commit in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let config = SqliteConfig {
            group_commit,
            ..SqliteConfig::default()
        };
        let store = SqliteStore::open(&dir.path().join("events.db"), config).unwrap();
        let mut tasks = Vec::new();
        for t in 0..64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..10 {
                    let expected = match i {
                        0 => ExpectedRevision::NoStream,
                        i => ExpectedRevision::Exact(i - 1),
                    };
                    store
                        .append(&format!("s-{t}"), expected, vec![event(i as usize)])
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let stats = store.stats();
        assert_eq!((stats.appends, stats.events), (640, 640));
        if group_commit {
            assert!(stats.commits < 640, "{stats:?}");
        } else {
            assert_eq!(stats.commits, 640, "{stats:?}");
        }
    }
}

#[tokio::test]
async fn a_failed_transaction_is_reported_and_the_writer_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = open(&path);
    store
        .append("s-a", ExpectedRevision::NoStream, vec![event(0)])
        .await
        .unwrap();
    // Someone else writes to the file behind the writer's back (unsupported,
    // but the stand-in for any failed transaction): position 2 and s-a's
    // revision 1 are now taken, which the writer does not know.
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute(
            "INSERT INTO events (position, stream_id, revision, event_type, version, data, recorded_at) \
             VALUES (2, (SELECT id FROM streams WHERE name = 's-a'), 1, 'Tested', 1, '{}', 0)",
            [],
        )
        .unwrap();
    drop(other);

    // More events than one multi-row insert statement carries, so that the
    // failure happens inside one of those as well as in the one-row inserts
    // of the rest.
    let many: Vec<NewEvent> = (1..=70).map(event).collect();
    let failed = store
        .append("s-b", ExpectedRevision::NoStream, many.clone())
        .await;
    assert!(
        matches!(failed, Err(StoreError::Unavailable(_))),
        "{failed:?}"
    );
    // After the failure the writer reloads its state from the file.
    let written = store
        .append("s-b", ExpectedRevision::NoStream, many)
        .await
        .unwrap();
    assert_eq!((written.first_position, written.position), (3, 72));
    let stale = store
        .append("s-a", ExpectedRevision::Exact(0), vec![event(3)])
        .await;
    assert!(
        matches!(
            stale,
            Err(StoreError::WrongExpectedRevision {
                actual: Some(1),
                ..
            })
        ),
        "{stale:?}"
    );
    let positions: Vec<_> = store
        .read_all(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(
        positions,
        (1..=72).collect::<Vec<_>>(),
        "nothing of the failed append"
    );
}

#[test]
fn works_on_a_current_thread_runtime_like_actix_arbiters() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("events.db"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut sub = store.subscribe_all(0);
        let mut tasks = Vec::new();
        for t in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .append(
                        &format!("s-{t}"),
                        ExpectedRevision::NoStream,
                        vec![event(t)],
                    )
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        for expected in 1..=8 {
            assert_eq!(sub.next().await.unwrap().unwrap().position, expected);
        }
    });
}

#[test]
fn refuses_a_database_from_a_newer_build() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let refused = SqliteStore::open(&path, SqliteConfig::default());
    assert!(matches!(refused, Err(StoreError::Unavailable(_))));
}

/// The first schema (version 1), as the first build wrote it: the stream
/// name in every row.
const VERSION_1: &str = "
CREATE TABLE events (
    position    INTEGER PRIMARY KEY,
    stream      TEXT    NOT NULL,
    revision    INTEGER NOT NULL,
    event_type  TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    data        TEXT    NOT NULL,
    recorded_at INTEGER NOT NULL,
    UNIQUE (stream, revision)
) STRICT;
";

/// Writes a version-1 file by hand: `streams` is a list of (name, events);
/// the events are interleaved across streams, position by position.
fn write_version_1(path: &std::path::Path, user_version: i64, streams: &[(&str, usize)]) {
    let mut conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    let tx = conn.transaction().unwrap();
    tx.execute_batch(VERSION_1).unwrap();
    let mut position = 0;
    let longest = streams.iter().map(|(_, n)| *n).max().unwrap_or(0);
    for revision in 0..longest {
        for (name, count) in streams {
            if revision < *count {
                position += 1;
                tx.execute(
                    "INSERT INTO events VALUES (?1, ?2, ?3, 'Tested', 1, ?4, ?5)",
                    rusqlite::params![
                        position,
                        name,
                        revision as i64,
                        format!("{{\"n\":{position}}}"),
                        1_700_000_000_000_i64 + position,
                    ],
                )
                .unwrap();
            }
        }
    }
    tx.pragma_update(None, "user_version", user_version)
        .unwrap();
    tx.commit().unwrap();
}

#[tokio::test]
async fn a_version_1_file_is_migrated_on_open_and_reads_back_the_same() {
    for user_version in [1, 0] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db");
        let streams = [("conversation-b", 3), ("conversation-a", 5), ("x", 1)];
        write_version_1(&path, user_version, &streams);

        let store = open(&path);
        let all = store.read_all(0, 100).await.unwrap();
        assert_eq!(all.len(), 9);
        let mut previous_revision = std::collections::HashMap::new();
        for (i, event) in all.iter().enumerate() {
            let position = i as u64 + 1;
            assert_eq!(event.position, position);
            assert_eq!(event.data, format!("{{\"n\":{position}}}"));
            assert_eq!(event.event_type, "Tested");
            assert_eq!(event.version, 1);
            assert_eq!(
                event.recorded_at.millis(),
                1_700_000_000_000 + position as i64
            );
            let next = previous_revision.entry(event.stream.clone()).or_insert(0);
            assert_eq!(event.revision, *next, "{event:?}");
            *next += 1;
        }
        for (name, count) in streams {
            let read = store
                .read_stream(name, ReadFrom::Start, Direction::Forwards, 100)
                .await
                .unwrap();
            assert_eq!(read.len(), count, "{name}");
            assert!(read.iter().all(|e| e.stream == name));
            let expected: Vec<_> = all.iter().filter(|e| e.stream == name).cloned().collect();
            assert_eq!(read, expected);
        }
        // Appends continue from the migrated heads and positions.
        let stale = store
            .append("conversation-a", ExpectedRevision::Exact(3), vec![event(0)])
            .await;
        assert!(
            matches!(
                stale,
                Err(StoreError::WrongExpectedRevision {
                    actual: Some(4),
                    ..
                })
            ),
            "{stale:?}"
        );
        let next = store
            .append("conversation-a", ExpectedRevision::Exact(4), vec![event(0)])
            .await
            .unwrap();
        assert_eq!((next.next_expected_revision, next.position), (5, 10));
        let new = store
            .append("conversation-c", ExpectedRevision::NoStream, vec![event(1)])
            .await
            .unwrap();
        assert_eq!((new.next_expected_revision, new.position), (0, 11));
        drop(store);

        // The file is now of the new version: reopening changes nothing.
        let reopened = open(&path);
        let after = reopened.read_all(0, 100).await.unwrap();
        assert_eq!(after[..9], all[..]);
        assert_eq!(after.len(), 11);
        let version: i64 = rusqlite::Connection::open(&path)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 3);
    }
}

#[test]
fn a_failed_migration_leaves_the_version_1_file_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    write_version_1(&path, 1, &[("s-a", 2), ("s-b", 1)]);
    // A table in the way of the migration's own makes it fail midway, after
    // it has created `streams` and copied the names.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE events_v2 (x INTEGER)")
        .unwrap();
    drop(conn);
    let refused = SqliteStore::open(&path, SqliteConfig::default());
    assert!(
        matches!(&refused, Err(StoreError::Unavailable(m)) if m.contains("migrating")),
        "{:?}",
        refused.err()
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1);
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tables, ["events", "events_v2"]);
    let rows: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM events WHERE stream IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 3);
}
