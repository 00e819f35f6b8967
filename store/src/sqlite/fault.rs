//! Failures: which SQLite errors mean the file cannot be written now
//! ([`is_storage_fault`]), what the writer tells the handles about it
//! ([`Health`]), and the failures tests inject into its commits
//! ([`WriteFault`]).

use std::any::Any;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

/// A failure injected into the writer's commits, for the tests of how it
/// survives them ([`SqliteStore::inject_fault`](super::SqliteStore::inject_fault)). A real full disk (a small
/// tmpfs) is what the tests use where they can; this covers what cannot be
/// provoked on demand. The failure is raised inside the transaction, after
/// the group's rows were written and before the commit, so the rollback of
/// a written group is exercised too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFault {
    /// `SQLITE_FULL` at every commit (and every attempt to write again)
    /// until cleared.
    DiskFull,
    /// `SQLITE_IOERR_WRITE` at every commit until cleared.
    Io,
    /// A panic inside the next commit, once.
    Panic,
}

/// The injected fault, shared by the handle and the writer: an atomic,
/// since the writer reads it at every commit.
#[derive(Default)]
pub(super) struct FaultSwitch(AtomicU8);

impl FaultSwitch {
    const NONE: u8 = 0;
    const FULL: u8 = 1;
    const IO: u8 = 2;
    const PANIC: u8 = 3;

    pub(super) fn set(&self, fault: Option<WriteFault>) {
        let code = match fault {
            None => Self::NONE,
            Some(WriteFault::DiskFull) => Self::FULL,
            Some(WriteFault::Io) => Self::IO,
            Some(WriteFault::Panic) => Self::PANIC,
        };
        self.0.store(code, Ordering::Relaxed);
    }

    /// The error to fail a write with, while `DiskFull` or `Io` is on.
    pub(super) fn error(&self) -> rusqlite::Result<()> {
        use rusqlite::ffi;
        let (code, what) = match self.0.load(Ordering::Relaxed) {
            Self::FULL => (ffi::SQLITE_FULL, "database or disk is full (injected)"),
            Self::IO => (ffi::SQLITE_IOERR_WRITE, "disk I/O error (injected)"),
            _ => return Ok(()),
        };
        Err(rusqlite::Error::SqliteFailure(
            ffi::Error::new(code),
            Some(what.into()),
        ))
    }

    /// Right before a commit: the injected error, or the injected panic
    /// (which switches itself off).
    pub(super) fn before_commit(&self) -> rusqlite::Result<()> {
        let panic = self
            .0
            .compare_exchange(
                Self::PANIC,
                Self::NONE,
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok();
        if panic {
            panic!("event log writer: injected panic");
        }
        self.error()
    }
}

/// Whether the writer can write, shared by the writer (which sets it) and
/// the handles (which report it). A mutex, not an atomic, to carry the
/// reason; it is taken only when the state changes and when someone asks.
#[derive(Default)]
pub(super) struct Health {
    /// Why appends are refused now; `None` while the writer writes.
    pub(super) failure: Mutex<Option<String>>,
}

impl Health {
    pub(super) fn set(&self, failure: Option<String>) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = failure;
    }

    pub(super) fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Errors that say the file cannot be written now (a full disk, an I/O
/// error, a file that cannot be opened or locked), as opposed to an error
/// of one append: the writer then stops writing for a while instead of
/// failing every append in turn against the same wall.
pub(super) fn is_storage_fault(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode as C;
    matches!(
        e.sqlite_error_code(),
        Some(
            C::DiskFull
                | C::SystemIoFailure
                | C::CannotOpen
                | C::DatabaseCorrupt
                | C::NotADatabase
                | C::ReadOnly
                | C::OutOfMemory
                | C::DatabaseBusy
                | C::DatabaseLocked
                | C::FileLockingProtocolFailed
                | C::PermissionDenied
        )
    )
}

/// What a panic said, for the log.
pub(super) fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}
