//! The read-model file as a whole: whether it is sound, setting a bad one
//! aside, putting a rebuilt one in place.
//!
//! Read models are disposable: everything in them follows from the log. So
//! a file that is damaged or of another schema is never repaired in place:
//! it is renamed out of the way (kept, under a name with the time, for
//! whoever wants to look at it: nothing is deleted) and a new one is built
//! from the log. A rebuilt file is made complete under a scratch name and
//! then renamed over the live one, so the live name never holds half a
//! rebuild.
//!
//! These functions assume that nobody has the file open: the caller keeps
//! its own connections away (see `ReadPool::exclusive`), and a second
//! process on the same data directory is not supported while they run.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, OpenFlags};

use crate::error::{self, ProjectionError};
use crate::schema::SCHEMA_VERSION;

/// The file name of the read models in the data directory.
pub const FILE_NAME: &str = "readmodels.db";

/// What [`check`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Soundness {
    /// No file yet.
    Missing,
    /// Opens, has this schema (or none yet) and, when checked thoroughly,
    /// passes SQLite's `quick_check`.
    Sound,
    /// SQLite calls it damaged (what it said).
    Damaged(String),
    /// Made by another version of souk.
    OtherSchema(i64),
}

/// The companions SQLite keeps next to a database in WAL mode.
const COMPANIONS: [&str; 3] = ["", "-wal", "-shm"];

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Looks at the file at `path`: always whether SQLite can open it and which
/// schema it has; with `thorough`, also every page of every table and
/// index (`PRAGMA quick_check`: a few hundred milliseconds per hundred
/// megabytes). An I/O error is an error, not a verdict.
pub(crate) fn check(path: &Path, thorough: bool) -> Result<Soundness, ProjectionError> {
    if !path.exists() {
        return Ok(Soundness::Missing);
    }
    let verdict = |e: rusqlite::Error| -> Result<Soundness, ProjectionError> {
        if error::is_damage(&e) {
            Ok(Soundness::Damaged(e.to_string()))
        } else {
            Err(e.into())
        }
    };
    let conn = match Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(conn) => conn,
        Err(e) => return verdict(e),
    };
    let version: i64 = match conn.pragma_query_value(None, "user_version", |r| r.get(0)) {
        Ok(v) => v,
        Err(e) => return verdict(e),
    };
    if version != SCHEMA_VERSION && version != 0 {
        return Ok(Soundness::OtherSchema(version));
    }
    if !thorough {
        return Ok(Soundness::Sound);
    }
    let found = conn.prepare("PRAGMA quick_check(5)").and_then(|mut stmt| {
        stmt.query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()
    });
    match found {
        Ok(rows) if rows == ["ok"] => Ok(Soundness::Sound),
        Ok(rows) => Ok(Soundness::Damaged(rows.join("; "))),
        Err(e) => verdict(e),
    }
}

/// Renames the file at `path` (and its WAL companions) out of the way, to
/// `<name>.<why>-<UTC time>` next to it; returns the new name of the main
/// file. Nothing is deleted.
pub(crate) fn set_aside(path: &Path, why: &str) -> Result<PathBuf, ProjectionError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| FILE_NAME.into());
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let mut aside = path.with_file_name(format!("{name}.{why}-{stamp}"));
    let mut n = 1;
    while COMPANIONS.iter().any(|s| with_suffix(&aside, s).exists()) {
        aside = path.with_file_name(format!("{name}.{why}-{stamp}-{n}"));
        n += 1;
    }
    for suffix in COMPANIONS {
        let from = with_suffix(path, suffix);
        if from.exists() {
            std::fs::rename(&from, with_suffix(&aside, suffix))?;
        }
    }
    sync_dir(path)?;
    Ok(aside)
}

/// Puts the complete file at `scratch` in place of the one at `path`
/// (whose WAL companions are removed first: left next to the new file they
/// would be read as its own).
pub(crate) fn install(scratch: &Path, path: &Path) -> Result<(), ProjectionError> {
    for suffix in ["-wal", "-shm"] {
        match std::fs::remove_file(with_suffix(path, suffix)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    std::fs::rename(scratch, path)?;
    sync_dir(path)
}

/// Makes the renames in the folder of `path` durable.
fn sync_dir(path: &Path) -> Result<(), ProjectionError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A scratch file next to `path`, removed (with its companions) when
/// dropped unless it was installed.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    /// A new name next to `path` for `what` ("rebuild", "verify").
    pub(crate) fn next_to(path: &Path, what: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| FILE_NAME.into());
        let scratch = path.with_file_name(format!(
            "{name}.{what}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        // A leftover of an earlier process with the same id.
        Self::remove(&scratch);
        Self(scratch)
    }

    fn remove(path: &Path) {
        for suffix in COMPANIONS {
            // Best effort: a leftover scratch file is harmless.
            let _ = std::fs::remove_file(with_suffix(path, suffix));
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        Self::remove(&self.0);
    }
}
