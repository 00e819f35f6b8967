//! A small world for the projection tests: a `MemoryStore`, the read models
//! in a temporary folder with their consumer running, and helpers that
//! record events the way the actors do (`decide` on the folded state, then
//! append at the expected revision).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use souk_domain::unread;
use souk_domain::{
    decide, evolve, Actor, Command, ConversationEvent, ConversationId, ConversationState,
    DisplayName, MessageContent, MessageId, MessageText, Operator, Participant, ProductCard,
    ProductCardInput, Role, SupportReason, SupportView, Timestamp, TypingStopReason, UserId,
};
use souk_projections::{rebuild, verify, ListQuery, Notification, ProjectionError, Projections};
use souk_store::{EventStore, ExpectedRevision, MemoryStore, NewEvent, Position};
use tempfile::TempDir;
use tokio::task::JoinHandle;

pub const WAIT: Duration = Duration::from_secs(10);

/// 2026-11-18T11:06:40Z.
pub const T0: i64 = 1_795_000_000_000;

pub fn user(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

pub fn name(s: &str) -> DisplayName {
    DisplayName::parse(s).unwrap()
}

pub fn product(id: &str, name: &str) -> ProductCard {
    ProductCard::parse(
        "product",
        ProductCardInput {
            id: id.into(),
            name: name.into(),
            price_minor: Some(49_999),
            currency: Some("EUR".into()),
            image_url: None,
            url: None,
        },
    )
    .unwrap()
}

pub fn actor(id: &str, role: Role, display: Option<&str>) -> Actor {
    Actor {
        id: user(id),
        role,
        name: display.map(name),
    }
}

pub struct World {
    pub store: Arc<MemoryStore>,
    pub dir: TempDir,
    pub projections: Projections,
    pub consumer: Option<JoinHandle<Result<(), ProjectionError>>>,
    pub states: HashMap<ConversationId, ConversationState>,
    /// The time of the next command, in ms; each command advances it by a
    /// second unless a test sets it.
    pub now: i64,
}

impl World {
    /// A world with its consumer running on the store.
    pub async fn new() -> Self {
        let mut w = Self::idle();
        w.consumer = Some(w.projections.start(w.store.clone()));
        w
    }

    /// A world whose consumer is not started.
    pub fn idle() -> Self {
        let store = Arc::new(MemoryStore::new());
        let dir = tempfile::tempdir().unwrap();
        let projections = Projections::open(&dir.path().join("readmodels.db")).unwrap();
        Self {
            store,
            dir,
            projections,
            consumer: None,
            states: HashMap::new(),
            now: T0,
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("readmodels.db")
    }

    pub fn dyn_store(&self) -> Arc<dyn EventStore> {
        self.store.clone()
    }

    fn tick(&mut self) -> Timestamp {
        let at = Timestamp::from_millis(self.now);
        self.now += 1000;
        at
    }

    /// Decides `command` on the conversation's state, appends what it yields
    /// and folds it in; returns the events.
    pub async fn exec(&mut self, id: ConversationId, command: Command) -> Vec<ConversationEvent> {
        let state = self.states.entry(id).or_default();
        let events = decide(state, &command).expect("the command is accepted");
        if events.is_empty() {
            return events;
        }
        let expected = match state.events_applied {
            0 => ExpectedRevision::NoStream,
            n => ExpectedRevision::Exact(n - 1),
        };
        self.store
            .append(
                &id.stream_name(),
                expected,
                events.iter().map(NewEvent::from_domain).collect(),
            )
            .await
            .unwrap();
        let s = std::mem::take(state);
        *state = events.iter().fold(s, evolve);
        events
    }

    pub async fn start(
        &mut self,
        customer: (&str, Option<&str>),
        vendor: (&str, Option<&str>),
        product: Option<ProductCard>,
    ) -> ConversationId {
        let (c, v) = (user(customer.0), user(vendor.0));
        let id = ConversationId::for_pair(&c, &v);
        let at = self.tick();
        self.exec(
            id,
            Command::StartConversation {
                conversation_id: id,
                customer: Participant {
                    id: c,
                    name: customer.1.map(name),
                },
                vendor: Participant {
                    id: v,
                    name: vendor.1.map(name),
                },
                product,
                by: Role::Customer,
                at,
            },
        )
        .await;
        id
    }

    /// The participant of `role` in the conversation, as an actor without a
    /// name.
    pub fn side(&self, id: ConversationId, role: Role) -> Actor {
        let info = self.states[&id].info.as_ref().unwrap();
        Actor {
            id: info.participant(role).id.clone(),
            role,
            name: None,
        }
    }

    pub async fn send_as(
        &mut self,
        id: ConversationId,
        by: Actor,
        content: MessageContent,
    ) -> MessageId {
        let at = self.tick();
        let message_id = MessageId::new();
        self.exec(
            id,
            Command::SendMessage {
                by,
                message_id,
                content,
                client_message_id: None,
                at,
            },
        )
        .await;
        message_id
    }

    pub async fn send(&mut self, id: ConversationId, role: Role, text: &str) -> MessageId {
        let by = self.side(id, role);
        self.send_as(
            id,
            by,
            MessageContent::Text(MessageText::parse(text).unwrap()),
        )
        .await
    }

    pub async fn send_product(
        &mut self,
        id: ConversationId,
        role: Role,
        card: ProductCard,
        caption: Option<&str>,
    ) -> MessageId {
        let by = self.side(id, role);
        let content = MessageContent::Product {
            product: card,
            caption: caption.map(|c| MessageText::parse(c).unwrap()),
        };
        self.send_as(id, by, content).await
    }

    pub async fn read(&mut self, id: ConversationId, role: Role, up_to: MessageId) {
        let by = self.side(id, role);
        let at = self.tick();
        self.exec(id, Command::MarkRead { by, up_to, at }).await;
    }

    pub async fn read_all(&mut self, id: ConversationId, role: Role) {
        let by = self.side(id, role);
        let at = self.tick();
        self.exec(id, Command::MarkAllRead { by, at }).await;
    }

    pub async fn typing(&mut self, id: ConversationId, role: Role, on: bool) {
        let by = self.side(id, role);
        let at = self.tick();
        let command = if on {
            Command::StartTyping { by, at }
        } else {
            Command::StopTyping {
                by,
                reason: TypingStopReason::Stopped,
                at,
            }
        };
        self.exec(id, command).await;
    }

    /// Operator `operator` reads the conversation's `view` for `reason`;
    /// returns what was recorded (nothing for a repeat).
    pub async fn support_access(
        &mut self,
        id: ConversationId,
        operator: &str,
        reason: &str,
        view: SupportView,
    ) -> Vec<ConversationEvent> {
        let at = self.tick();
        let command = Command::RecordSupportAccess {
            operator: Operator {
                id: user(operator),
                name: Some(name("Support")),
            },
            reason: SupportReason::parse(reason).unwrap(),
            view,
            at,
        };
        self.exec(id, command).await
    }

    /// Waits until the read models include the whole log.
    pub async fn sync(&self) -> Position {
        let end = self.store.last_position().await.unwrap();
        assert!(
            self.projections.wait_for(end, WAIT).await,
            "projections did not reach {end} (at {})",
            self.projections.position()
        );
        end
    }

    /// Stops the consumer and waits for it.
    pub async fn stop(&mut self) {
        self.projections.shutdown();
        if let Some(handle) = self.consumer.take() {
            handle.await.unwrap().unwrap();
        }
    }
}

/// Every unread figure recounted from the log up to `position` (inclusive):
/// `(per conversation and side, per user and side)`.
pub struct Recount {
    pub conversations: HashMap<(ConversationId, Role), u64>,
    pub inboxes: HashMap<(UserId, Role), u64>,
}

pub fn recount(store: &MemoryStore, position: Position) -> Recount {
    // Per conversation: participants, messages (seq, sender role), markers.
    struct Conv {
        ids: [UserId; 2],
        messages: Vec<(u64, Role)>,
        marker: [u64; 2],
    }
    let mut convs: HashMap<ConversationId, Conv> = HashMap::new();
    for recorded in store.all_events() {
        if recorded.position > position {
            break;
        }
        let id = ConversationId::from_stream_name(&recorded.stream).unwrap();
        match recorded.decode().unwrap() {
            ConversationEvent::ConversationStarted(e) => {
                convs.insert(
                    id,
                    Conv {
                        ids: [e.customer.id, e.vendor.id],
                        messages: Vec::new(),
                        marker: [0, 0],
                    },
                );
            }
            ConversationEvent::MessageSent(e) => convs
                .get_mut(&id)
                .unwrap()
                .messages
                .push((e.seq, e.sender.role)),
            ConversationEvent::MessageRead(e) => {
                let m = &mut convs.get_mut(&id).unwrap().marker[e.reader_role.index()];
                *m = (*m).max(e.up_to_seq);
            }
            _ => {}
        }
    }
    let mut out = Recount {
        conversations: HashMap::new(),
        inboxes: HashMap::new(),
    };
    for (id, c) in &convs {
        for role in [Role::Customer, Role::Vendor] {
            let n = c
                .messages
                .iter()
                .filter(|(seq, from)| unread::is_unread(*from, *seq, role, c.marker[role.index()]))
                .count() as u64;
            out.conversations.insert((*id, role), n);
            *out.inboxes
                .entry((c.ids[role.index()].clone(), role))
                .or_default() += n;
        }
    }
    out
}

/// Checks every notification against a recount of the log at its position.
pub fn check_notification(store: &MemoryStore, n: &Notification) {
    let r = recount(store, n.position);
    for role in [Role::Customer, Role::Vendor] {
        assert_eq!(
            n.unread[role.index()],
            r.conversations[&(n.conversation_id, role)],
            "unread of {role} at position {}",
            n.position
        );
        let id = match role {
            Role::Customer => &n.customer_id,
            Role::Vendor => &n.vendor_id,
        };
        assert_eq!(
            n.total_unread[role.index()],
            r.inboxes[&(id.clone(), role)],
            "total of {id} as {role} at position {}",
            n.position
        );
    }
}

/// Checks every participant's unread count in every conversation, and every
/// inbox total and breakdown, against a recount of the whole log.
pub async fn assert_unread_matches_the_log(w: &World) {
    let end = w.sync().await;
    let r = recount(&w.store, end);
    let participant = |id: &ConversationId, role: Role| {
        w.states[id]
            .info
            .as_ref()
            .unwrap()
            .participant(role)
            .id
            .clone()
    };
    for ((id, role), n) in &r.conversations {
        let who = participant(id, *role);
        let view = w
            .projections
            .conversation(*id, &who, *role)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(view.unread_count, *n, "{id} for {who} as {role}");
    }
    for ((who, role), total) in &r.inboxes {
        let summary = w.projections.unread(who, *role).await.unwrap();
        assert_eq!(summary.total, *total, "total of {who} as {role}");
        let expected: BTreeMap<String, u64> = r
            .conversations
            .iter()
            .filter(|((id, ro), n)| *ro == *role && **n > 0 && participant(id, *ro) == *who)
            .map(|((id, _), n)| (id.to_string(), *n))
            .collect();
        assert_eq!(
            summary.conversations, expected,
            "breakdown of {who} as {role}"
        );
        let page = w
            .projections
            .conversations(who, *role, ListQuery::default())
            .await
            .unwrap();
        assert_eq!(page.total_unread, *total);
    }
}

/// A small deterministic random source (xorshift64*), so that histories are
/// the same on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

const WORDS: [&str; 10] = [
    "bike",
    "helmet",
    "price",
    "available",
    "Größe",
    "自転車",
    "thanks",
    "tomorrow",
    "ÉTÉ",
    "ok",
];
const NAMES: [&str; 5] = ["Alice", "Bob", "Bolt Bikes", "Ümit", "Zoë"];

/// Records `commands` random commands: starts, sends (text and product,
/// sometimes under a new display name), reads (up to a message or all) and
/// typing, across up to 150 pairs; time advances by a second per command and
/// now and then by a day.
pub async fn random_history(w: &mut World, rng: &mut Rng, commands: usize) {
    let mut conversations: Vec<ConversationId> = w.states.keys().copied().collect();
    conversations.sort();
    for _ in 0..commands {
        if rng.below(50) == 0 {
            w.now += 86_400_000;
        }
        let roll = rng.below(100);
        if roll < 8 || conversations.is_empty() {
            let c = format!("c-{}", rng.below(30));
            let v = format!("v-{}", rng.below(5));
            let cn = (rng.below(2) == 0).then(|| rng.pick(&NAMES));
            let vn = (rng.below(2) == 0).then(|| rng.pick(&NAMES));
            let p = (rng.below(2) == 0).then(|| {
                let k = rng.below(6);
                product(&format!("p-{k}"), &format!("{} {k}", rng.pick(&WORDS)))
            });
            let id = w.start((&c, cn), (&v, vn), p).await;
            if !conversations.contains(&id) {
                conversations.push(id);
            }
            continue;
        }
        let id = rng.pick(&conversations);
        let role = if rng.below(2) == 0 {
            Role::Customer
        } else {
            Role::Vendor
        };
        let mut by = w.side(id, role);
        if rng.below(4) == 0 {
            by.name = Some(name(rng.pick(&NAMES)));
        }
        let at = Timestamp::from_millis(w.now);
        w.now += 1000;
        let command = match roll {
            8..=54 => {
                let text = format!("{} {}", rng.pick(&WORDS), rng.pick(&WORDS));
                let content = if rng.below(5) == 0 {
                    MessageContent::Product {
                        product: product(&format!("p-{}", rng.below(6)), rng.pick(&WORDS)),
                        caption: (rng.below(2) == 0).then(|| MessageText::parse(&text).unwrap()),
                    }
                } else {
                    MessageContent::Text(MessageText::parse(&text).unwrap())
                };
                Command::SendMessage {
                    by,
                    message_id: MessageId::new(),
                    content,
                    client_message_id: None,
                    at,
                }
            }
            55..=79 => {
                let messages = &w.states[&id].messages;
                if messages.is_empty() || rng.below(2) == 0 {
                    Command::MarkAllRead { by, at }
                } else {
                    let up_to = messages[rng.below(messages.len() as u64) as usize].message_id;
                    Command::MarkRead { by, up_to, at }
                }
            }
            _ => {
                if rng.below(2) == 0 {
                    Command::StartTyping { by, at }
                } else {
                    Command::StopTyping {
                        by,
                        reason: TypingStopReason::Expired,
                        at,
                    }
                }
            }
        };
        w.exec(id, command).await;
    }
}

/// Rebuilds the world's read models from its log, which must take them to
/// `end`; opens them again (at `end`) and checks them against the log.
pub async fn rebuild_and_reopen(w: &World, end: Position) -> Projections {
    assert_eq!(rebuild(&w.path(), w.dyn_store()).await.unwrap(), end);
    let reopened = Projections::open(&w.path()).unwrap();
    assert_eq!(reopened.position(), end);
    assert!(verify(&w.path(), w.dyn_store())
        .await
        .unwrap()
        .is_consistent());
    reopened
}
