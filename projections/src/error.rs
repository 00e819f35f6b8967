//! [`ProjectionError`]: everything that can go wrong in the read side.

use souk_domain::DecodeError;
use souk_store::{Position, StoreError};
use thiserror::Error;

/// A failure of the projections. Only [`ProjectionError::InvalidCursor`] is
/// the caller's fault (`400 invalid_request`); every other variant is an
/// infrastructure failure (`503 unavailable`, logged in full).
#[derive(Debug, Error)]
pub enum ProjectionError {
    /// The `cursor` of a conversation list was not one this crate made.
    #[error("invalid cursor")]
    InvalidCursor,
    /// The read-model database failed.
    #[error("read model database: {0}")]
    Database(#[from] rusqlite::Error),
    /// The event log failed while the projections read it.
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    /// An event of the log could not be decoded. The consumer stops there
    /// rather than skip a fact: a read model that silently missed an event
    /// would drift from the log forever.
    #[error("cannot decode the event at position {position}: {source}")]
    Decode {
        position: Position,
        #[source]
        source: DecodeError,
    },
    /// A stored row could not be read back into a view (a bug or a damaged
    /// file: [`crate::rebuild`] repairs it).
    #[error("corrupt read model row: {0}")]
    Corrupt(String),
    /// [`crate::Projections::start`] was called while the consumer runs.
    #[error("the projection consumer is already running")]
    AlreadyStarted,
    /// The read-model file or its folder could not be created or removed.
    #[error("read model file: {0}")]
    Io(#[from] std::io::Error),
    /// A blocking task panicked or was cancelled.
    #[error("blocking task failed: {0}")]
    Task(String),
    /// The read models are being caught up with the log (at start, or
    /// rebuilt after they were found missing or damaged): a query would
    /// answer from an old state, so it is refused until they are.
    #[error("the read models are catching up with the log (position {position} of {target})")]
    CatchingUp {
        position: Position,
        target: Position,
    },
    /// The consumer failed (and retries) while events already notified are
    /// not in the read models yet: a query would miss them.
    #[error("the read models are behind the log since a failure ({failure}); retrying")]
    Behind { failure: String },
}

impl ProjectionError {
    /// Whether the read-model file itself is damaged ("database disk image
    /// is malformed", "file is not a database", a row that cannot be read
    /// back): it must be set aside and rebuilt from the log, retrying on it
    /// cannot help.
    pub fn is_damage(&self) -> bool {
        match self {
            Self::Database(e) => is_damage(e),
            Self::Corrupt(_) => true,
            _ => false,
        }
    }

    /// Whether retrying cannot help either: an event the read models cannot
    /// take (the consumer stops there rather than skip a fact), a second
    /// consumer, a closed log.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Decode { .. } | Self::AlreadyStarted | Self::Store(StoreError::Closed)
        )
    }
}

/// Whether SQLite says the file is damaged.
pub(crate) fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

impl From<tokio::task::JoinError> for ProjectionError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::Task(e.to_string())
    }
}
