//! The hash chain in the shared log: a row changed behind souk's back is
//! found by `chain::verify`, exactly; a log of schema version 1 (before the
//! chain) is hashed once, by one of several nodes starting at once. Needs
//! `SOUK_TEST_PG_URL` (see `souk_store::postgres::testing`).

mod support;

use souk_domain::Timestamp;
use souk_store::chain::{self, EventHash};
use souk_store::postgres::testing::scratch_database;
use souk_store::{
    Direction, EventStore, ExpectedRevision, PostgresConfig, PostgresStore, ReadFrom,
};
use support::{admin, event};

async fn node(url: &str) -> PostgresStore {
    PostgresStore::connect(url, PostgresConfig::default())
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_edited_behind_the_log_is_reported_exactly() {
    let url = scratch_database().await;
    let (a, b) = (node(&url).await, node(&url).await);
    // Two nodes append to the same streams.
    for round in 0..3 {
        for (store, stream) in [(&a, "conversation-a"), (&b, "conversation-b")] {
            store
                .append(stream, ExpectedRevision::Any, vec![event("x"), event("y")])
                .await
                .unwrap();
        }
        b.append(
            "conversation-a",
            ExpectedRevision::Any,
            vec![event(&round.to_string())],
        )
        .await
        .unwrap();
    }
    let intact = chain::verify(&a, None, |_| {}).await.unwrap();
    assert!(intact.is_intact(), "{intact:?}");
    assert_eq!((intact.events_checked, intact.streams), (15, 2));
    assert_eq!(intact.upgrade, None);

    let before = a
        .read_stream("conversation-a", ReadFrom::Start, Direction::Forwards, 100)
        .await
        .unwrap();
    let victim = &before[4];
    let changed = admin(&url)
        .await
        .execute(
            "UPDATE event_log SET data = '{\"tag\":\"edited\"}' WHERE position = $1",
            &[&(victim.position as i64)],
        )
        .await
        .unwrap();
    assert_eq!(changed, 1);

    let report = chain::verify(&b, None, |_| {}).await.unwrap();
    let broken = report.broken.expect("the edit is found");
    assert_eq!(
        (broken.stream.as_str(), broken.revision, broken.position),
        ("conversation-a", 4, victim.position)
    );
    assert_eq!(broken.found, victim.hash);
    assert_eq!(
        broken.expected,
        chain::link(
            &before[3].hash,
            "conversation-a",
            4,
            "Tested",
            1,
            "{\"tag\":\"edited\"}",
            &victim.recorded_at
        )
    );
    let one = chain::verify(&a, Some("conversation-a"), |_| {})
        .await
        .unwrap();
    assert_eq!(one.broken, Some(broken));
    let other = chain::verify(&a, Some("conversation-b"), |_| {})
        .await
        .unwrap();
    assert!(other.is_intact());
}

/// Schema version 1, as the build before the hash chain wrote it.
const VERSION_1: &str = "
CREATE TABLE event_log_schema (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO event_log_schema (version, name) VALUES (1, 'event log');
CREATE TABLE event_log_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    position  bigint  NOT NULL CHECK (position >= 0)
);
INSERT INTO event_log_head (singleton, position) VALUES (true, 0);
CREATE TABLE event_log (
    position    bigint      PRIMARY KEY CHECK (position >= 1),
    stream      text        NOT NULL CHECK (stream <> ''),
    revision    bigint      NOT NULL CHECK (revision >= 0),
    event_type  text        NOT NULL CHECK (event_type <> ''),
    version     bigint      NOT NULL CHECK (version BETWEEN 0 AND 4294967295),
    data        text        NOT NULL,
    recorded_at timestamptz NOT NULL,
    CONSTRAINT event_log_stream_revision UNIQUE (stream, revision)
);
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_log_is_hashed_once_by_one_of_the_nodes_starting() {
    let url = scratch_database().await;
    let total = 25_000i64;
    let admin = admin(&url).await;
    admin.batch_execute(VERSION_1).await.unwrap();
    // Three streams, interleaved, more than one batch of the upgrade.
    admin
        .execute(
            "INSERT INTO event_log (position, stream, revision, event_type, version, data, recorded_at) \
             SELECT p, 'conversation-' || ((p - 1) % 3), (p - 1) / 3, 'Tested', 1, \
                    '{\"n\":' || p || '}', \
                    timestamptz 'epoch' + (1700000000000 + p) * interval '1 millisecond' \
             FROM generate_series(1, $1::bigint) AS p",
            &[&total],
        )
        .await
        .unwrap();
    admin
        .execute("UPDATE event_log_head SET position = $1", &[&total])
        .await
        .unwrap();

    let before = Timestamp::now();
    let nodes = futures::future::join_all((0..3).map(|_| node(&url))).await;
    let upgrades: i64 = admin
        .query_one("SELECT count(*) FROM event_log_chain_upgrade", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(upgrades, 1, "hashed once");
    let upgrade = nodes[1].chain_upgrade().await.unwrap().expect("recorded");
    assert_eq!(upgrade.through, total as u64);
    assert!(upgrade.at >= before && upgrade.at <= Timestamp::now());

    let first = nodes[0]
        .read_stream("conversation-1", ReadFrom::Start, Direction::Forwards, 1)
        .await
        .unwrap();
    assert_eq!(
        first[0].hash,
        chain::link(
            &EventHash::GENESIS,
            "conversation-1",
            0,
            "Tested",
            1,
            "{\"n\":2}",
            &Timestamp::from_millis(1_700_000_000_002)
        )
    );
    let report = chain::verify(&nodes[2], None, |_| {}).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.events_checked, report.streams), (total as u64, 3));
    assert_eq!(report.upgrade, Some(upgrade));

    // Appends chain on; a row without a hash (an older node) is refused.
    nodes[0]
        .append("conversation-2", ExpectedRevision::Any, vec![event("new")])
        .await
        .unwrap();
    assert!(chain::verify(&nodes[1], Some("conversation-2"), |_| {})
        .await
        .unwrap()
        .is_intact());
    let old_node = admin
        .execute(
            "INSERT INTO event_log (position, stream, revision, event_type, version, data, recorded_at) \
             VALUES ($1, 'conversation-x', 0, 'Tested', 1, '{}', now())",
            &[&(total + 2)],
        )
        .await;
    assert!(old_node.is_err(), "hash is NOT NULL after the upgrade");
}
