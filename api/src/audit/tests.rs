//! Tests of the audit module on the in-memory log: the fold reads no
//! further than asked, the state at a revision, transcripts and their
//! verification (every byte counts), the HTML rendering.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use souk_domain::{
    Actor, Command, ConversationId, ConversationState, MessageContent, MessageId, MessageText,
    Participant, Role, Timestamp, UserId,
};
use souk_store::testing::{Intercepted, Interceptor};
use souk_store::{
    Direction, EventStore, ExpectedRevision, MemoryStore, NewEvent, ReadFrom, RecordedEvent,
    StoreError,
};

use super::state::{fold, state_at, Until};
use super::transcript::{self, verify_file, verify_json, GeneratedBy, TranscriptError};

fn actor(id: &str, role: Role, name: Option<&str>) -> Actor {
    Actor {
        id: UserId::parse(id).unwrap(),
        role,
        name: name.map(|n| souk_domain::DisplayName::parse(n).unwrap()),
    }
}

/// A conversation driven through the domain's decide into `store`.
struct Chat {
    store: Arc<dyn EventStore>,
    id: ConversationId,
    state: ConversationState,
    customer: Actor,
    vendor: Actor,
    clock: i64,
}

impl Chat {
    async fn start(store: Arc<dyn EventStore>) -> Self {
        let customer = actor("c-ada", Role::Customer, Some("Ada <admin>"));
        let vendor = actor("v-shop", Role::Vendor, Some("Shop & Co"));
        let (id, start) = Command::start_conversation(
            Participant {
                id: customer.id.clone(),
                name: customer.name.clone(),
            },
            Participant {
                id: vendor.id.clone(),
                name: vendor.name.clone(),
            },
            None,
            Role::Customer,
            Timestamp::from_millis(1_795_000_000_000),
        );
        let mut chat = Self {
            store,
            id,
            state: ConversationState::default(),
            customer,
            vendor,
            clock: 1_795_000_000_000,
        };
        chat.run(start).await;
        chat
    }

    fn at(&mut self) -> Timestamp {
        self.clock += 1000;
        Timestamp::from_millis(self.clock)
    }

    async fn run(&mut self, command: Command) {
        let events = souk_domain::decide(&self.state, &command).unwrap();
        let new: Vec<NewEvent> = events.iter().map(NewEvent::from_domain).collect();
        self.store
            .append(&self.id.stream_name(), ExpectedRevision::Any, new)
            .await
            .unwrap();
        for e in &events {
            self.state = souk_domain::evolve(std::mem::take(&mut self.state), e);
        }
    }

    async fn say(&mut self, role: Role, text: &str) -> MessageId {
        let by = match role {
            Role::Customer => self.customer.clone(),
            Role::Vendor => self.vendor.clone(),
        };
        let message_id = MessageId::new();
        let at = self.at();
        self.run(Command::SendMessage {
            by,
            message_id,
            content: MessageContent::Text(MessageText::parse(text).unwrap()),
            client_message_id: None,
            at,
        })
        .await;
        message_id
    }

    async fn read(&mut self, role: Role, up_to: MessageId) {
        let by = match role {
            Role::Customer => self.customer.clone(),
            Role::Vendor => self.vendor.clone(),
        };
        let at = self.at();
        self.run(Command::MarkRead { by, up_to, at }).await;
    }
}

fn by() -> GeneratedBy {
    GeneratedBy {
        id: "c-ada".to_owned(),
        role: "customer".to_owned(),
        name: Some("Ada".to_owned()),
    }
}

#[tokio::test]
async fn the_state_at_a_revision_is_the_fold_up_to_it() {
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let mut chat = Chat::start(store.clone()).await;
    let m1 = chat.say(Role::Customer, "hello").await; // revision 1
    chat.say(Role::Vendor, "hi").await; // 2
    chat.read(Role::Vendor, m1).await; // 3

    let before = state_at(&*store, chat.id, Some(2))
        .await
        .unwrap()
        .to_json()
        .to_value();
    assert_eq!(before["at"], 2);
    assert_eq!(before["lastRevision"], 3);
    assert_eq!(before["eventsApplied"], 3);
    assert_eq!(before["event"]["revision"], 2);
    assert_eq!(before["event"]["type"], "MessageSent");
    assert_eq!(before["chainValid"], true);
    assert_eq!(before["sides"]["vendor"]["unread"], 1);
    assert_eq!(before["messages"][0]["readAt"], serde_json::Value::Null);

    let after = state_at(&*store, chat.id, Some(3))
        .await
        .unwrap()
        .to_json()
        .to_value();
    assert_eq!(after["sides"]["vendor"]["unread"], 0);
    assert!(after["messages"][0]["readAt"].is_string());
    let event_hash = after["event"]["hash"].as_str().unwrap();
    assert_eq!(event_hash.len(), 64);

    let latest = state_at(&*store, chat.id, None)
        .await
        .unwrap()
        .to_json()
        .to_value();
    assert_eq!(latest, after);
    let err = state_at(&*store, chat.id, Some(4)).await.unwrap_err();
    assert_eq!(err.code, crate::error::ErrorCode::InvalidRequest);
    let unknown = state_at(
        &*store,
        ConversationId::for_pair(
            &UserId::parse("c-x").unwrap(),
            &UserId::parse("v-x").unwrap(),
        ),
        None,
    )
    .await;
    assert_eq!(unknown.unwrap_err().code, crate::error::ErrorCode::NotFound);
}

/// A log that counts the events its stream reads return.
struct Counting {
    read: AtomicUsize,
}

#[async_trait]
impl Interceptor for Counting {
    async fn read_stream(
        &self,
        inner: &Arc<dyn EventStore>,
        stream: &str,
        from: ReadFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let page = inner.read_stream(stream, from, direction, limit).await?;
        self.read.fetch_add(page.len(), Ordering::SeqCst);
        Ok(page)
    }
}

#[tokio::test]
async fn a_state_early_in_a_long_stream_reads_only_that_far() {
    let counting = Arc::new(Intercepted::new(
        Arc::new(MemoryStore::new()),
        Counting {
            read: AtomicUsize::new(0),
        },
    ));
    let store: Arc<dyn EventStore> = counting.clone();
    let mut chat = Chat::start(store.clone()).await;
    for i in 0..2500 {
        chat.say(Role::Customer, &format!("m{i}")).await;
    }
    counting.read.store(0, Ordering::SeqCst);
    let early = state_at(&*store, chat.id, Some(5)).await.unwrap();
    assert_eq!(early.at(), 5);
    // The last event (for lastRevision), then revisions 0 to 5.
    assert_eq!(counting.read.load(Ordering::SeqCst), 1 + 6);

    counting.read.store(0, Ordering::SeqCst);
    let replayed = fold(&*store, chat.id, Until::Revision(1500)).await.unwrap();
    assert_eq!(replayed.state.events_applied, 1501);
    assert_eq!(counting.read.load(Ordering::SeqCst), 1501);
    let whole = fold(&*store, chat.id, Until::End).await.unwrap();
    assert_eq!(whole.state.events_applied, 2501);
    assert!(whole.chain_valid);
}

async fn sample_transcript() -> transcript::Transcript {
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let mut chat = Chat::start(store.clone()).await;
    let m1 = chat
        .say(
            Role::Customer,
            "<script>alert('x')</script> & \"quoted\" </SCRIPT> <!-- é",
        )
        .await;
    chat.read(Role::Vendor, m1).await;
    chat.say(Role::Vendor, "ok").await;
    transcript::build(
        &*store,
        chat.id,
        by(),
        Timestamp::from_millis(1_796_000_000_000),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_transcript_verifies_and_any_changed_byte_does_not() {
    let t = sample_transcript().await;
    assert_eq!(t.format, transcript::FORMAT);
    assert_eq!(t.events.len(), 4);
    assert_eq!(t.final_hash, t.events[3].hash);
    assert_eq!(t.conversation.customer.name.as_deref(), Some("Ada <admin>"));
    let file = t.to_canonical();
    let verified = verify_json(&file).unwrap();
    assert_eq!(verified.transcript, t);
    assert_eq!(verify_file(&file).unwrap().transcript, t);
    // `<` is never written raw: the file can sit in an HTML page as it is.
    assert!(!file.contains(&b'<'));

    for i in 0..file.len() {
        let mut flipped = file.clone();
        flipped[i] ^= 1;
        assert!(
            verify_json(&flipped).is_err(),
            "flipping bit 0 of byte {i} ({:?}) went unnoticed",
            file[i] as char
        );
        let mut replaced = file.clone();
        replaced[i] = if file[i] == b'a' { b'b' } else { b'a' };
        assert!(
            verify_json(&replaced).is_err(),
            "replacing byte {i} ({:?}) went unnoticed",
            file[i] as char
        );
    }
    // Removing a byte, or adding whitespace, fails too.
    assert!(verify_json(&file[..file.len() - 1]).is_err());
    let mut spaced = file.clone();
    spaced.insert(1, b' ');
    assert!(matches!(
        verify_json(&spaced),
        Err(TranscriptError::NotCanonical(_))
    ));
}

#[tokio::test]
async fn verification_names_what_is_wrong() {
    let t = sample_transcript().await;
    // An edited message, resealed with a new digest: the chain breaks.
    let mut edited = t.clone();
    edited.events[1].data = edited.events[1].data.replace("alert", "alarm");
    edited.digest = edited.compute_digest();
    assert!(matches!(
        verify_json(&edited.to_canonical()),
        Err(TranscriptError::BrokenChain { revision: 1, .. })
    ));
    // A dropped event.
    let mut dropped = t.clone();
    dropped.events.remove(2);
    dropped.digest = dropped.compute_digest();
    assert!(matches!(
        verify_json(&dropped.to_canonical()),
        Err(TranscriptError::Revision { index: 2, .. })
    ));
    // A cut tail with the old final hash.
    let mut cut = t.clone();
    cut.events.pop();
    cut.digest = cut.compute_digest();
    assert!(matches!(
        verify_json(&cut.to_canonical()),
        Err(TranscriptError::FinalHash { .. })
    ));
    // An unknown field.
    let text = String::from_utf8(t.to_canonical()).unwrap();
    let extra = text.replacen("{\n", "{\n  \"note\": 1,\n", 1);
    assert!(matches!(
        verify_json(extra.as_bytes()),
        Err(TranscriptError::Unreadable(_))
    ));
}

#[tokio::test]
async fn the_html_page_escapes_what_users_wrote_and_verifies() {
    let t = sample_transcript().await;
    let page = super::html::render(&t);
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(page.contains("Ada &lt;admin&gt;"));
    assert!(page.contains("Shop &amp; Co"));
    assert!(!page.contains("<script>alert"));
    assert!(!page.to_lowercase().contains("</script> &"));
    // The only script element is the embedded transcript.
    assert_eq!(page.matches("<script").count(), 1);
    assert_eq!(page.to_lowercase().matches("</script").count(), 1);
    assert!(page.contains(&t.final_hash.to_string()));
    assert!(page.contains(&t.digest));

    let bytes = page.as_bytes();
    assert_eq!(verify_file(bytes).unwrap().transcript, t);
    for i in 0..bytes.len() {
        let mut flipped = bytes.to_vec();
        flipped[i] ^= 1;
        assert!(
            verify_file(&flipped).is_err(),
            "flipping bit 0 of byte {i} of the page went unnoticed"
        );
    }
    let mut visible = page.replace("Message #2", "Message #9");
    assert!(matches!(
        verify_file(visible.as_bytes()),
        Err(TranscriptError::HtmlEdited(_))
    ));
    visible = page.replace("id=\"souk-transcript\"", "id=\"other\"");
    assert_eq!(
        verify_file(visible.as_bytes()).unwrap_err(),
        TranscriptError::NoEmbedded
    );
}
