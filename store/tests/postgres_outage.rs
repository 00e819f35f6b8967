//! The PostgreSQL backend when PostgreSQL goes away: killed connections
//! (`pg_terminate_backend`), and a server that cannot be reached (a TCP
//! proxy the test controls, which refuses connections or swallows them).
//! Appends fail fast with `Unavailable`, nothing unacknowledged is
//! reported as written, everything resumes by itself, and subscriptions go
//! on without a gap or a repeat. Needs `SOUK_TEST_PG_URL`.

mod support;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use souk_store::postgres::testing::{scratch_database, with_database};
use souk_store::postgres::tokio_postgres;
use souk_store::{
    EventStore, ExpectedRevision, PostgresConfig, PostgresStore, RecordedEvent, StoreError,
};
use support::{admin, event, take, upstream};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

fn positions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.position).collect()
}

/// Terminates the backends of the test's database whose query matches
/// `like`; returns how many.
async fn terminate(admin: &tokio_postgres::Client, like: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE $1",
            &[&like],
        )
        .await
        .unwrap()
        .get(0)
}

/// Waits (bounded) until a backend of the test's database listens.
async fn listening(admin: &tokio_postgres::Client, round: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND query LIKE 'LISTEN%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n >= 1 {
            return;
        }
        assert!(Instant::now() < deadline, "round {round}: nobody listens");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_survives_its_listen_connection_being_killed() {
    let url = scratch_database().await;
    // No poll: only LISTEN (and its reconnection) can wake `a`'s tail.
    let quiet = PostgresConfig {
        poll_interval: Duration::from_secs(3600),
        ..PostgresConfig::default()
    };
    let a = PostgresStore::connect(&url, quiet).await.unwrap();
    let b = PostgresStore::connect(&url, PostgresConfig::default())
        .await
        .unwrap();
    let admin = admin(&url).await;
    let mut sub = a.subscribe_all(0);
    b.append(
        "conversation-1",
        ExpectedRevision::NoStream,
        vec![event("0")],
    )
    .await
    .unwrap();
    assert_eq!(positions(&take(&mut sub, 1).await), [1]);

    let mut next = 2;
    for round in 0..3 {
        // The last round's events may have reached `a` through its old
        // connection before that one died: wait for the new one.
        listening(&admin, round).await;
        assert!(terminate(&admin, "LISTEN%").await >= 1, "round {round}");
        // Committed while `a` is (probably) not listening.
        for _ in 0..2 {
            b.append("conversation-1", ExpectedRevision::Any, vec![event("x")])
                .await
                .unwrap();
        }
        let seen = take(&mut sub, 2).await;
        assert_eq!(positions(&seen), [next, next + 1], "round {round}");
        next += 2;
    }
    let more = tokio::time::timeout(Duration::from_millis(300), sub.next()).await;
    assert!(more.is_err(), "an extra event: {more:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connection_killed_appends_and_subscriptions_go_on() {
    let url = scratch_database().await;
    let a = PostgresStore::connect(&url, PostgresConfig::default())
        .await
        .unwrap();
    let b = PostgresStore::connect(&url, PostgresConfig::default())
        .await
        .unwrap();
    let admin = admin(&url).await;
    let mut on_a = a.subscribe_all(0);
    let mut on_b = b.subscribe_all(0);
    let mut total = 0;
    for round in 0..4 {
        for store in [&a, &b] {
            store
                .append("conversation-k", ExpectedRevision::Any, vec![event("k")])
                .await
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            total += 1;
        }
        assert!(terminate(&admin, "%").await >= 2, "round {round}");
    }
    let expected: Vec<u64> = (1..=total).collect();
    assert_eq!(positions(&take(&mut on_a, total as usize).await), expected);
    assert_eq!(positions(&take(&mut on_b, total as usize).await), expected);
    assert!(a.is_available() && b.is_available());
}

/// What the proxy does with connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Forwards to PostgreSQL.
    Pass,
    /// Accepts and closes at once (a server that is down).
    Refuse,
    /// Accepts and never answers, and stops forwarding on the connections
    /// it carries without closing them (a network that drops packets).
    Swallow,
}

/// A TCP proxy in front of PostgreSQL; changing its mode also cuts every
/// connection it carries.
struct Proxy {
    port: u16,
    mode: Arc<watch::Sender<Mode>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (mode, watching) = watch::channel(Mode::Pass);
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let mut watching = watching.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let mode = *watching.borrow_and_update();
                    match mode {
                        Mode::Refuse => drop(client),
                        Mode::Swallow => {
                            let _ = watching.changed().await;
                        }
                        Mode::Pass => {
                            let Ok(mut server) = TcpStream::connect(&upstream).await else {
                                return;
                            };
                            let changed = tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
                                _ = watching.changed() => true,
                            };
                            if changed && *watching.borrow_and_update() == Mode::Swallow {
                                // Keep both ends open, forward nothing.
                                let _ = watching.changed().await;
                            }
                        }
                    }
                });
            }
        });
        Proxy {
            port,
            mode: Arc::new(mode),
        }
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

/// `url` through a proxy on `port` (same user and database).
fn via(url: &str, port: u16) -> String {
    let config = tokio_postgres::Config::from_str(url).unwrap();
    let user = config.get_user().expect("a user in SOUK_TEST_PG_URL");
    let database = config.get_dbname().expect("a database");
    with_database(&format!("postgres://{user}@127.0.0.1:{port}"), database)
}

async fn expect_unavailable_quickly(store: &PostgresStore, what: &str, within: Duration) {
    let started = Instant::now();
    let result = store
        .append("conversation-p", ExpectedRevision::Any, vec![event(what)])
        .await;
    let took = started.elapsed();
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{what}: {result:?}"
    );
    assert!(took < within, "{what}: answered after {took:?}");
    let started = Instant::now();
    let read = store.read_all(1, 10).await;
    assert!(
        matches!(read, Err(StoreError::Unavailable(_))),
        "{what}: {read:?}"
    );
    assert!(
        started.elapsed() < within,
        "{what}: read answered after {:?}",
        started.elapsed()
    );
    assert!(!store.is_available(), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_fails_appends_fast_and_everything_resumes() {
    let url = scratch_database().await;
    let proxy = Proxy::start(upstream(&url)).await;
    let config = PostgresConfig {
        connect_timeout: Duration::from_millis(500),
        io_timeout: Duration::from_secs(1),
        poll_interval: Duration::from_millis(200),
        ..PostgresConfig::default()
    };
    let a = PostgresStore::connect(&via(&url, proxy.port), config)
        .await
        .unwrap();
    let b = PostgresStore::connect(&url, PostgresConfig::default())
        .await
        .unwrap();
    let mut sub = a.subscribe_all(0);
    a.append(
        "conversation-p",
        ExpectedRevision::NoStream,
        vec![event("first")],
    )
    .await
    .unwrap();
    assert!(a.is_available());
    assert_eq!(positions(&take(&mut sub, 1).await), [1]);

    let mut committed = 1;
    for (mode, within) in [
        (Mode::Refuse, Duration::from_millis(300)),
        (Mode::Swallow, Duration::from_millis(2500)),
    ] {
        proxy.set(mode);
        expect_unavailable_quickly(&a, &format!("{mode:?}"), within).await;
        // The log goes on without `a`.
        for _ in 0..3 {
            b.append("conversation-q", ExpectedRevision::Any, vec![event("b")])
                .await
                .unwrap();
            committed += 1;
        }
        proxy.set(Mode::Pass);
        let written = a
            .append("conversation-p", ExpectedRevision::Any, vec![event("back")])
            .await
            .unwrap_or_else(|e| panic!("after {mode:?}: {e}"));
        committed += 1;
        assert!(a.is_available());
        assert_eq!(written.position, committed, "after {mode:?}");
    }
    let seen = take(&mut sub, committed as usize - 1).await;
    assert_eq!(positions(&seen), (2..=committed).collect::<Vec<_>>());
    // Only what was acknowledged, or written by `b`, is in the log.
    let log = b.read_all(1, 100).await.unwrap();
    assert_eq!(log.len() as u64, committed);
    assert!(log
        .iter()
        .all(|e| !e.data.contains("Refuse") && !e.data.contains("Swallow")));
}
