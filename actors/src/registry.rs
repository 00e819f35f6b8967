//! [`ConversationRegistry`]: finds or starts a conversation's actor, over
//! shards that each own their conversations.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_rt::Arbiter;
use souk_domain::{Command, CompactState, ConversationId, DomainError};
use souk_store::EventStore;
use tokio::sync::oneshot;
use tracing::debug;

use crate::conversation::{ConversationActor, Enqueue, Job, Passivate, Quiesce, Timeouts};
use crate::reply::{ActorError, CommandReply};

/// How the registry runs its actors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Arbiters (threads) to spread actors over; default: the number of
    /// cores. 0 runs every actor on the current arbiter (tests, paused clock).
    pub shards: usize,
    /// Actors idle this long stop; their state comes back from the log on
    /// next use. Default 10 minutes.
    pub idle_timeout: Duration,
    /// Typing stops by itself this long after the last start. Default 5 s.
    pub typing_timeout: Duration,
    /// The memory that live actors' states may hold in all (bytes, shared
    /// evenly by the shards). Past it, the least recently used quiet actors
    /// are passivated before their idle timeout. Default 256 MiB.
    pub memory_budget: usize,
    /// Other processes write the same streams (nodes sharing one log): an
    /// actor reads what its stream gained before deciding each batch, rather
    /// than conflicting and reloading. Default false (one node).
    pub shared_log: bool,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            shards: std::thread::available_parallelism().map_or(1, |n| n.get()),
            idle_timeout: Duration::from_secs(600),
            typing_timeout: Duration::from_secs(5),
            memory_budget: 256 << 20,
            shared_log: false,
        }
    }
}

/// The way to a conversation's actor. Cheap to clone and `Send + Sync`: it
/// holds the shards' addresses only, no lock.
#[derive(Clone)]
pub struct ConversationRegistry {
    shards: Arc<[Addr<Shard>]>,
    /// The shards' arbiters, stopped when the last clone is dropped. Empty
    /// with `shards: 0`.
    _arbiters: Arc<Arbiters>,
}

impl std::fmt::Debug for ConversationRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConversationRegistry")
            .field("shards", &self.shards.len())
            .finish()
    }
}

impl ConversationRegistry {
    /// Starts the shards. Must be called inside a running actix System (e.g.
    /// from actix-web's runtime or `#[actix_rt::test]`).
    pub fn start(store: Arc<dyn EventStore>, config: RegistryConfig) -> Self {
        let timeouts = Timeouts {
            // A zero timeout would make the idle check spin.
            idle: config.idle_timeout.max(Duration::from_millis(1)),
            typing: config.typing_timeout,
            refresh: config.shared_log,
        };
        let budget = config.memory_budget / config.shards.max(1);
        if config.shards == 0 {
            let shard = Shard::new(store, timeouts, budget).start();
            return Self {
                shards: Arc::from(vec![shard]),
                _arbiters: Arc::new(Arbiters(Vec::new())),
            };
        }
        let arbiters: Vec<Arbiter> = (0..config.shards).map(|_| Arbiter::new()).collect();
        let shards: Vec<Addr<Shard>> = arbiters
            .iter()
            .map(|arbiter| {
                let store = store.clone();
                Shard::start_in_arbiter(&arbiter.handle(), move |_| {
                    Shard::new(store, timeouts, budget)
                })
            })
            .collect();
        Self {
            shards: Arc::from(shards),
            _arbiters: Arc::new(Arbiters(arbiters)),
        }
    }

    /// Finds or starts the conversation's actor and has it handle `command`.
    ///
    /// A `StartConversation` must name `conversation` itself; since ids are
    /// derived from the participant pair, one naming another id is refused as
    /// [`DomainError::ParticipantsMismatch`].
    pub async fn execute(
        &self,
        conversation: ConversationId,
        command: Command,
    ) -> Result<CommandReply, ActorError> {
        if let Command::StartConversation {
            conversation_id, ..
        } = &command
        {
            if *conversation_id != conversation {
                return Err(DomainError::ParticipantsMismatch.into());
            }
        }
        let (tx, rx) = oneshot::channel();
        self.route(
            conversation,
            Job::Execute {
                command,
                reply: Some(tx),
            },
        );
        rx.await.map_err(|_| ActorError::Unavailable)?
    }

    /// A copy of the conversation's current state (loads it if needed), as of
    /// after every command sent to it before.
    pub async fn state(&self, conversation: ConversationId) -> Result<CompactState, ActorError> {
        let (tx, rx) = oneshot::channel();
        self.route(conversation, Job::State { reply: tx });
        rx.await.map_err(|_| ActorError::Unavailable)?
    }

    /// The bytes live actors' states hold, as they last reported (for
    /// /metrics and tests).
    pub async fn live_bytes(&self) -> usize {
        let counts = self.shards.iter().map(|shard| shard.send(CountBytes));
        futures::future::join_all(counts)
            .await
            .into_iter()
            .map(|count| count.unwrap_or(0))
            .sum()
    }

    /// Number of live actors (for /metrics and tests).
    pub async fn live_actors(&self) -> usize {
        let counts = self.shards.iter().map(|shard| shard.send(CountLive));
        futures::future::join_all(counts)
            .await
            .into_iter()
            .map(|count| count.unwrap_or(0))
            .sum()
    }

    fn route(&self, conversation: ConversationId, job: Job) {
        let shard = &self.shards[shard_index(conversation, self.shards.len())];
        // A closed mailbox (system shutdown) drops the job and with it the
        // reply channel: the caller sees `Unavailable`.
        shard.do_send(Route { conversation, job });
    }
}

/// Which shard owns `conversation`. Conversation ids are UUIDs (v5 hashes of
/// the pair), so their bits are already evenly spread.
fn shard_index(conversation: ConversationId, shards: usize) -> usize {
    let bits = conversation.uuid().as_u128();
    let mixed = (bits as u64) ^ ((bits >> 64) as u64);
    (mixed % shards as u64) as usize
}

/// Stops the shards' arbiters (and with them their actors) when the last
/// registry handle goes.
struct Arbiters(Vec<Arbiter>);

impl Drop for Arbiters {
    fn drop(&mut self) {
        for arbiter in &self.0 {
            arbiter.stop();
        }
    }
}

/// Owns the conversations of one arbiter: the map from id to actor, touched
/// only on this arbiter's thread.
pub(crate) struct Shard {
    store: Arc<dyn EventStore>,
    timeouts: Timeouts,
    conversations: HashMap<ConversationId, Entry>,
    next_generation: u64,
    /// What this shard's actors' states may hold in all, and what they last
    /// reported holding.
    budget: usize,
    weight: usize,
    /// Counts routed jobs: an entry's `last_used` is the count at its last.
    clock: u64,
}

struct Entry {
    addr: Addr<ConversationActor>,
    generation: u64,
    /// Jobs forwarded to this actor, compared with what it has received when
    /// it reports idle.
    forwarded: u64,
    /// The bytes its state last reported.
    bytes: usize,
    last_used: u64,
    /// Asked to go early (memory pressure); not asked again.
    asked: bool,
}

impl Shard {
    fn new(store: Arc<dyn EventStore>, timeouts: Timeouts, budget: usize) -> Self {
        Self {
            store,
            timeouts,
            conversations: HashMap::new(),
            next_generation: 0,
            budget,
            weight: 0,
            clock: 0,
        }
    }

    /// Over budget: asks the least recently used actors (but `keep`) to go
    /// early, as many as it takes to get back under it. An actor that is
    /// busy declines; the others report idle and leave as after their idle
    /// timeout (see [`Idle`]).
    fn relieve(&mut self, keep: ConversationId) {
        if self.weight <= self.budget {
            return;
        }
        let mut candidates: Vec<(u64, ConversationId, usize)> = self
            .conversations
            .iter()
            .filter(|(id, e)| **id != keep && !e.asked)
            .map(|(id, e)| (e.last_used, *id, e.bytes))
            .collect();
        candidates.sort_unstable_by_key(|c| c.0);
        let mut expected = self.weight;
        for (_, id, bytes) in candidates {
            if expected <= self.budget {
                break;
            }
            if let Some(entry) = self.conversations.get_mut(&id) {
                entry.asked = true;
                entry.addr.do_send(Quiesce);
                expected = expected.saturating_sub(bytes);
            }
        }
    }

    /// Forgets an entry's weight (it left or was replaced).
    fn unweigh(&mut self, bytes: usize) {
        self.weight = self.weight.saturating_sub(bytes);
    }

    /// The conversation's actor, started on this arbiter if there is none or
    /// if the one known has stopped.
    fn actor(&mut self, conversation: ConversationId, ctx: &mut Context<Self>) -> &mut Entry {
        let live = self
            .conversations
            .get(&conversation)
            .is_some_and(|e| e.addr.connected());
        if !live {
            self.next_generation += 1;
            let generation = self.next_generation;
            let actor = ConversationActor::new(
                conversation,
                self.store.clone(),
                ctx.address().downgrade().recipient(),
                ctx.address().downgrade().recipient(),
                generation,
                self.timeouts,
            );
            let replaced = self.conversations.insert(
                conversation,
                Entry {
                    addr: actor.start(),
                    generation,
                    forwarded: 0,
                    bytes: 0,
                    last_used: self.clock,
                    asked: false,
                },
            );
            if let Some(old) = replaced {
                self.unweigh(old.bytes);
            }
        }
        self.conversations
            .get_mut(&conversation)
            .expect("inserted above")
    }
}

impl Actor for Shard {
    type Context = Context<Self>;
}

/// A job for a conversation, from the registry.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Route {
    conversation: ConversationId,
    job: Job,
}

impl Handler<Route> for Shard {
    type Result = ();

    /// Forwards the job to the conversation's actor, starting it if needed.
    ///
    /// The actor runs on this same thread, so an address found connected here
    /// stays connected until the job is in its mailbox; and an actor only
    /// passivates through [`Idle`], after leaving this map, so nothing is
    /// ever forwarded to an actor about to stop. An actor that stopped
    /// otherwise (its arbiter stopping) is replaced by a new one.
    fn handle(&mut self, Route { conversation, job }: Route, ctx: &mut Context<Self>) {
        self.clock += 1;
        let clock = self.clock;
        let entry = self.actor(conversation, ctx);
        entry.forwarded += 1;
        entry.last_used = clock;
        entry.addr.do_send(Enqueue(job));
    }
}

/// From a conversation actor: quiet for the idle timeout, having received
/// `received` jobs.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Idle {
    pub conversation: ConversationId,
    pub generation: u64,
    pub received: u64,
}

impl Handler<Idle> for Shard {
    type Result = ();

    /// Lets the actor go if it is the current one and has received every job
    /// forwarded to it: then nothing is on its way to it, and once out of the
    /// map nothing will be. Otherwise the report is stale; it will report
    /// again.
    fn handle(&mut self, idle: Idle, _: &mut Context<Self>) {
        let current = self
            .conversations
            .get(&idle.conversation)
            .is_some_and(|e| e.generation == idle.generation && e.forwarded == idle.received);
        if current {
            if let Some(entry) = self.conversations.remove(&idle.conversation) {
                debug!(conversation = %idle.conversation, early = entry.asked, "passivating idle conversation");
                self.unweigh(entry.bytes);
                entry.addr.do_send(Passivate);
            }
        } else if let Some(entry) = self.conversations.get_mut(&idle.conversation) {
            // It received a job meanwhile: in use again, it may be asked
            // again later.
            entry.asked = false;
        }
    }
}

/// From a conversation actor: its state now holds `bytes` (after a load or
/// a batch).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Weigh {
    pub conversation: ConversationId,
    pub generation: u64,
    pub bytes: usize,
}

impl Handler<Weigh> for Shard {
    type Result = ();

    fn handle(&mut self, w: Weigh, _: &mut Context<Self>) {
        let Some(entry) = self.conversations.get_mut(&w.conversation) else {
            return;
        };
        if entry.generation != w.generation {
            return;
        }
        let old = std::mem::replace(&mut entry.bytes, w.bytes);
        self.weight = self.weight.saturating_sub(old) + w.bytes;
        self.relieve(w.conversation);
    }
}

/// How many bytes this shard's actors' states hold.
#[derive(Message)]
#[rtype(result = "usize")]
struct CountBytes;

impl Handler<CountBytes> for Shard {
    type Result = usize;

    fn handle(&mut self, _: CountBytes, _: &mut Context<Self>) -> usize {
        self.weight
    }
}

/// How many conversation actors this shard has running.
#[derive(Message)]
#[rtype(result = "usize")]
struct CountLive;

impl Handler<CountLive> for Shard {
    type Result = usize;

    fn handle(&mut self, _: CountLive, _: &mut Context<Self>) -> usize {
        self.conversations
            .values()
            .filter(|e| e.addr.connected())
            .count()
    }
}

/// Test access to a conversation's actor, to stop it behind the shard's back.
#[cfg(test)]
#[derive(Message)]
#[rtype(result = "Option<Addr<ConversationActor>>")]
struct Lookup(ConversationId);

#[cfg(test)]
impl Handler<Lookup> for Shard {
    type Result = Option<Addr<ConversationActor>>;

    fn handle(&mut self, Lookup(id): Lookup, _: &mut Context<Self>) -> Self::Result {
        self.conversations.get(&id).map(|e| e.addr.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use souk_domain::{
        Actor as User, MessageContent, MessageId, MessageText, Participant, Role, Timestamp, UserId,
    };
    use souk_store::MemoryStore;

    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

    #[test]
    fn the_registry_is_a_cheap_shareable_handle() {
        assert_send_sync_clone::<ConversationRegistry>();
    }

    #[test]
    fn conversations_spread_evenly_over_shards() {
        for n in 1..8 {
            let mut counts = vec![0usize; n];
            for i in 0..4000 {
                let customer = UserId::parse(&format!("c-{i}")).unwrap();
                let vendor = UserId::parse(&format!("v-{}", i % 13)).unwrap();
                let id = ConversationId::for_pair(&customer, &vendor);
                let s = shard_index(id, n);
                assert_eq!(s, shard_index(id, n), "stable");
                counts[s] += 1;
            }
            let fair = 4000 / n;
            assert!(
                counts
                    .iter()
                    .all(|&c| c > fair * 8 / 10 && c < fair * 12 / 10),
                "{n} shards: {counts:?}"
            );
        }
    }

    fn user(id: &str, role: Role) -> User {
        User {
            id: UserId::parse(id).unwrap(),
            role,
            name: None,
        }
    }

    fn send(by: &User, text: &str) -> Command {
        Command::SendMessage {
            by: by.clone(),
            message_id: MessageId::new(),
            content: MessageContent::Text(MessageText::parse(text).unwrap()),
            client_message_id: None,
            at: Timestamp::from_millis(0),
        }
    }

    /// An actor that stopped without going through the shard (as if it died
    /// between lookup and send) is replaced, and the job reaches the new one.
    #[actix_rt::test]
    async fn a_stopped_actor_is_restarted_on_the_next_job() {
        let store = Arc::new(MemoryStore::new());
        let config = RegistryConfig {
            shards: 0,
            ..RegistryConfig::default()
        };
        let registry = ConversationRegistry::start(store, config);
        let (c, v) = (user("c-1", Role::Customer), user("v-1", Role::Vendor));
        let (id, start) = Command::start_conversation(
            Participant {
                id: c.id.clone(),
                name: None,
            },
            Participant {
                id: v.id.clone(),
                name: None,
            },
            None,
            Role::Customer,
            Timestamp::from_millis(0),
        );
        registry.execute(id, start).await.unwrap();
        registry.execute(id, send(&c, "one")).await.unwrap();

        let shard = &registry.shards[0];
        let first = shard.send(Lookup(id)).await.unwrap().unwrap();
        first.do_send(Passivate);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!first.connected());

        let two = registry.execute(id, send(&v, "two")).await.unwrap();
        assert_eq!(two.message.unwrap().seq, 2);
        let second = shard.send(Lookup(id)).await.unwrap().unwrap();
        assert!(second.connected() && second != first);
        assert_eq!(registry.live_actors().await, 1);
    }
}
