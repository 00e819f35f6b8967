//! [`ConversationActor`]: one conversation's state, its command queue, its
//! batched appends and its typing timers.
//!
//! The actor is a small state machine driven by [`ConversationActor::pump`]:
//!
//! - not loaded: fold the stream (`log::load`), then go on;
//! - loaded and idle: take every command waiting at the head of the queue
//!   (up to [`MAX_BATCH`]), decide them one after another against the state,
//!   and append everything they record with ONE `append(expected revision)`;
//! - busy (a load or an append in flight): new jobs wait in the queue; they
//!   form the next batch.
//!
//! Each caller is answered once the batch holding its events is durable, with
//! the figures of the state right after its own command.
//!
//! Decided events are applied to the state before the append is confirmed
//! (no copy of a long conversation per batch). If the append fails, the state
//! is dropped and rebuilt from the log before anything else is decided, so the
//! state never runs ahead of the log for longer than an append.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix::WeakRecipient;
use souk_domain::{
    decide, Actor as User, Command, CompactState, ConversationEvent, ConversationId,
    ConversationInfo, DomainError, Facts, MessageSent, Role, Timestamp, TypingStopReason,
};
use souk_store::{EventStore, NewEvent, Position, RecordedEvent, StoreError};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::log::{self, Folded};
use crate::registry::{Idle, Weigh};
use crate::reply::{ActorError, CommandReply};

/// The most commands decided and appended together. Bounds the size of one
/// append (and of one transaction in the embedded log).
pub(crate) const MAX_BATCH: usize = 256;

/// How many times a batch is appended before its callers get
/// [`ActorError::Conflict`]: the first try and up to nine retries, each after
/// reloading the stream (see the crate docs, "Why retry").
pub(crate) const MAX_ATTEMPTS: u8 = 10;

/// The longest pause before a retry, whatever the attempt.
const MAX_BACKOFF: Duration = Duration::from_millis(40);

pub(crate) type ReplyTx = oneshot::Sender<Result<CommandReply, ActorError>>;
pub(crate) type StateTx = oneshot::Sender<Result<CompactState, ActorError>>;

/// Something asked of a conversation.
// `Execute` is nearly every job; boxing its command to shrink the rare
// `State` would cost an allocation per command.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Job {
    /// Decide and record a command. `reply` is `None` for the actor's own
    /// commands (typing expiry).
    Execute {
        command: Command,
        reply: Option<ReplyTx>,
    },
    /// A copy of the durable state, in queue order (after every command
    /// queued before it).
    State { reply: StateTx },
}

/// A job from the shard. Fire-and-forget (`do_send`) with the reply channel
/// inside: the caller waits on its own channel, and the shard's count of what
/// it forwarded stays exact (see [`Idle`]).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Enqueue(pub Job);

/// From the shard, after it has forgotten this actor: stop now.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Passivate;

/// From the shard, under memory pressure: report idle now if quiet (the
/// shard then lets this actor go as after its idle timeout).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Quiesce;

/// Timeouts every conversation actor of a registry shares.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    pub idle: Duration,
    pub typing: Duration,
    /// Read what the stream gained since the state was loaded before each
    /// batch is decided (cluster mode: other nodes write the stream too, and
    /// deciding on a stale state costs a conflict and a reload).
    pub refresh: bool,
}

/// One conversation. Lives on its shard's arbiter; only its shard holds its
/// address.
pub(crate) struct ConversationActor {
    id: ConversationId,
    stream: String,
    store: Arc<dyn EventStore>,
    /// Weak, so that a registry dropped by everyone lets its shard stop.
    shard: WeakRecipient<Idle>,
    /// Where the state's size is reported (the shard's memory budget).
    scale: WeakRecipient<Weigh>,
    /// Which incarnation of this conversation's actor this is, for the shard
    /// to tell a stale idle report from a current one.
    generation: u64,
    timeouts: Timeouts,
    /// The state as far as the log has it; `None` until loaded and after a
    /// failed append or load (reloaded before the next decision).
    log: Option<Folded>,
    queue: VecDeque<Job>,
    /// A load or an append is in flight.
    busy: bool,
    /// Jobs received from the shard, compared with the shard's count when
    /// reporting idle.
    received: u64,
    /// Last time a job arrived or finished.
    last_activity: Instant,
    /// Each side's typing expiry timer (customer 0, vendor 1), armed while
    /// that side is typing.
    typing_timers: [Option<SpawnHandle>; 2],
}

/// A command of the batch being decided.
struct BatchEntry {
    command: Command,
    reply: Option<ReplyTx>,
}

/// What deciding a command gave, waiting for the batch to be durable.
type Outcome = Result<Draft, DomainError>;

/// A reply but for the recorded events and position, which the append gives.
struct Draft {
    /// The command's events within the batch.
    events: Range<usize>,
    created: bool,
    message: Option<MessageSent>,
    duplicate_of: Option<u64>,
    info: Option<ConversationInfo>,
    unread: u64,
    last_read_at: Option<Timestamp>,
}

/// What to do once the stream is loaded.
enum AfterLoad {
    /// Go on with the queue.
    Pump,
    /// Re-decide this batch, which conflicted on try `attempt - 1`, and
    /// append it again as try `attempt`.
    Retry(Vec<BatchEntry>, u8),
}

impl ConversationActor {
    pub(crate) fn new(
        id: ConversationId,
        store: Arc<dyn EventStore>,
        shard: WeakRecipient<Idle>,
        scale: WeakRecipient<Weigh>,
        generation: u64,
        timeouts: Timeouts,
    ) -> Self {
        Self {
            id,
            stream: id.stream_name(),
            store,
            shard,
            scale,
            generation,
            timeouts,
            log: None,
            queue: VecDeque::new(),
            busy: false,
            received: 0,
            last_activity: Instant::now(),
            typing_timers: [None, None],
        }
    }

    fn touch(&mut self) {
        self.last_activity = Instant::now();
    }

    /// Tells the shard how much the state holds now.
    fn weigh(&self) {
        if let (Some(folded), Some(scale)) = (&self.log, self.scale.upgrade()) {
            scale.do_send(Weigh {
                conversation: self.id,
                generation: self.generation,
                bytes: folded.state.heap_bytes(),
            });
        }
    }

    /// Asks the shard to let this actor go now, if it is quiet.
    fn offer_to_leave(&mut self, ctx: &mut Context<Self>) {
        if !self.quiet() {
            return;
        }
        match self.shard.upgrade() {
            Some(shard) => shard.do_send(Idle {
                conversation: self.id,
                generation: self.generation,
                received: self.received,
            }),
            None => ctx.stop(),
        }
    }

    /// Moves the queue forward as far as it can without waiting.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        while !self.busy {
            let Some(front) = self.queue.front() else {
                return;
            };
            let Some(folded) = &self.log else {
                self.load(AfterLoad::Pump, ctx);
                return;
            };
            if matches!(front, Job::State { .. }) {
                if let Some(Job::State { reply }) = self.queue.pop_front() {
                    let _ = reply.send(Ok(folded.state.clone()));
                }
                continue;
            }
            let mut batch = Vec::new();
            while batch.len() < MAX_BATCH && matches!(self.queue.front(), Some(Job::Execute { .. }))
            {
                if let Some(Job::Execute { command, reply }) = self.queue.pop_front() {
                    batch.push(BatchEntry { command, reply });
                }
            }
            if self.timeouts.refresh {
                self.refresh_then_run(batch, ctx);
            } else {
                self.recall_then_run(batch, 0, ctx);
            }
        }
    }

    /// Catches the state up with the stream (what other nodes wrote), then
    /// runs `batch`: one cheap read instead of a conflict, a pause and a
    /// reload of the whole stream.
    fn refresh_then_run(&mut self, batch: Vec<BatchEntry>, ctx: &mut Context<Self>) {
        let Some(folded) = self.log.take() else {
            self.run_batch(batch, 0, ctx);
            return;
        };
        self.busy = true;
        let refresh = log::catch_up(self.store.clone(), self.stream.clone(), folded);
        ctx.spawn(refresh.into_actor(self).map(move |result, act, ctx| {
            act.busy = false;
            match result {
                Ok(folded) => {
                    act.log = Some(folded);
                    act.sync_typing_timers([None, None], ctx);
                    act.recall_then_run(batch, 0, ctx);
                }
                Err(e) => {
                    // The state is gone with the failed read: loaded again
                    // for the next job.
                    warn!(conversation = %act.id, error = %e, "could not catch up with the stream");
                    for p in batch {
                        answer(p.reply, Err(ActorError::Store(e.clone())));
                    }
                }
            }
            act.touch();
            act.pump(ctx);
        }));
    }

    /// Looks up in the log the messages older than the state's window that
    /// `batch`'s reads name (a read of an old message, or of an id the
    /// conversation does not have), then runs it. Most batches need none
    /// and run at once.
    fn recall_then_run(&mut self, batch: Vec<BatchEntry>, attempt: u8, ctx: &mut Context<Self>) {
        let recall = self
            .log
            .as_ref()
            .and_then(|folded| folded.state.recall_for(batch.iter().map(|p| &p.command)));
        let Some(recall) = recall else {
            self.run_batch(batch, attempt, ctx);
            return;
        };
        self.busy = true;
        let lookup = log::recall(self.store.clone(), self.stream.clone(), recall);
        ctx.spawn(lookup.into_actor(self).map(move |result, act, ctx| {
            act.busy = false;
            match (result, act.log.as_mut()) {
                (Ok(recall), Some(folded)) => {
                    folded.state.remember(recall);
                    act.run_batch(batch, attempt, ctx);
                }
                (result, _) => {
                    // The state stays as it was (a lookup changes nothing):
                    // the callers get the error, the next batch goes on.
                    let e = result.err().unwrap_or_else(|| {
                        StoreError::Unavailable("the conversation's state was dropped".into())
                    });
                    warn!(conversation = %act.id, error = %e, "could not look up older messages");
                    for p in batch {
                        answer(p.reply, Err(ActorError::Store(e.clone())));
                    }
                }
            }
            act.touch();
            act.pump(ctx);
        }));
    }

    /// Folds the stream into a fresh state; `after` says what comes next.
    fn load(&mut self, after: AfterLoad, ctx: &mut Context<Self>) {
        self.busy = true;
        let load = log::load(self.store.clone(), self.stream.clone());
        ctx.spawn(load.into_actor(self).map(move |result, act, ctx| {
            act.busy = false;
            match result {
                Ok(folded) => {
                    act.log = Some(folded);
                    act.weigh();
                    act.sync_typing_timers([None, None], ctx);
                    if let AfterLoad::Retry(mut batch, attempt) = after {
                        // Commands that queued meanwhile go with it: they
                        // came later, so their order is kept, and the
                        // contended stream gets one append instead of two.
                        while batch.len() < MAX_BATCH
                            && matches!(act.queue.front(), Some(Job::Execute { .. }))
                        {
                            if let Some(Job::Execute { command, reply }) = act.queue.pop_front() {
                                batch.push(BatchEntry { command, reply });
                            }
                        }
                        act.recall_then_run(batch, attempt, ctx);
                    }
                }
                Err(e) => {
                    warn!(conversation = %act.id, error = %e, "could not load the conversation");
                    if let AfterLoad::Retry(batch, _) = after {
                        for p in batch {
                            answer(p.reply, Err(ActorError::Store(e.clone())));
                        }
                    }
                    // Nothing can be decided without the state: every waiting
                    // caller gets the error; the next job tries again.
                    for job in act.queue.drain(..) {
                        match job {
                            Job::Execute { reply, .. } => {
                                answer(reply, Err(ActorError::Store(e.clone())))
                            }
                            Job::State { reply } => {
                                let _ = reply.send(Err(ActorError::Store(e.clone())));
                            }
                        }
                    }
                }
            }
            act.touch();
            act.pump(ctx);
        }));
    }

    /// Decides `batch` in order against the loaded state and appends what it
    /// records as one batch; `attempt` is 0 for the first try, then counts
    /// the retries after conflicts. Answers at once when nothing is recorded.
    fn run_batch(&mut self, batch: Vec<BatchEntry>, attempt: u8, ctx: &mut Context<Self>) {
        let folded = self
            .log
            .as_mut()
            .expect("a batch is decided on a loaded state");
        let position_before = folded.position;
        let expected = folded.expected();
        let mut events: Vec<NewEvent> = Vec::new();
        let mut outcomes = Vec::with_capacity(batch.len());
        for entry in &batch {
            outcomes.push(match decide(&folded.state, &entry.command) {
                Err(e) => Err(e),
                Ok(decided) => {
                    let start = events.len();
                    for event in &decided {
                        events.push(NewEvent::from_domain(event));
                        folded.apply(event);
                    }
                    Ok(Draft::new(
                        &folded.state,
                        &entry.command,
                        &decided,
                        start..events.len(),
                    ))
                }
            });
        }
        // Decided: what was recalled for the batch, and the messages beyond
        // the window, can go.
        folded.state.trim();

        if events.is_empty() {
            // Nothing new: the state is unchanged, hence durable.
            let starts = typing_starts(&batch, &outcomes);
            answer_batch(batch, outcomes, &[], position_before);
            self.sync_typing_timers(starts, ctx);
            self.touch();
            return;
        }

        self.busy = true;
        let append = log::append(self.store.clone(), self.stream.clone(), expected, events);
        ctx.spawn(append.into_actor(self).map(move |result, act, ctx| {
            act.busy = false;
            act.batch_appended(batch, outcomes, result, attempt, position_before, ctx);
            act.touch();
            act.pump(ctx);
        }));
    }

    fn batch_appended(
        &mut self,
        batch: Vec<BatchEntry>,
        outcomes: Vec<Outcome>,
        result: Result<Vec<RecordedEvent>, StoreError>,
        attempt: u8,
        position_before: Position,
        ctx: &mut Context<Self>,
    ) {
        match result {
            Ok(recorded) => {
                let folded = self
                    .log
                    .as_mut()
                    .expect("the state stays loaded while its append is in flight");
                if let Some(last) = recorded.last() {
                    folded.revision = Some(last.revision);
                    folded.position = last.position;
                }
                let complete = folded.state.is_complete();
                let starts = typing_starts(&batch, &outcomes);
                answer_batch(batch, outcomes, &recorded, position_before);
                self.sync_typing_timers(starts, ctx);
                if !complete {
                    // A read moved a marker to a message the batch did not
                    // recall (never expected): the unread count is unknown,
                    // so the state is folded again before the next batch.
                    warn!(conversation = %self.id, "state incomplete after a batch, reloading");
                    self.log = None;
                    return;
                }
                if recorded
                    .iter()
                    .any(|e| e.event_type == ConversationEvent::MESSAGE_SENT)
                {
                    self.weigh();
                }
            }
            Err(StoreError::WrongExpectedRevision { .. }) if attempt + 1 < MAX_ATTEMPTS => {
                // Someone else (another node) wrote to the stream: after a
                // short random pause (so that contending nodes stop meeting
                // at the same instant), catch up with the log and decide the
                // same commands again.
                let pause = backoff(attempt);
                debug!(conversation = %self.id, attempt, ?pause, "append conflict, reloading and retrying");
                self.log = None;
                self.busy = true;
                ctx.run_later(pause, move |act, ctx| {
                    act.busy = false;
                    act.load(AfterLoad::Retry(batch, attempt + 1), ctx);
                });
            }
            Err(e) => {
                // The state holds events the log may not have: rebuild it
                // before the next decision.
                self.log = None;
                let conflict = matches!(e, StoreError::WrongExpectedRevision { .. });
                if !conflict {
                    warn!(conversation = %self.id, error = %e, "append failed");
                }
                for p in batch {
                    let e = e.clone();
                    let err = if conflict {
                        ActorError::Conflict(e)
                    } else {
                        ActorError::Store(e)
                    };
                    answer(p.reply, Err(err));
                }
            }
        }
    }

    /// Keeps one expiry timer armed for each side that is typing, and none for
    /// a side that is not. `starts[side]` is the time of a start the last
    /// batch accepted for that side (recorded or not): it re-arms the timer.
    fn sync_typing_timers(&mut self, starts: [Option<Timestamp>; 2], ctx: &mut Context<Self>) {
        let Some(folded) = &self.log else {
            return;
        };
        for role in [Role::Customer, Role::Vendor] {
            let side = role.index();
            if !folded.state.typing[side] {
                if let Some(handle) = self.typing_timers[side].take() {
                    ctx.cancel_future(handle);
                }
                continue;
            }
            let started = match starts[side] {
                Some(at) => at,
                // Already armed by the start that turned typing on.
                None if self.typing_timers[side].is_some() => continue,
                // Typing on in the log without a timer here (loaded state):
                // count from the recorded start.
                None => folded.last_typing_start[side].unwrap_or_else(Timestamp::now),
            };
            let Some(info) = &folded.state.info else {
                continue;
            };
            let by = User {
                id: info.participant(role).id.clone(),
                role,
                name: None,
            };
            let expires_at = started.plus_millis(millis(self.timeouts.typing));
            if let Some(handle) = self.typing_timers[side].take() {
                ctx.cancel_future(handle);
            }
            self.typing_timers[side] =
                Some(ctx.run_later(self.timeouts.typing, move |act, ctx| {
                    act.typing_expired(by, expires_at, ctx)
                }));
        }
    }

    /// No new start for a whole typing timeout: record the stop like any
    /// command (nothing is recorded if typing is off by then).
    fn typing_expired(&mut self, by: User, at: Timestamp, ctx: &mut Context<Self>) {
        self.typing_timers[by.role.index()] = None;
        self.queue.push_back(Job::Execute {
            command: Command::StopTyping {
                by,
                reason: TypingStopReason::Expired,
                at,
            },
            reply: None,
        });
        self.touch();
        self.pump(ctx);
    }

    /// Nothing queued, nothing in flight, no typing timer to honour.
    fn quiet(&self) -> bool {
        !self.busy && self.queue.is_empty() && self.typing_timers.iter().all(Option::is_none)
    }

    fn schedule_idle_check(&mut self, after: Duration, ctx: &mut Context<Self>) {
        ctx.run_later(after, |act, ctx| act.idle_check(ctx));
    }

    /// Quiet for the whole idle timeout: ask the shard to let this actor go.
    /// The shard agrees only if it forwarded nothing since (see [`Idle`]);
    /// either way the check runs again later.
    fn idle_check(&mut self, ctx: &mut Context<Self>) {
        let idle = self.timeouts.idle;
        let quiet_for = self.last_activity.elapsed();
        if !self.quiet() {
            self.schedule_idle_check(idle, ctx);
        } else if quiet_for < idle {
            self.schedule_idle_check(idle - quiet_for, ctx);
        } else {
            match self.shard.upgrade() {
                Some(shard) => shard.do_send(Idle {
                    conversation: self.id,
                    generation: self.generation,
                    received: self.received,
                }),
                // The registry is gone: nobody can reach this actor.
                None => {
                    ctx.stop();
                    return;
                }
            }
            self.schedule_idle_check(idle, ctx);
        }
    }
}

impl Actor for ConversationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.schedule_idle_check(self.timeouts.idle, ctx);
    }
}

impl Handler<Enqueue> for ConversationActor {
    type Result = ();

    /// Queues the job; it is handled in arrival order.
    fn handle(&mut self, Enqueue(job): Enqueue, ctx: &mut Context<Self>) {
        self.received += 1;
        self.touch();
        self.queue.push_back(job);
        self.pump(ctx);
    }
}

impl Handler<Quiesce> for ConversationActor {
    type Result = ();

    fn handle(&mut self, _: Quiesce, ctx: &mut Context<Self>) {
        self.offer_to_leave(ctx);
    }
}

impl Handler<Passivate> for ConversationActor {
    type Result = ();

    /// The shard has removed this actor from its map after its idle report,
    /// having forwarded nothing since: the queue is empty, nothing can arrive.
    fn handle(&mut self, _: Passivate, ctx: &mut Context<Self>) {
        debug!(conversation = %self.id, generation = self.generation, "passivated");
        ctx.stop();
    }
}

impl Draft {
    /// The reply figures for `command`, given the state right after its
    /// `decided` events.
    fn new(
        state: &CompactState,
        command: &Command,
        decided: &[ConversationEvent],
        events: Range<usize>,
    ) -> Self {
        // Whose figures the reply carries: the side that started, or the
        // participant acting; an operator has none.
        let role = match command {
            Command::StartConversation { by, .. } => Some(*by),
            Command::RecordSupportAccess { .. } => None,
            other => Some(
                other
                    .actor()
                    .expect("every participant's command has an actor")
                    .role,
            ),
        };
        let created = decided.iter().any(|e| {
            matches!(
                e,
                ConversationEvent::ConversationStarted(_) | ConversationEvent::MessageSent(_)
            )
        });
        let message = decided.iter().find_map(|e| match e {
            ConversationEvent::MessageSent(m) => Some(m.clone()),
            _ => None,
        });
        // A retried send: the earlier message's seq (the actor keeps no
        // text; the caller reads the message from the read models).
        let duplicate_of = match command {
            Command::SendMessage {
                by,
                client_message_id: Some(cid),
                ..
            } if message.is_none() => state.client_message_seq(by.role, cid),
            _ => None,
        };
        Self {
            events,
            created,
            message,
            duplicate_of,
            info: state.info.clone(),
            unread: role.map_or(0, |role| state.unread(role)),
            last_read_at: role.and_then(|role| state.last_read_at(role)),
        }
    }
}

/// For each side, the time of the last start the batch accepted.
fn typing_starts(batch: &[BatchEntry], outcomes: &[Outcome]) -> [Option<Timestamp>; 2] {
    let mut starts = [None, None];
    for (p, o) in batch.iter().zip(outcomes) {
        if let (Command::StartTyping { by, at }, Ok(_)) = (&p.command, o) {
            starts[by.role.index()] = Some(*at);
        }
    }
    starts
}

/// Answers every caller of a durable batch. `recorded` are the batch's events
/// as recorded; `position` is the stream's position before the batch.
fn answer_batch(
    batch: Vec<BatchEntry>,
    outcomes: Vec<Outcome>,
    recorded: &[RecordedEvent],
    mut position: Position,
) {
    for (entry, outcome) in batch.into_iter().zip(outcomes) {
        let result = match outcome {
            Err(e) => Err(ActorError::Domain(e)),
            Ok(draft) => {
                let mine = recorded[draft.events].to_vec();
                if let Some(last) = mine.last() {
                    position = last.position;
                }
                Ok(CommandReply {
                    recorded: mine,
                    position,
                    created: draft.created,
                    message: draft.message,
                    duplicate_of: draft.duplicate_of,
                    info: draft.info,
                    unread: draft.unread,
                    last_read_at: draft.last_read_at,
                })
            }
        };
        answer(entry.reply, result);
    }
}

fn answer(reply: Option<ReplyTx>, result: Result<CommandReply, ActorError>) {
    if let Some(tx) = reply {
        // A caller that stopped waiting is not an error.
        let _ = tx.send(result);
    }
}

/// The pause before retry `attempt + 1`: random, up to 1 ms doubled with
/// each attempt, at most [`MAX_BACKOFF`].
fn backoff(attempt: u8) -> Duration {
    let ceiling = Duration::from_millis(1u64 << attempt.min(6)).min(MAX_BACKOFF);
    // Any source of randomness will do; a v4 UUID is one at hand.
    let unit = (uuid::Uuid::new_v4().as_u128() % 1_000_000) as u32;
    ceiling.mul_f64(f64::from(unit) / 1_000_000.0)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
