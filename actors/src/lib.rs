//! One actix actor per conversation, the sharded registry that finds them, and
//! the typing timers.
//!
//! A conversation's actor is the only writer of its stream on this node. It
//! holds the conversation's [`CompactState`](souk_domain::CompactState) (what
//! deciding needs, not the messages' text),
//! rebuilt from the stream (`conversation-<uuid>`) on first use, together with
//! the stream's revision and the global position of its latest event. For
//! each command it runs the pure [`decide`](souk_domain::decide()), appends what
//! was decided with the revision it expects, and answers the caller only once
//! the log says the events are durable.
//!
//! # Why batching
//!
//! An append costs a round trip to the log (and, in the embedded log, a share
//! of an fsync), while deciding costs microseconds. So commands that arrive
//! while an append is in flight are not made to wait for one append each:
//! they queue, and when the append returns they are decided together, one
//! after another against the state (so their order and their `seq` are those
//! of arrival), and appended as ONE batch with one expected revision. Every
//! caller still gets its own reply, after the batch is durable. Fifty
//! senders to one conversation cost two or three appends, not fifty.
//!
//! # Why retry
//!
//! On one node the actor is the stream's only writer, so a conflict
//! (`WrongExpectedRevision`) means another node wrote to it: nodes that share
//! one log may each host an actor for the same conversation at once. The
//! actor reloads the stream and decides the same commands again (decide is
//! pure and commands carry their own ids and times, so this is safe; a
//! `clientMessageId` recorded by the other node is then recognised and not
//! recorded twice), together with the commands that queued meanwhile. Under
//! real contention (dozens of senders on three nodes) a node may lose several
//! rounds in a row, so it retries up to ten times in all, each time after a
//! short random pause (up to 1 ms, doubling per attempt, at most 40 ms) so
//! that the nodes stop colliding in step. Only then, the stream being
//! contended beyond reason, do the callers get [`ActorError::Conflict`]
//! (`409 conflict`) and may try again. After any other failed append
//! the state (which already holds the decided events) is dropped and rebuilt
//! from the log before the next decision, so it never runs ahead of the log.
//!
//! In a cluster (`RegistryConfig::shared_log`), an actor also reads what
//! its stream gained before it decides each batch: a customer on one node
//! and a vendor on another take turns in a conversation, and without that
//! read every turn would be decided on a stale state, conflict, pause and
//! reload the whole stream. One small read (usually empty) costs far less.
//!
//! # Why shards
//!
//! actix actors live on single-threaded arbiters. The registry starts one
//! arbiter per shard (by default one per core) with a `Shard`
//! actor on each; a conversation belongs to the shard chosen by its id, and
//! that shard alone keeps the map from id to actor and starts the
//! conversation's actor on its own arbiter. So the map needs no lock, the
//! load spreads over the cores, and the registry handle is just the shards'
//! addresses: `Clone + Send + Sync`, usable from actix-web handlers and from
//! the socket edge's tokio runtime alike. With `shards: 0` everything runs on
//! the current arbiter, which is what tests with a paused clock need.
//!
//! # Passivation and timers
//!
//! An actor quiet for `idle_timeout` (nothing queued or in flight, no typing
//! timer pending) reports to its shard, which lets it stop only if every job
//! forwarded to it has arrived; the shard then forgets it, so nothing is ever
//! sent to an actor that is stopping. Its state comes back from the log on
//! next use. A `StartTyping` (re)arms a timer for that side; when it fires,
//! `typing_timeout` after the last start, the actor executes
//! `StopTyping { reason: Expired }` itself. Timers run on tokio's clock, so
//! `tokio::time::pause()` drives them in tests.
//!
//! # Layout
//! - [`registry`]: [`RegistryConfig`], [`ConversationRegistry`], and the
//!   shard actor that owns each arbiter's conversations.
//! - `conversation`: the conversation actor: queue, batches, retries,
//!   typing timers, idle checks.
//! - `log`: loading a stream into a state, appending a batch, and looking
//!   up the messages older than the state's window that a batch's reads
//!   name (see [`CompactState`](souk_domain::CompactState): an actor's
//!   memory does not grow with its conversation's history).
//! - [`reply`]: [`CommandReply`] and [`ActorError`].
#![forbid(unsafe_code)]

mod conversation;
mod log;
pub mod registry;
pub mod reply;

pub use registry::{ConversationRegistry, RegistryConfig};
pub use reply::{ActorError, CommandReply};
