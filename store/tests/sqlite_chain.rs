//! The hash chain in the embedded log: a row changed behind souk's back is
//! found by `chain::verify`, exactly; a log of schema version 2 (before the
//! chain) is hashed once when opened.

use souk_domain::Timestamp;
use souk_store::chain::{self, EventHash};
use souk_store::{
    Direction, EventStore, ExpectedRevision, NewEvent, ReadFrom, SqliteConfig, SqliteStore,
};

fn event(n: usize) -> NewEvent {
    NewEvent {
        event_type: "Tested".to_owned(),
        version: 1,
        data: format!("{{\"n\":{n}}}"),
    }
}

fn open(path: &std::path::Path) -> SqliteStore {
    SqliteStore::open(path, SqliteConfig::default()).expect("open the store")
}

#[tokio::test]
async fn a_row_edited_behind_the_log_is_reported_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = open(&path);
    for round in 0..3 {
        for stream in ["conversation-a", "conversation-b"] {
            store
                .append(stream, ExpectedRevision::Any, vec![event(round), event(9)])
                .await
                .unwrap();
        }
    }
    let intact = chain::verify(&store, None, |_| {}).await.unwrap();
    assert!(intact.is_intact(), "{intact:?}");
    assert_eq!((intact.events_checked, intact.streams), (12, 2));
    assert_eq!(intact.upgrade, None);

    let before = store
        .read_stream("conversation-b", ReadFrom::Start, Direction::Forwards, 100)
        .await
        .unwrap();
    let victim = &before[3];
    // Someone edits the payload with SQLite itself, the store still open.
    let other = rusqlite::Connection::open(&path).unwrap();
    let changed = other
        .execute(
            "UPDATE events SET data = '{\"n\":1000}' WHERE position = ?1",
            [victim.position as i64],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(other);

    // Reads go on, returning what is there.
    let after = store
        .read_stream("conversation-b", ReadFrom::Start, Direction::Forwards, 100)
        .await
        .unwrap();
    assert_eq!(after[3].data, "{\"n\":1000}");
    assert_eq!(after[3].hash, victim.hash, "the stored hash is unchanged");

    let report = chain::verify(&store, None, |_| {}).await.unwrap();
    let broken = report.broken.expect("the edit is found");
    assert_eq!(broken.stream, "conversation-b");
    assert_eq!(broken.revision, 3);
    assert_eq!(broken.position, victim.position);
    assert_eq!(broken.found, victim.hash);
    assert_eq!(
        broken.expected,
        chain::link(
            &before[2].hash,
            "conversation-b",
            3,
            "Tested",
            1,
            "{\"n\":1000}",
            &victim.recorded_at
        )
    );
    assert_eq!(report.events_checked, victim.position, "stops at the break");
    // One stream: the same link; the other stream is intact.
    let one = chain::verify(&store, Some("conversation-b"), |_| {})
        .await
        .unwrap();
    assert_eq!(one.broken.as_ref(), Some(&broken));
    assert_eq!(one.events_checked, 4);
    let other_stream = chain::verify(&store, Some("conversation-a"), |_| {})
        .await
        .unwrap();
    assert!(other_stream.is_intact());
    assert_eq!(other_stream.events_checked, 6);
}

#[tokio::test]
async fn a_hash_edited_or_removed_behind_the_log_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = open(&path);
    store
        .append("s", ExpectedRevision::NoStream, vec![event(0), event(1)])
        .await
        .unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute("UPDATE events SET hash = NULL WHERE position = 2", [])
        .unwrap();
    let report = chain::verify(&store, None, |_| {}).await.unwrap();
    let broken = report.broken.expect("a missing hash is found");
    assert_eq!((broken.position, broken.found), (2, EventHash::GENESIS));
}

/// A log written with format-1 hashes (as souk wrote them before format 2)
/// and then appended to by this build: the streams go on from their
/// format-1 heads in format 2, and the whole log verifies; an edit on
/// either side of the change of format is still found.
#[tokio::test]
async fn a_log_hashed_in_format_1_goes_on_in_format_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = open(&path);
    for stream in ["conversation-a", "conversation-b"] {
        store
            .append(stream, ExpectedRevision::NoStream, vec![event(0), event(1)])
            .await
            .unwrap();
    }
    let written = store.read_all(0, 100).await.unwrap();
    store.close().await;
    // Re-hash the rows as format 1 did, behind the log.
    {
        let other = rusqlite::Connection::open(&path).unwrap();
        let mut heads = chain::Heads::new();
        for e in &written {
            let prev = heads.get(&e.stream).map_or(EventHash::GENESIS, |(_, h)| h);
            let v1 = chain::link_v1(
                &prev,
                &e.stream,
                e.revision,
                &e.event_type,
                e.version,
                &e.data,
                &e.recorded_at,
            );
            assert_ne!(v1, e.hash, "this build appends in format 2");
            other
                .execute(
                    "UPDATE events SET hash = ?1 WHERE position = ?2",
                    rusqlite::params![v1.as_bytes().as_slice(), e.position as i64],
                )
                .unwrap();
            heads.set(&e.stream, e.revision, v1);
        }
    }

    let store = open(&path);
    let appended = store
        .append("conversation-a", ExpectedRevision::Exact(1), vec![event(2)])
        .await
        .unwrap();
    let a = store
        .read_stream("conversation-a", ReadFrom::Start, Direction::Forwards, 100)
        .await
        .unwrap();
    assert_eq!(
        appended.hashes,
        vec![chain::link(
            &a[1].hash,
            "conversation-a",
            2,
            "Tested",
            1,
            "{\"n\":2}",
            &a[2].recorded_at
        )],
        "format 2, chained to the format-1 head"
    );
    let report = chain::verify(&store, None, |_| {}).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events_checked, 5);

    let other = rusqlite::Connection::open(&path).unwrap();
    for (position, data) in [(2, "{\"n\":7}"), (5, "{\"n\":8}")] {
        let original: String = other
            .query_row(
                "SELECT data FROM events WHERE position = ?1",
                [position],
                |r| r.get(0),
            )
            .unwrap();
        other
            .execute(
                "UPDATE events SET data = ?1 WHERE position = ?2",
                rusqlite::params![data, position],
            )
            .unwrap();
        let report = chain::verify(&store, None, |_| {}).await.unwrap();
        let broken = report.broken.expect("the edit is found");
        assert_eq!(broken.position, position as u64);
        other
            .execute(
                "UPDATE events SET data = ?1 WHERE position = ?2",
                rusqlite::params![original, position],
            )
            .unwrap();
    }
    assert!(chain::verify(&store, None, |_| {})
        .await
        .unwrap()
        .is_intact());
}

/// Schema version 2, as the build before the hash chain wrote it.
const VERSION_2: &str = "
CREATE TABLE streams (
    id   INTEGER PRIMARY KEY,
    name TEXT    NOT NULL UNIQUE
) STRICT;
CREATE TABLE events (
    position    INTEGER PRIMARY KEY,
    stream_id   INTEGER NOT NULL,
    revision    INTEGER NOT NULL,
    event_type  TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    data        TEXT    NOT NULL,
    recorded_at INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX events_stream_revision ON events (stream_id, revision);
";

#[tokio::test]
async fn a_version_2_log_is_hashed_once_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    // Three streams, their events interleaved, more than one batch of the
    // upgrade would hold if it were small: 25,000 events.
    let total = 25_000i64;
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        let tx = conn.transaction().unwrap();
        tx.execute_batch(VERSION_2).unwrap();
        for name in ["conversation-a", "conversation-b", "conversation-c"] {
            tx.execute("INSERT INTO streams (name) VALUES (?1)", [name])
                .unwrap();
        }
        let mut insert = tx
            .prepare("INSERT INTO events VALUES (?1, ?2, ?3, 'Tested', 1, ?4, ?5)")
            .unwrap();
        for position in 1..=total {
            let stream_id = (position - 1) % 3 + 1;
            let revision = (position - 1) / 3;
            insert
                .execute(rusqlite::params![
                    position,
                    stream_id,
                    revision,
                    format!("{{\"n\":{position}}}"),
                    1_700_000_000_000_i64 + position,
                ])
                .unwrap();
        }
        drop(insert);
        tx.pragma_update(None, "user_version", 2).unwrap();
        tx.commit().unwrap();
    }

    let before = Timestamp::now();
    let store = open(&path);
    let upgrade = store.chain_upgrade().await.unwrap().expect("recorded");
    assert_eq!(upgrade.through, total as u64);
    assert!(upgrade.at >= before && upgrade.at <= Timestamp::now());

    // Hashed as the chain's definition says, stream by stream.
    let b = store
        .read_stream("conversation-b", ReadFrom::Start, Direction::Forwards, 3)
        .await
        .unwrap();
    let first = chain::link(
        &EventHash::GENESIS,
        "conversation-b",
        0,
        "Tested",
        1,
        "{\"n\":2}",
        &Timestamp::from_millis(1_700_000_000_002),
    );
    assert_eq!(b[0].hash, first);
    assert_eq!(chain::check(EventHash::GENESIS, &b), Ok(b[2].hash));

    let mut progress = Vec::new();
    let report = chain::verify(&store, None, |p| progress.push(p))
        .await
        .unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events_checked, total as u64);
    assert_eq!(report.streams, 3);
    assert_eq!(report.upgrade, Some(upgrade));
    assert_eq!(progress.len(), 25, "one progress report per page");

    // New appends chain on from the upgraded heads.
    let written = store
        .append("conversation-a", ExpectedRevision::Any, vec![event(1)])
        .await
        .unwrap();
    assert_eq!(written.position, total as u64 + 1);
    let a = chain::verify(&store, Some("conversation-a"), |_| {})
        .await
        .unwrap();
    assert!(a.is_intact());
    drop(store);

    // Reopening hashes nothing again and keeps the record.
    let reopened = open(&path);
    assert_eq!(reopened.chain_upgrade().await.unwrap(), Some(upgrade));
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 3);
}

#[tokio::test]
async fn a_new_log_records_no_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("events.db"));
    assert_eq!(store.chain_upgrade().await.unwrap(), None);
}

#[tokio::test]
async fn an_event_deleted_behind_the_log_is_reported_at_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = open(&path);
    let written = store
        .append("s", ExpectedRevision::NoStream, (0..4).map(event).collect())
        .await
        .unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute("DELETE FROM events WHERE position = 2", [])
        .unwrap();
    let report = chain::verify(&store, Some("s"), |_| {}).await.unwrap();
    let broken = report.broken.expect("the gap is found");
    assert_eq!((broken.revision, broken.position), (2, 3));
    assert_eq!(broken.found, written.hashes[2]);
    let whole = chain::verify(&store, None, |_| {}).await.unwrap();
    assert_eq!(whole.broken, Some(broken));
}
