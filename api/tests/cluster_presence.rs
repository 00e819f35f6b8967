//! Presence across nodes sharing one PostgreSQL database, in process, with a
//! short lease: a user is online while any node has one of their sockets,
//! offline (with `lastSeenAt`) when the last one closes anywhere; a node that
//! stops heart-beating takes its users offline for the others once its
//! lease runs out; a node that stops gracefully takes them offline at once.
//! Needs `SOUK_TEST_PG_URL`.

mod cluster_support;

use std::time::Duration;

use cluster_support::*;
use souk_api::app::spawn;
use souk_api::presence::Transition;
use souk_domain::{Role, Timestamp, UserId};
use souk_store::postgres::testing::scratch_database;

const WAIT: Duration = Duration::from_secs(10);
const LEASE: Duration = Duration::from_millis(1_500);
const HEARTBEAT: Duration = Duration::from_millis(250);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_is_online_while_any_node_has_a_socket_of_theirs() {
    let url = scratch_database().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = spawn(node_settings(&url, dir_a.path(), "pa", LEASE, HEARTBEAT)).unwrap();
    let b = spawn(node_settings(&url, dir_b.path(), "pb", LEASE, HEARTBEAT)).unwrap();
    let (pa, pb) = (&a.state.presence, &b.state.presence);
    let u = UserId::parse("c-7").unwrap();
    let role = Role::Customer;

    assert_eq!(pb.connected(&u, role), Transition::CameOnline);
    eventually("a sees the user online", WAIT, || pa.status(&u, role).0).await;
    assert_eq!(pa.online_count(), 1);
    assert_eq!(pa.status(&u, Role::Vendor), (false, None), "roles apart");
    assert_eq!(
        pa.connected(&u, role),
        Transition::Unchanged,
        "already online through b"
    );
    assert_eq!(pa.online_count(), 1, "counted once across nodes");
    eventually("b sees a's socket too", WAIT, || {
        pb.online_count() == 1 && pb.status(&u, role).0
    })
    .await;
    assert_eq!(
        pa.disconnected(&u, role, Timestamp::now()),
        Transition::Unchanged,
        "still online through b"
    );
    assert!(pa.status(&u, role).0);

    // b's socket closes last: offline everywhere, with b's time.
    let gone = Timestamp::from_millis(Timestamp::now().millis() + 1);
    // (b tells "went offline" at once if it has heard of a's close, else
    // when it does; either way both end offline with b's time.)
    pb.disconnected(&u, role, gone);
    eventually("a sees the user offline", WAIT, || !pa.status(&u, role).0).await;
    eventually("b sees the user offline", WAIT, || !pb.status(&u, role).0).await;
    assert_eq!(
        pa.status(&u, role),
        (false, Some(gone)),
        "lastSeenAt from b"
    );
    assert_eq!(pb.status(&u, role), (false, Some(gone)));
    assert_eq!(pa.online_count(), 0);

    // A node that stops heart-beating (as a killed one would) takes its
    // users offline for the others after its lease, and not much later.
    let v = UserId::parse("v-7").unwrap();
    assert_eq!(pa.connected(&v, Role::Vendor), Transition::CameOnline);
    eventually("b sees v online", WAIT, || pb.status(&v, Role::Vendor).0).await;
    a.state.presence.cluster().unwrap().halt();
    let took = eventually("b sees a's user offline", WAIT, || {
        !pb.status(&v, Role::Vendor).0
    })
    .await;
    // Not before the lease ran out (its last renewal was at most one
    // heartbeat before the halt), and within a lease, a sweep and slack.
    assert!(
        took >= LEASE - HEARTBEAT * 2 && took <= LEASE + HEARTBEAT * 8,
        "offline {took:?} after the halt (lease {LEASE:?}, heartbeat {HEARTBEAT:?})"
    );
    let (online, last_seen) = pb.status(&v, Role::Vendor);
    assert!(!online && last_seen.is_some());
    drop(a);
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_takes_its_users_offline_at_once_and_one_that_starts_catches_up() {
    let url = scratch_database().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // A long lease: only leaving can explain a quick offline.
    let long = Duration::from_secs(60);
    let a = spawn(node_settings(&url, dir_a.path(), "qa", long, HEARTBEAT)).unwrap();
    let u = UserId::parse("c-8").unwrap();
    a.state.presence.connected(&u, Role::Customer);

    // b starts after the user came online through a: it loads the others'
    // presence at start.
    let b = spawn(node_settings(&url, dir_b.path(), "qb", long, HEARTBEAT)).unwrap();
    eventually("b loaded a's user", WAIT, || {
        b.state.presence.status(&u, Role::Customer).0
    })
    .await;

    a.stop();
    let took = eventually("b sees the user offline", WAIT, || {
        !b.state.presence.status(&u, Role::Customer).0
    })
    .await;
    assert!(took < long / 4, "{took:?}");
    b.stop();
}
