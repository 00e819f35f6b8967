//! Shared helpers for the actor tests: participants, commands, a store
//! wrapper that counts appends and can inject conflicts, and clock helpers.
#![allow(dead_code)] // each test binary uses a different subset

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use souk_domain::{
    Actor, ClientMessageId, Command, ConversationEvent, ConversationId, DisplayName,
    MessageContent, MessageId, MessageSent, MessageText, Participant, Role, Timestamp, UserId,
};
use souk_store::testing::{Intercepted, Interceptor};
use souk_store::{
    AppendResult, Direction, EventStore, ExpectedRevision, MemoryStore, NewEvent, ReadFrom,
    RecordedEvent, StoreError,
};

pub fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

pub fn customer_of(id: &str) -> Actor {
    Actor {
        id: user(id),
        role: Role::Customer,
        name: Some(DisplayName::parse("Cleo").unwrap()),
    }
}

pub fn vendor_of(id: &str) -> Actor {
    Actor {
        id: user(id),
        role: Role::Vendor,
        name: Some(DisplayName::parse("Vic's Bikes").unwrap()),
    }
}

pub fn customer() -> Actor {
    customer_of("c-1")
}

pub fn vendor() -> Actor {
    vendor_of("v-1")
}

/// A fixed point in time plus `ms` milliseconds.
pub fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(1_795_000_000_000 + ms)
}

pub fn conversation_of(customer: &Actor, vendor: &Actor) -> ConversationId {
    ConversationId::for_pair(&customer.id, &vendor.id)
}

pub fn start_of(customer: &Actor, vendor: &Actor, at: Timestamp) -> Command {
    Command::StartConversation {
        conversation_id: conversation_of(customer, vendor),
        customer: Participant {
            id: customer.id.clone(),
            name: customer.name.clone(),
        },
        vendor: Participant {
            id: vendor.id.clone(),
            name: vendor.name.clone(),
        },
        product: None,
        by: Role::Customer,
        at,
    }
}

pub fn send(by: &Actor, text: &str, client_message_id: Option<&str>, at: Timestamp) -> Command {
    Command::SendMessage {
        by: by.clone(),
        message_id: MessageId::new(),
        content: MessageContent::Text(MessageText::parse(text).unwrap()),
        client_message_id: client_message_id.map(|c| ClientMessageId::parse(c).unwrap()),
        at,
    }
}

/// Every event of `conversation`'s stream, decoded.
pub async fn stream_events(
    store: &dyn EventStore,
    conversation: ConversationId,
) -> Vec<ConversationEvent> {
    store
        .read_stream(
            &conversation.stream_name(),
            ReadFrom::Start,
            Direction::Forwards,
            100_000,
        )
        .await
        .unwrap()
        .iter()
        .map(|e| e.decode().unwrap())
        .collect()
}

/// The messages of `conversation`'s stream, in stream order.
pub async fn stream_messages(
    store: &dyn EventStore,
    conversation: ConversationId,
) -> Vec<MessageSent> {
    stream_events(store, conversation)
        .await
        .into_iter()
        .filter_map(|e| match e {
            ConversationEvent::MessageSent(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// Lets every ready task (shard, actors, the store's futures) run. Only
/// scheduling, no time passes.
pub async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// Moves the paused clock forward by `ms` and lets the timers' work finish.
pub async fn advance(ms: u64) {
    tokio::time::advance(Duration::from_millis(ms)).await;
    settle().await;
}

/// A [`MemoryStore`] that counts append calls and, when told to, refuses
/// every append with a conflict (as if another node always wrote first).
pub type Instrumented = Intercepted<Instruments>;

/// A new [`Instrumented`] store over an empty [`MemoryStore`].
pub fn instrumented() -> Arc<Instrumented> {
    Arc::new(Intercepted::new(
        Arc::new(MemoryStore::new()),
        Instruments::default(),
    ))
}

/// The counters and switches of an [`Instrumented`] store.
#[derive(Default)]
pub struct Instruments {
    appends: AtomicUsize,
    /// Stream reads (`read_stream` calls).
    reads: AtomicUsize,
    conflict_always: AtomicBool,
    fail_reads: AtomicBool,
    /// Microseconds each append waits before it reaches the log, as a round
    /// trip to a database server would.
    append_delay_us: AtomicUsize,
}

impl Instruments {
    pub fn appends(&self) -> usize {
        self.appends.load(Ordering::SeqCst)
    }

    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    pub fn set_conflict_always(&self, on: bool) {
        self.conflict_always.store(on, Ordering::SeqCst);
    }

    /// Makes each append take `delay` (a network round trip) before it is
    /// checked against the stream.
    pub fn set_append_delay(&self, delay: Duration) {
        self.append_delay_us
            .store(delay.as_micros() as usize, Ordering::SeqCst);
    }

    /// While set, stream reads fail with `Unavailable`.
    pub fn set_fail_reads(&self, on: bool) {
        self.fail_reads.store(on, Ordering::SeqCst);
    }
}

#[async_trait]
impl Interceptor for Instruments {
    async fn append(
        &self,
        inner: &Arc<dyn EventStore>,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        let delay = self.append_delay_us.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_micros(delay as u64)).await;
        }
        if self.conflict_always.load(Ordering::SeqCst) {
            let last = inner
                .read_stream(stream, ReadFrom::End, Direction::Backwards, 1)
                .await?;
            return Err(StoreError::WrongExpectedRevision {
                stream: stream.to_owned(),
                expected,
                actual: last.first().map(|e| e.revision + 1),
            });
        }
        inner.append(stream, expected, events).await
    }

    async fn read_stream(
        &self,
        inner: &Arc<dyn EventStore>,
        stream: &str,
        from: ReadFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("reads switched off".to_owned()));
        }
        inner.read_stream(stream, from, direction, limit).await
    }
}
