//! Webhooks from the event log: the marketplace's endpoints hear of
//! `conversation.started`, `message.created`, `message.read` and
//! `message.unread_reminder`, signed, at least once, in order per
//! conversation, resuming exactly where they stopped after a restart or a
//! crash. docs/api.md ("Webhooks") is the contract a receiver relies on.
//!
//! # Design
//!
//! Three tasks share one SQLite file in the data directory
//! (`webhooks.db`, see [`db`]):
//!
//! 1. the **consumer** subscribes to the log after its checkpoint and turns
//!    each batch of events into outbox rows and reminders, moving the
//!    checkpoint in the same transaction (so a restart neither skips nor
//!    repeats an event);
//! 2. the **sender** makes the deliveries of the outbox: per endpoint and
//!    conversation one at a time and in order, other conversations
//!    concurrently, retrying with exponential backoff and jitter, and
//!    moving a delivery that failed `--webhook-max-tries` times to the dead
//!    letters;
//! 3. the **reminder scheduler** fires `message.unread_reminder` when a
//!    message is still unread some time after it arrived and its recipient
//!    is offline, by recording a delivery in the outbox.
//!
//! Every delivery carries an id, `<position>-<type>`, `position` being the
//! log position of the event it reports; a delivery made again (a retry
//! whose earlier try did reach the receiver, a try cut by a restart) has
//! the same id and body, so receivers dedupe by id.
//!
//! Why an outbox rather than delivering straight from the subscription: a
//! slow or dead endpoint must not hold back the consumer (nor the
//! reminders, nor other endpoints' conversations), and what is owed must
//! survive a restart without replaying the log.
//!
//! # One node delivers
//!
//! Webhooks run on a node given `--webhook-url`. In a cluster, give it to
//! one node only: each node has its own data directory and so its own
//! checkpoint and outbox, and two nodes configured alike would each deliver
//! everything (the same ids, so a deduping receiver would cope, at twice
//! the cost). Moving webhooks to another node starts them there from the
//! log's end at that time (a new file), so stop the old node's first and
//! let its outbox drain. (A PostgreSQL advisory lock that hands the task
//! over automatically is left for later.)
//!
//! # Layout
//! - this file: [`Webhooks`], starting and stopping the tasks.
//! - [`settings`]: the flags and `SOUK_WEBHOOK_*` variables, and the
//!   registry of kinds ([`settings::Kind`]).
//! - [`db`]: the file, its tables and the checkpoint.
//! - `consumer`: the log subscription, into the outbox.
//! - `outbox`: the deliveries owed and their retry state.
//! - `deliver`: the sender: HTTP, order per conversation, backoff.
//! - [`sign`]: the HMAC-SHA256 signature.
//! - `payload`: the ids and JSON bodies.
//! - `reminder`: the unread reminder's scheduler.
//! - [`dead_letters`]: dead letters, status and retrying them.
//! - [`command`]: `souk webhooks status|retry`.
//! - [`error`]: the error type, [`WebhookError`].

pub mod command;
mod consumer;
pub mod db;
pub mod dead_letters;
mod deliver;
pub mod error;
mod outbox;
mod payload;
mod reminder;
pub mod settings;
pub mod sign;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

pub use deliver::{HEADER_ATTEMPT, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
pub use error::WebhookError;
pub use settings::{Kind, WebhookSettings};

use crate::metrics::{Metrics, WebhookStats};
use crate::state::AppState;

/// How long [`Webhooks::stop`] waits for the tasks to end.
const STOP_PATIENCE: Duration = Duration::from_secs(5);

/// What the three tasks share.
struct Shared {
    db: db::Db,
    settings: WebhookSettings,
    /// The HMAC key (validated to be there).
    secret: String,
    metrics: Arc<Metrics>,
    /// Told when the outbox got something new (the sender looks at once).
    wake_sender: Notify,
    /// Told when reminders were scheduled.
    wake_reminders: Notify,
}

impl Shared {
    fn stats(&self) -> &WebhookStats {
        &self.metrics.webhooks
    }
}

/// The running webhook tasks of a server.
pub struct Webhooks {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Webhooks {
    /// Checks `settings` and, when at least one endpoint is given, opens
    /// `<data_dir>/webhooks.db` and spawns the consumer, the sender and (when
    /// `message.unread_reminder` is delivered) the reminder scheduler on the
    /// current tokio runtime. A new file starts at the log's end as it is
    /// now. `None` when webhooks are off.
    pub async fn start(
        settings: &WebhookSettings,
        data_dir: &Path,
        state: &AppState,
    ) -> anyhow::Result<Option<Self>> {
        settings.validate()?;
        if !settings.enabled() {
            return Ok(None);
        }
        let path = data_dir.join(db::FILE_NAME);
        let db = db::Db::open(&path)
            .map_err(|e| anyhow::anyhow!("while opening {}: {e}", path.display()))?;
        // A new file starts at the log's end now, before the server takes
        // a request: every event recorded through it is delivered.
        let log_end = state
            .store
            .last_position()
            .await
            .map_err(|e| anyhow::anyhow!("while reading the log's end for webhooks: {e}"))?;
        db.call(move |c| db::start_checkpoint(c, log_end))
            .await
            .map_err(|e| anyhow::anyhow!("while opening {}: {e}", path.display()))?;
        let shared = Arc::new(Shared {
            db,
            settings: settings.clone(),
            secret: settings.secret.clone().unwrap_or_default(),
            metrics: state.metrics.clone(),
            wake_sender: Notify::new(),
            wake_reminders: Notify::new(),
        });
        shared.stats().enabled.store(true, Ordering::Relaxed);
        let (shutdown, stop) = watch::channel(false);
        let mut tasks = vec![
            tokio::spawn(consumer::run(
                shared.clone(),
                state.store.clone(),
                stop.clone(),
            )),
            tokio::spawn(deliver::run(shared.clone(), stop.clone())),
        ];
        if settings.delivers(Kind::UnreadReminder) {
            let sources = reminder::Sources {
                store: state.store.clone(),
                projections: state.projections.clone(),
                presence: state.presence.clone(),
            };
            tasks.push(tokio::spawn(reminder::run(shared.clone(), sources, stop)));
        }
        tracing::info!(
            endpoints = settings.urls.len(),
            kinds = %settings.kinds().iter().map(|k| k.as_str()).collect::<Vec<_>>().join(","),
            "webhooks started"
        );
        Ok(Some(Self { shutdown, tasks }))
    }

    /// Stops the tasks: the consumer after the batch in hand, the sender at
    /// once (tries under way are made again at the next start).
    pub async fn stop(self) {
        self.shutdown.send_replace(true);
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(STOP_PATIENCE, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

/// Resolves once `shutdown` says stop (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}
