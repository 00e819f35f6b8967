//! The read side of souk: every read model behind the REST routes
//! (conversation lists, history, unread counts, search, vendor analytics),
//! maintained from the event log in a SQLite database of its own
//! (`<data-dir>/readmodels.db`, WAL), and the notifications that the
//! Socket.IO edge relays.
//!
//! # Design
//!
//! One consumer task ([`Projections::start`]) subscribes to the whole log
//! after the read models' checkpoint. For whatever the subscription has
//! ready (up to [`BATCH_CAP`] events) it computes each event's figures in
//! memory (`live`: unread counts per conversation and per inbox, the
//! message), publishes the position it reached (a `watch`) and one
//! [`Notification`] per event (a `broadcast`) at once, and hands the batch to
//! the **write-behind** task. That task applies what it was handed in
//! **one** SQLite transaction that also moves the checkpoint, at the latest
//! [`WRITE_BEHIND`] after the first event arrived, sooner when
//! [`BATCH_CAP`] events wait or when someone waits to read them; after each
//! commit it publishes the committed position (a second `watch`, for
//! read-your-writes: [`Projections::wait_for`]). When the read models fall
//! [`MAX_BEHIND`] events behind, the consumer waits for them (back-pressure:
//! memory stays bounded when SQLite is slower than the log).
//!
//! So the relay hears of an event without waiting for any SQLite commit (or
//! its WAL checkpoint), and the read models commit in large groups under
//! load. Reads stay consistent with what was published: every query first
//! waits (asking for an immediate commit) until the read models hold every
//! event already notified, so a client that heard of a message finds it in
//! its history.
//!
//! Applying is a pure function of the events: no clock, no randomness, no
//! batch-dependent state. So [`rebuild`] (replaying the log into empty
//! tables) gives exactly the rows that were maintained live, and [`verify`]
//! proves it by rebuilding into a scratch file and comparing every row.
//!
//! Queries run on blocking threads over a small pool of read connections;
//! WAL lets them read a consistent snapshot while the write-behind writes.
//!
//! # Why the checkpoint shares the transaction
//!
//! If the read models and the checkpoint were committed separately, a crash
//! between the two would either re-apply events (counting a message twice in
//! an unread total) or skip them (losing it). In one transaction they move
//! together: after any crash the file holds the effect of exactly the events
//! up to its checkpoint, and the consumer resumes from there. As a second
//! guard, a batch skips events at or before the stored checkpoint.
//!
//! # Tables
//!
//! - `checkpoint (id = 1, position)`: the last applied log position.
//! - `conversations`: one row per conversation: both participants' ids,
//!   latest names and last activity, the product card (JSON, plus its id and
//!   name), `created_at`, `updated_at` (last message or creation), `last_seq`,
//!   each side's read marker (`*_read_seq`) and unread count (`*_unread`),
//!   and the first customer message / first vendor response after it (for
//!   analytics). Indexed by `(customer_id, updated_at, id)` and
//!   `(vendor_id, updated_at, id)` for the lists.
//! - `messages`: one row per message, keyed `(conversation_id, seq)`, unique
//!   `id`, with the conversation's vendor (indexed with `sent_at` for
//!   analytics) and `read_at`, the time the recipient's marker first covered
//!   it.
//! - `inboxes (user_id, role, unread)`: each user's unread total per side: a
//!   user id acting as customer and as vendor has two separate inboxes.
//! - `search_docs` and the FTS5 index `search_index`: see [`search`].
//!
//! Typing events change no table (they are relayed with the current figures
//! and move the checkpoint). The file carries a schema version
//! (`PRAGMA user_version`).
//!
//! # Disposable and self-healing
//!
//! The read models follow from the log, so nothing in them is precious: a
//! file that is missing, of another schema version, or damaged (SQLite's
//! `quick_check` at the first run, or "malformed"/"not a database" at any
//! write or query) is set aside (renamed with the time, never deleted) and
//! rebuilt from the log, in bulk when it is far behind. The consumer
//! survives every failure that retrying can cure (a full disk, an I/O
//! error, the log away, a panic): it runs again after a growing pause and
//! resumes from its checkpoint (see `supervise`). Meanwhile
//! [`Projections::health`] says what it does, and queries wait briefly and
//! then refuse ([`ProjectionError::CatchingUp`], [`ProjectionError::Behind`])
//! rather than answer from read models that miss what the log holds.
//!
//! Unread for a side is the number of messages from the other side with a
//! `seq` above that side's read marker; it is kept per conversation (a read
//! recounts it from `messages`) and the inbox total moves by exactly the
//! same deltas in the same transaction, so neither can drift.
//!
//! # Layout
//!
//! - this file: the crate's docs, its modules and what it exports.
//! - `handle`: [`Projections`], the handle (opening, starting and stopping
//!   the consumer, the positions and their waits).
//! - `config`: [`Config`], the consumer's pacing.
//! - `consumer`: one run of the consumer (batches, figures, publishing,
//!   back-pressure).
//! - `write_behind`: the task that commits the consumer's batches.
//! - `notifications`: subscribing, the recent ones for a lagging receiver,
//!   pacing to the slowest receiver.
//! - `read`: the read connections and the handle's queries.
//! - `live`: the figures of notifications, in memory.
//! - [`views`], the wire objects and query parameters.
//! - `schema`: the tables, connections, the checkpoint.
//! - `apply`: events to rows, one transaction per batch.
//! - `query`: the list, conversation, history, message and unread queries.
//! - [`feed`]: the live feed, the one gap-free stream of notifications
//!   from any position (kept ones, else rebuilt from the log, then live).
//! - [`search`]: what search matches and how (FTS5 word prefixes, newest first).
//! - [`analytics`]: vendor analytics and their definitions.
//! - `rebuild`: the writer shared by the consumer, the bulk build of
//!   [`rebuild`] and [`verify`].
//! - `supervise`: the consumer's keeper (runs, retries, rebuilds).
//! - [`health`]: what the consumer does, for `/healthz` and `/metrics`.
//! - `file`: the file as a whole (integrity, set aside, put in place),
//!   [`FILE_NAME`].
//! - `fault`: failures injected into the consumer's commits, for tests.
//! - [`error`], with [`ProjectionError`].
#![forbid(unsafe_code)]

pub mod analytics;
mod apply;
mod config;
mod consumer;
pub mod error;
mod fault;
pub mod feed;
mod file;
mod handle;
pub mod health;
mod live;
mod notifications;
mod query;
mod read;
mod rebuild;
mod recent;
mod schema;
pub mod search;
mod supervise;
pub mod views;
mod write_behind;

pub use config::Config;
pub use consumer::{BATCH_CAP, MAX_BEHIND};
pub use error::ProjectionError;
pub use fault::WriteFault;
pub use feed::{Feed, FeedError};
pub use file::FILE_NAME;
pub use handle::Projections;
pub use health::{Health, State};
pub use notifications::{NOTIFICATION_CAPACITY, RECENT_BYTES, RECENT_NOTIFICATIONS};
pub use rebuild::{rebuild, rebuild_with_progress, verify, Difference, Progress, VerifyReport};
pub use views::{
    ConversationPage, ConversationView, DayFigures, HistoryQuery, HourFigures, ListQuery,
    MessagePage, MessageView, Notification, ParticipantView, Percentiles, TopProduct,
    UnreadSummary, VendorAnalytics,
};
pub use write_behind::WRITE_BEHIND;
