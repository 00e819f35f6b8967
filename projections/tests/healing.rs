//! The read models heal themselves: the consumer survives I/O errors and a
//! full disk and resumes by itself without losing or repeating anything; a
//! damaged file (garbage, truncated, pages overwritten), at start or while
//! running, is set aside and rebuilt from the log; `rebuild` works over any
//! file; `verify` calls read models that lag the log a difference.

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use souk_domain::Role;
use souk_projections::{
    verify, Config, HistoryQuery, Notification, ProjectionError, Projections, State, WriteFault,
};
use souk_store::{EventStore, Position};
use tokio::sync::broadcast;

/// Short pauses, so that a test sees several retries in little time.
fn quick(bulk_above: Position) -> Config {
    Config {
        retry_first: Duration::from_millis(10),
        retry_max: Duration::from_millis(100),
        bulk_above,
        ..Config::default()
    }
}

/// Waits (bounded) until `done` holds, looking every few milliseconds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Reopens the world's read models with `config` and starts the consumer.
fn restart_with(w: &mut World, config: Config) {
    w.projections = Projections::open_with(&w.path(), config).unwrap();
    w.consumer = Some(w.projections.start(w.dyn_store()));
}

/// Every notification received so far: each position once, in order, and
/// each one agrees with a recount of the log.
fn drain(w: &World, rx: &mut broadcast::Receiver<Arc<Notification>>, into: &mut Vec<Position>) {
    while let Ok(n) = rx.try_recv() {
        check_notification(&w.store, &n);
        into.push(n.position);
    }
}

/// Waits for the consumer to run again and reach the log's end, then checks
/// that `notified`, with what `rx` still holds, is each event once, in
/// order (`what` heads the failure message).
async fn resumes_each_event_once(
    w: &World,
    rx: &mut broadcast::Receiver<Arc<Notification>>,
    notified: &mut Vec<Position>,
    what: &str,
) {
    let end = w.sync().await;
    until("the consumer runs again", || {
        w.projections.health().state == State::Running
    })
    .await;
    assert!(w.projections.wait_live(end, WAIT).await);
    drain(w, rx, notified);
    assert_eq!(
        *notified,
        (1..=end).collect::<Vec<_>>(),
        "{what}each event once, in order"
    );
}

async fn assert_consistent(w: &World) {
    assert_unread_matches_the_log(w).await;
    let report = verify(&w.path(), w.dyn_store()).await.unwrap();
    assert!(
        report.is_consistent(),
        "{:#?}",
        &report.differences[..report.differences.len().min(5)]
    );
}

/// The files set aside next to the read models.
fn set_aside(w: &World, why: &str) -> Vec<PathBuf> {
    let prefix = format!("readmodels.db.{why}-");
    std::fs::read_dir(w.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(&prefix) && !name.ends_with("-wal") && !name.ends_with("-shm")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_survives_io_errors_and_resumes_without_loss_or_repeat() {
    let mut w = World::idle();
    restart_with(&mut w, quick(Position::MAX));
    let mut rx = w.projections.subscribe();
    let mut notified = Vec::new();
    random_history(&mut w, &mut Rng::new(11), 200).await;
    w.sync().await;
    assert_eq!(w.projections.health().state, State::Running);

    for fault in [WriteFault::Io, WriteFault::DiskFull] {
        w.projections.inject_write_fault(Some(fault));
        random_history(&mut w, &mut Rng::new(12), 60).await;
        until("the consumer retries", || {
            let h = w.projections.health();
            h.state == State::Retrying && h.failures >= 3
        })
        .await;
        let health = w.projections.health();
        let expected = match fault {
            WriteFault::Io => "disk I/O error",
            WriteFault::DiskFull => "database or disk is full",
        };
        assert!(
            health.error.as_deref().unwrap_or("").contains(expected),
            "{health:?}"
        );
        let end = w.store.last_position().await.unwrap();
        assert!(!health.is_healthy(end), "{health:?}");
        // What was notified is not in the read models: a query says so
        // instead of answering without it.
        let id = *w.states.keys().next().unwrap();
        let refused = w
            .projections
            .conversation(id, &user("c-0"), Role::Customer)
            .await;
        assert!(
            matches!(
                refused,
                Err(ProjectionError::Behind { .. } | ProjectionError::CatchingUp { .. })
            ),
            "{refused:?}"
        );

        w.projections.inject_write_fault(None);
        let end = w.sync().await;
        until("the consumer runs again", || {
            w.projections.health().state == State::Running
        })
        .await;
        assert!(w.projections.health().is_healthy(end));
        assert!(w.projections.wait_live(end, WAIT).await);
        drain(&w, &mut rx, &mut notified);
        assert_eq!(
            notified,
            (1..=end).collect::<Vec<_>>(),
            "each event once, in order"
        );
        assert_consistent(&w).await;
    }
}

/// A tmpfs of `size` mounted over a new folder for as long as it lives.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (with the reason on stderr) when this process may not mount.
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::read_to_string("/proc/self/status")
            .map(|s| {
                s.lines()
                    .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
            })
            .unwrap_or(false);
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status();
        match mounted {
            Ok(s) if s.success() => Some(Self { dir }),
            // Running as root (as CI does) the test must run.
            other if root => panic!("cannot mount a tmpfs as root: {other:?}"),
            other => {
                eprintln!(
                    "SKIPPED: a full disk needs a small tmpfs, and mounting one is impossible here \
                     (not root: {other:?}); the injected disk-full errors of \
                     the_consumer_survives_io_errors_and_resumes_without_loss_or_repeat still run"
                );
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system of `path` with one file, to the last byte.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0xa5u8; 64 * 1024];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling: {e}"),
        }
    }
    let _ = f.sync_all();
    // Whatever a smaller write can still take.
    let byte = [0u8; 512];
    while f.write(&byte).is_ok_and(|n| n > 0) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_nothing_for_good() {
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let mut w = World::idle();
    let path = disk.path().join("readmodels.db");
    w.projections = Projections::open_with(&path, quick(Position::MAX)).unwrap();
    w.consumer = Some(w.projections.start(w.dyn_store()));
    let mut rx = w.projections.subscribe();
    let mut notified = Vec::new();
    let id = w.start(("c-1", Some("Alice")), ("v-1", None), None).await;
    w.sync().await;

    fill(&disk.path().join("filler"));
    // Messages until the read models find no room (a long text grows the
    // WAL and the search index by several pages each).
    let long = "a long message that fills pages ".repeat(120);
    let mut sent = 0;
    while w.projections.health().state != State::Retrying {
        assert!(
            sent < 3000,
            "the disk never filled: {:?}",
            w.projections.health()
        );
        w.send(
            id,
            if sent % 2 == 0 {
                Role::Customer
            } else {
                Role::Vendor
            },
            &long,
        )
        .await;
        sent += 1;
        let end = w.store.last_position().await.unwrap();
        // Wait for this one to be committed or refused before the next.
        tokio::time::timeout(Duration::from_millis(200), async {
            while w.projections.position() < end && w.projections.health().state != State::Retrying
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await
        .ok();
    }
    let health = w.projections.health();
    assert!(
        health.error.as_deref().unwrap_or("").contains("full"),
        "{health:?}"
    );
    // More arrives while the disk is full.
    for _ in 0..5 {
        w.send(id, Role::Vendor, "while full").await;
    }

    std::fs::remove_file(disk.path().join("filler")).unwrap();
    resumes_each_event_once(&w, &mut rx, &mut notified, "").await;
    assert_unread_matches_the_log(&w).await;
    let report = verify(&path, w.dyn_store()).await.unwrap();
    assert!(report.is_consistent(), "{:#?}", report.differences);
    w.stop().await;
}

/// How a test damages a file.
#[derive(Clone, Copy, Debug)]
enum Damage {
    /// Every byte replaced.
    Garbage,
    /// Cut to a third of its length.
    Truncated,
    /// Every page but the first overwritten.
    PagesOverwritten,
}

/// Bytes that look like nothing SQLite wrote.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next() as u8).collect()
}

fn damage(path: &Path, how: Damage) {
    let len = std::fs::metadata(path).unwrap().len();
    assert!(len > 3 * 4096, "a file of several pages: {len}");
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    match how {
        Damage::Garbage => f.write_all(&noise(len as usize, 1)).unwrap(),
        Damage::Truncated => f.set_len(len / 3).unwrap(),
        Damage::PagesOverwritten => {
            f.seek(SeekFrom::Start(4096)).unwrap();
            f.write_all(&noise(len as usize - 4096, 2)).unwrap();
        }
    }
    f.sync_all().unwrap();
}

/// Moves everything of the WAL into the file itself (so that damaging the
/// file damages the read models).
fn checkpoint_wal(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_files_found_at_start_are_set_aside_and_rebuilt() {
    for (how, bulk_above) in [
        (Damage::Garbage, 1),
        (Damage::Truncated, Position::MAX),
        (Damage::PagesOverwritten, 1),
        (Damage::Truncated, 1),
        (Damage::PagesOverwritten, Position::MAX),
    ] {
        let mut w = World::new().await;
        random_history(&mut w, &mut Rng::new(5), 300).await;
        let end = w.sync().await;
        w.stop().await;
        // Close every connection of the old handle.
        w.projections = Projections::open(&w.dir.path().join("other.db")).unwrap();
        checkpoint_wal(&w.path());
        damage(&w.path(), how);

        restart_with(&mut w, quick(bulk_above));
        until(&format!("{how:?}: rebuilt"), || {
            let h = w.projections.health();
            h.state == State::Running && h.position == end
        })
        .await;
        assert_eq!(set_aside(&w, "damaged").len(), 1, "{how:?}");
        assert_eq!(w.projections.health().state, State::Running, "{how:?}");
        assert_consistent(&w).await;
        // Still consumes what comes next.
        random_history(&mut w, &mut Rng::new(6), 20).await;
        w.sync().await;
        assert_consistent(&w).await;
        w.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_damaged_while_running_is_set_aside_and_rebuilt() {
    for how in [Damage::PagesOverwritten, Damage::Garbage] {
        let mut w = World::idle();
        restart_with(&mut w, quick(Position::MAX));
        let mut rx = w.projections.subscribe();
        let mut notified = Vec::new();
        random_history(&mut w, &mut Rng::new(8), 300).await;
        w.sync().await;
        checkpoint_wal(&w.path());
        damage(&w.path(), how);

        // Queries from fresh connections (more at once than are kept idle)
        // and the writer both read the damaged pages.
        random_history(&mut w, &mut Rng::new(9), 10).await;
        let ids: Vec<_> = w.states.keys().copied().collect();
        let deadline = tokio::time::Instant::now() + WAIT;
        while set_aside(&w, "damaged").is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{how:?}: never found"
            );
            let queries = ids.iter().cycle().take(24).map(|id| {
                let p = w.projections.clone();
                let id = *id;
                async move {
                    let query = HistoryQuery {
                        before: None,
                        after: None,
                        limit: 10,
                    };
                    p.messages(id, query).await
                }
            });
            futures::future::join_all(queries).await;
        }
        resumes_each_event_once(&w, &mut rx, &mut notified, &format!("{how:?}: ")).await;
        assert_consistent(&w).await;
        w.stop().await;
    }
}

#[tokio::test]
async fn rebuild_works_over_a_file_sqlite_cannot_open() {
    let mut w = World::idle();
    random_history(&mut w, &mut Rng::new(4), 100).await;
    let end = w.store.last_position().await.unwrap();
    std::fs::write(w.path(), noise(64 * 1024, 3)).unwrap();
    std::fs::write(w.dir.path().join("readmodels.db-wal"), noise(8 * 1024, 4)).unwrap();
    w.projections = rebuild_and_reopen(&w, end).await;
    assert_unread_matches_the_log(&w).await;
}

#[tokio::test]
async fn verify_reports_read_models_that_lag_the_log() {
    let mut w = World::new().await;
    random_history(&mut w, &mut Rng::new(2), 100).await;
    let at = w.sync().await;
    w.stop().await;
    // 34 events the read models never see.
    let id = *w.states.keys().next().unwrap();
    for _ in 0..34 {
        w.typing(id, Role::Customer, true).await;
        w.typing(id, Role::Customer, false).await;
        if w.store.last_position().await.unwrap() >= at + 34 {
            break;
        }
    }
    let end = w.store.last_position().await.unwrap();
    assert_eq!(end, at + 34);
    let report = verify(&w.path(), w.dyn_store()).await.unwrap();
    assert!(!report.is_consistent());
    assert_eq!(
        (report.position, report.log_end, report.lag()),
        (at, end, 34)
    );
    let first = &report.differences[0];
    assert_eq!(first.table, "checkpoint");
    assert_eq!(first.live.as_deref(), Some(format!("[{at}]").as_str()));
    assert_eq!(first.rebuilt.as_deref(), Some(format!("[{end}]").as_str()));
}
