//! [`WebhookError`]: what can stop a webhook task's run (it then runs again
//! after a pause, from its checkpoint) or a `souk webhooks` command.

use souk_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The webhooks' own SQLite file (`webhooks.db`) failed.
    #[error("webhooks.db: {0}")]
    Db(#[from] rusqlite::Error),
    /// The event log failed or closed.
    #[error("event log: {0}")]
    Log(#[from] StoreError),
    /// The read models could not answer (the unread reminder).
    #[error("read models: {0}")]
    ReadModels(#[from] souk_projections::ProjectionError),
    /// A blocking task panicked or was cancelled.
    #[error("task: {0}")]
    Task(String),
    /// Data that is not what it must be (a conversation's stream that does
    /// not start with `ConversationStarted`).
    #[error("unexpected data: {0}")]
    Corrupt(String),
}

impl From<tokio::task::JoinError> for WebhookError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::Task(e.to_string())
    }
}
