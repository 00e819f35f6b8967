//! The log consumer: a subscription to the whole log after the webhooks'
//! checkpoint, turning each batch of events into outbox rows (one per
//! delivered kind and endpoint) and unread reminders, recorded in **one**
//! transaction with the new checkpoint. After a crash the file holds
//! exactly the deliveries of the events up to its checkpoint, and the
//! consumer resumes after it: nothing is skipped, nothing recorded twice.
//!
//! A new file starts at the end of the log as it was when the server
//! started (see [`super::Webhooks::start`]): webhooks report what happens
//! from when they were first turned on, not the history.
//!
//! Any failure (the log away, the file locked for long) ends the run; it
//! runs again after a doubling pause, from the checkpoint.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use souk_domain::{ConversationEvent, ConversationId, Role, UserId};
use souk_store::{Direction, EventStore, ReadFrom, RecordedEvent};
use tokio::sync::watch;

use super::db::{self, now_ms};
use super::error::WebhookError;
use super::outbox::{self, NewDelivery};
use super::payload;
use super::reminder::{self, NewReminder};
use super::settings::Kind;
use super::Shared;

/// The most events recorded in one transaction.
const BATCH: usize = 256;
/// Pauses between runs after a failure, doubling.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// Conversations whose participants are kept in memory (then forgotten
/// and read again from the log as needed).
const PARTICIPANTS_KEPT: usize = 100_000;

/// Runs the consumer until `shutdown`.
pub(super) async fn run(
    shared: Arc<Shared>,
    store: Arc<dyn EventStore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut pause = RETRY_FIRST;
    let mut participants = Participants::default();
    loop {
        match consume(
            &shared,
            &store,
            &mut participants,
            &mut shutdown,
            &mut pause,
        )
        .await
        {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?pause, "the webhooks' log consumer failed; it resumes from its checkpoint");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = super::stopped(&mut shutdown) => return,
                }
                pause = (pause * 2).min(RETRY_MAX);
            }
        }
    }
}

/// One run: from the checkpoint until shutdown (`Ok`) or a failure.
async fn consume(
    shared: &Shared,
    store: &Arc<dyn EventStore>,
    participants: &mut Participants,
    shutdown: &mut watch::Receiver<bool>,
    pause: &mut Duration,
) -> Result<(), WebhookError> {
    let mut checkpoint = shared
        .db
        .call(|c| db::checkpoint(c))
        .await?
        .unwrap_or_default();
    shared
        .stats()
        .checkpoint
        .store(checkpoint, Ordering::Relaxed);
    let mut subscription = store.subscribe_all(checkpoint);
    loop {
        let first = tokio::select! {
            biased;
            _ = super::stopped(shutdown) => return Ok(()),
            next = subscription.next() => next,
        };
        let Some(first) = first else {
            tracing::info!("the event log closed; the webhooks' consumer stops");
            return Ok(());
        };
        let mut events = vec![first?];
        let mut failure = None;
        while events.len() < BATCH {
            match subscription.next().now_or_never() {
                Some(Some(Ok(e))) => events.push(e),
                Some(Some(Err(e))) => {
                    failure = Some(e);
                    break;
                }
                _ => break,
            }
        }
        events.retain(|e| e.position > checkpoint);
        if let Some(last) = events.last().map(|e| e.position) {
            let (deliveries, reminders) = plan(shared, store, participants, &events).await?;
            let now = now_ms();
            shared
                .db
                .call(move |c| {
                    let tx = c.transaction()?;
                    outbox::record(&tx, &deliveries, now)?;
                    reminder::schedule(&tx, &reminders)?;
                    db::set_checkpoint(&tx, last)?;
                    tx.commit()?;
                    Ok(())
                })
                .await?;
            checkpoint = last;
            shared.stats().checkpoint.store(last, Ordering::Relaxed);
            shared.wake_sender.notify_one();
            shared.wake_reminders.notify_one();
            *pause = RETRY_FIRST;
        }
        if let Some(e) = failure {
            return Err(e.into());
        }
    }
}

/// The deliveries and reminders of `events`.
async fn plan(
    shared: &Shared,
    store: &Arc<dyn EventStore>,
    participants: &mut Participants,
    events: &[RecordedEvent],
) -> Result<(Vec<NewDelivery>, Vec<NewReminder>), WebhookError> {
    let settings = &shared.settings;
    let reminders_on = settings.delivers(Kind::UnreadReminder);
    let reminder_after = i64::try_from(settings.reminder_after.as_millis()).unwrap_or(i64::MAX);
    let mut deliveries = Vec::new();
    let mut reminders = Vec::new();
    for e in events {
        let Some(conversation) = ConversationId::from_stream_name(&e.stream) else {
            continue;
        };
        let event = match e.decode() {
            Ok(event) => event,
            Err(err) => {
                // Nothing could be delivered for it; the read models stop
                // at it too, which /healthz reports.
                tracing::error!(position = e.position, error = %err, "an event the webhooks cannot read; skipped");
                continue;
            }
        };
        if let ConversationEvent::ConversationStarted(s) = &event {
            participants.insert(conversation, s.customer.id.clone(), s.vendor.id.clone());
        }
        if let Some((kind, data)) = payload::for_event(conversation, &event) {
            if settings.delivers(kind) {
                let body = payload::body(e.position, kind, event.at(), conversation, data);
                for endpoint in &settings.urls {
                    deliveries.push(NewDelivery {
                        id: payload::delivery_id(e.position, kind),
                        endpoint: endpoint.clone(),
                        conversation: conversation.to_string(),
                        kind: kind.as_str().to_owned(),
                        body: body.clone(),
                    });
                }
            }
        }
        if let (true, ConversationEvent::MessageSent(m)) = (reminders_on, &event) {
            let role = m.sender.role.other();
            let recipient = participants.get(store, conversation, role).await?;
            reminders.push(NewReminder {
                conversation,
                recipient,
                role,
                position: e.position,
                seq: m.seq,
                due_ms: m.at.millis().saturating_add(reminder_after),
            });
        }
    }
    Ok((deliveries, reminders))
}

/// Who the two sides of each conversation are (a message's recipient is
/// the other side of its sender): from the `ConversationStarted` events
/// seen, else from the first event of the conversation's stream.
#[derive(Default)]
struct Participants(HashMap<ConversationId, [UserId; 2]>);

impl Participants {
    fn insert(&mut self, conversation: ConversationId, customer: UserId, vendor: UserId) {
        if self.0.len() >= PARTICIPANTS_KEPT {
            self.0.clear();
        }
        self.0.insert(conversation, [customer, vendor]);
    }

    async fn get(
        &mut self,
        store: &Arc<dyn EventStore>,
        conversation: ConversationId,
        role: Role,
    ) -> Result<UserId, WebhookError> {
        if let Some(sides) = self.0.get(&conversation) {
            return Ok(sides[role.index()].clone());
        }
        let first = store
            .read_stream(
                &conversation.stream_name(),
                ReadFrom::Start,
                Direction::Forwards,
                1,
            )
            .await?;
        match first.first().map(RecordedEvent::decode) {
            Some(Ok(ConversationEvent::ConversationStarted(s))) => {
                let id = [&s.customer.id, &s.vendor.id][role.index()].clone();
                self.insert(conversation, s.customer.id, s.vendor.id);
                Ok(id)
            }
            _ => Err(WebhookError::Corrupt(format!(
                "no ConversationStarted at the start of {conversation}"
            ))),
        }
    }
}
