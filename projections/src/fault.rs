//! Failures injected into the consumer's writes, for the tests of how it
//! survives them ([`crate::Projections::inject_write_fault`]).
//!
//! A real full disk is what the tests use where they can (a small tmpfs);
//! this switch covers what cannot be provoked on demand: an I/O error
//! (`EIO`) at the commit of a batch. The error is raised inside the
//! transaction, after the batch's rows were written and before the commit,
//! so the rollback of a half-applied batch is exercised as well.

use std::sync::Mutex;

use rusqlite::ffi;

/// A failure of every commit of the consumer while it is switched on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFault {
    /// `SQLITE_FULL`: "database or disk is full".
    DiskFull,
    /// `SQLITE_IOERR_WRITE`: "disk I/O error".
    Io,
}

impl WriteFault {
    fn error(self) -> rusqlite::Error {
        let (code, what) = match self {
            Self::DiskFull => (ffi::SQLITE_FULL, "database or disk is full (injected)"),
            Self::Io => (ffi::SQLITE_IOERR_WRITE, "disk I/O error (injected)"),
        };
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(what.into()))
    }
}

/// The switch, shared by the handle and the consumer's writer.
#[derive(Debug, Default)]
pub(crate) struct FaultSwitch(Mutex<Option<WriteFault>>);

impl FaultSwitch {
    pub(crate) fn set(&self, fault: Option<WriteFault>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = fault;
    }

    /// The error to fail a commit with, while switched on.
    pub(crate) fn check(&self) -> Result<(), rusqlite::Error> {
        match *self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(fault) => Err(fault.error()),
            None => Ok(()),
        }
    }
}
