//! The unread reminder: `message.unread_reminder` when a recipient still
//! has unread messages `--webhook-reminder-after` after they arrived and
//! has no socket open (on any node, in cluster mode): the "you have a new
//! message" email.
//!
//! # How
//!
//! The consumer schedules a reminder for each message's recipient, due at
//! the message's time plus the delay, in the `reminders` table, one per
//! conversation and side: while one is pending, later messages to the same
//! recipient join it (the reminder then reports them all) instead of
//! scheduling their own. So a recipient hears at most once per delay per
//! conversation, however many messages arrive.
//!
//! When it is due, the scheduler waits for the read models to reach the
//! log's end (a read just before is seen) and [`decide`]s:
//!
//! - the recipient is online: look again one delay later (they may be
//!   reading it now);
//! - nothing is unread any more: drop it;
//! - the oldest unread message is younger than the delay (the message
//!   that scheduled it was read, later ones were not): due again at the
//!   oldest unread one's time plus the delay;
//! - otherwise: fire. The delivery is recorded in the outbox and the
//!   reminder deleted in one transaction, so it fires once; its id is
//!   `<position>-message.unread_reminder`, `position` being the scheduling
//!   message's, so each (recipient, conversation, message) has at most
//!   one. The next message to them schedules the next reminder.
//!
//! `unreadCount` and `oldestUnreadAt` come from the read models: the unread
//! messages are the last `unreadCount` messages of the other side.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection};
use souk_domain::{ConversationId, Role, Timestamp, UserId};
use souk_projections::{HistoryQuery, Projections};
use souk_store::{EventStore, Position};
use tokio::sync::watch;

use super::db::{now_ms, Db};
use super::error::WebhookError;
use super::outbox::{self, NewDelivery};
use super::payload;
use super::settings::Kind;
use super::Shared;
use crate::presence::Presence;

/// The longest the scheduler sleeps without looking at the table.
const POLL: Duration = Duration::from_secs(1);
/// How long it waits for the read models to reach the log's end.
const READ_MODELS_PATIENCE: Duration = Duration::from_secs(2);
/// Reminders looked at per round.
const ROUND: usize = 100;
/// Pages of history read back to find the oldest unread message; beyond,
/// the oldest found is reported.
const MAX_PAGES: usize = 10;
/// Pauses between runs after a failure, doubling.
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// A reminder to schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReminder {
    pub conversation: ConversationId,
    pub recipient: UserId,
    pub role: Role,
    /// The log position of the message that scheduled it.
    pub position: Position,
    pub seq: u64,
    /// Unix milliseconds.
    pub due_ms: i64,
}

/// Schedules `reminders` inside the caller's transaction; a conversation
/// side that has one pending keeps it.
pub fn schedule(conn: &Connection, reminders: &[NewReminder]) -> Result<(), WebhookError> {
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO reminders
           (conversation, recipient_role, recipient_id, position, seq, due_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for r in reminders {
        insert.execute(params![
            r.conversation.to_string(),
            r.role.as_str(),
            r.recipient.as_str(),
            r.position as i64,
            r.seq as i64,
            r.due_ms
        ])?;
    }
    Ok(())
}

/// What to do with a due reminder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Fire {
        unread: u64,
        oldest_unread_at: Timestamp,
    },
    /// Look again at this time (Unix ms).
    Later(i64),
    Drop,
}

/// The rule of the module docs, at `now_ms`, with a delay of `after_ms`.
pub fn decide(
    now_ms: i64,
    after_ms: i64,
    online: bool,
    unread: u64,
    oldest_unread_at: Option<Timestamp>,
) -> Decision {
    if online {
        return Decision::Later(now_ms.saturating_add(after_ms));
    }
    match oldest_unread_at {
        Some(oldest) if unread > 0 => {
            let due = oldest.millis().saturating_add(after_ms);
            if due > now_ms {
                Decision::Later(due)
            } else {
                Decision::Fire {
                    unread,
                    oldest_unread_at: oldest,
                }
            }
        }
        _ => Decision::Drop,
    }
}

/// A reminder as stored.
#[derive(Clone, Debug)]
struct Due {
    conversation: ConversationId,
    recipient: UserId,
    role: Role,
    position: Position,
}

fn due(conn: &Connection, now_ms: i64) -> Result<Vec<Due>, WebhookError> {
    let mut stmt = conn.prepare_cached(
        "SELECT conversation, recipient_id, recipient_role, position FROM reminders
         WHERE due_ms <= ?1 ORDER BY due_ms LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now_ms, ROUND as i64], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (conversation, recipient, role, position) = row?;
        let bad = |what: &str| WebhookError::Corrupt(format!("a reminder with {what}"));
        out.push(Due {
            conversation: ConversationId::parse(&conversation)
                .map_err(|_| bad("a bad conversation id"))?,
            recipient: UserId::parse(&recipient).map_err(|_| bad("a bad user id"))?,
            role: Role::parse(&role).map_err(|_| bad("a bad role"))?,
            position: position as Position,
        });
    }
    Ok(out)
}

fn next_due(conn: &Connection) -> Result<Option<i64>, WebhookError> {
    Ok(conn.query_row("SELECT MIN(due_ms) FROM reminders", [], |r| r.get(0))?)
}

/// Carries out `decision` for `r`: fire (record the deliveries and delete
/// it, one transaction), reschedule or delete.
fn settle(
    conn: &mut Connection,
    r: &Due,
    decision: Decision,
    deliveries: &[NewDelivery],
    now_ms: i64,
) -> Result<(), WebhookError> {
    let tx = conn.transaction()?;
    let key = params![
        r.conversation.to_string(),
        r.role.as_str(),
        r.position as i64
    ];
    match decision {
        Decision::Fire { .. } => {
            outbox::record(&tx, deliveries, now_ms)?;
            tx.execute(
                "DELETE FROM reminders WHERE conversation = ?1 AND recipient_role = ?2 AND position = ?3",
                key,
            )?;
        }
        Decision::Later(at) => {
            tx.execute(
                "UPDATE reminders SET due_ms = ?4
                 WHERE conversation = ?1 AND recipient_role = ?2 AND position = ?3",
                params![
                    r.conversation.to_string(),
                    r.role.as_str(),
                    r.position as i64,
                    at
                ],
            )?;
        }
        Decision::Drop => {
            tx.execute(
                "DELETE FROM reminders WHERE conversation = ?1 AND recipient_role = ?2 AND position = ?3",
                key,
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// What the scheduler reads besides its file.
pub(super) struct Sources {
    pub store: Arc<dyn EventStore>,
    pub projections: Projections,
    pub presence: Presence,
}

/// Runs the scheduler until `shutdown`.
pub(super) async fn run(
    shared: Arc<Shared>,
    sources: Sources,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut pause = RETRY_FIRST;
    loop {
        let round = tokio::select! {
            biased;
            _ = super::stopped(&mut shutdown) => return,
            round = round(&shared, &sources) => round,
        };
        let wait = match round {
            Ok(wait) => {
                pause = RETRY_FIRST;
                wait
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?pause, "the unread reminders failed; trying again");
                let wait = pause;
                pause = (pause * 2).min(RETRY_MAX);
                wait
            }
        };
        tokio::select! {
            _ = super::stopped(&mut shutdown) => return,
            _ = tokio::time::sleep(wait) => {}
            _ = shared.wake_reminders.notified() => {}
        }
    }
}

/// Settles the reminders due now; answers how long to sleep.
async fn round(shared: &Shared, sources: &Sources) -> Result<Duration, WebhookError> {
    let after_ms = i64::try_from(shared.settings.reminder_after.as_millis()).unwrap_or(i64::MAX);
    let db: &Db = &shared.db;
    let now = now_ms();
    let due_now = db.call(move |c| due(c, now)).await?;
    if !due_now.is_empty() {
        let end = sources.store.last_position().await?;
        if !sources
            .projections
            .wait_for(end, READ_MODELS_PATIENCE)
            .await
        {
            // Deciding now could remind of a message already read.
            return Ok(POLL);
        }
    }
    for r in due_now {
        let now = now_ms();
        let decision = evaluate(sources, &r, now, after_ms).await?;
        let deliveries = match decision {
            Decision::Fire {
                unread,
                oldest_unread_at,
            } => {
                let data = payload::reminder(
                    r.conversation,
                    &r.recipient,
                    r.role,
                    unread,
                    oldest_unread_at,
                );
                let kind = Kind::UnreadReminder;
                let body = payload::body(
                    r.position,
                    kind,
                    Timestamp::from_millis(now),
                    r.conversation,
                    data,
                );
                shared
                    .settings
                    .urls
                    .iter()
                    .map(|endpoint| NewDelivery {
                        id: payload::delivery_id(r.position, kind),
                        endpoint: endpoint.clone(),
                        conversation: r.conversation.to_string(),
                        kind: kind.as_str().to_owned(),
                        body: body.clone(),
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        let fired = !deliveries.is_empty();
        let settled = r.clone();
        db.call(move |c| settle(c, &settled, decision, &deliveries, now))
            .await?;
        if fired {
            shared.stats().reminders.fetch_add(1, Ordering::Relaxed);
            shared.wake_sender.notify_one();
        }
    }
    let next = db.call(|c| next_due(c)).await?;
    Ok(match next {
        Some(at) => Duration::from_millis((at - now_ms()).clamp(0, POLL.as_millis() as i64) as u64),
        None => POLL,
    })
}

/// Reads what [`decide`] needs about `r`.
async fn evaluate(
    sources: &Sources,
    r: &Due,
    now_ms: i64,
    after_ms: i64,
) -> Result<Decision, WebhookError> {
    let (online, _) = sources.presence.status(&r.recipient, r.role);
    if online {
        return Ok(decide(now_ms, after_ms, true, 0, None));
    }
    let Some(view) = sources
        .projections
        .conversation(r.conversation, &r.recipient, r.role)
        .await?
    else {
        return Ok(Decision::Drop);
    };
    let unread = view.unread_count;
    if unread == 0 {
        return Ok(Decision::Drop);
    }
    let oldest = oldest_unread(&sources.projections, r.conversation, r.role, unread).await?;
    Ok(decide(now_ms, after_ms, false, unread, oldest))
}

/// The time of the oldest of the last `unread` messages of the side other
/// than `role` (within [`MAX_PAGES`] pages back).
async fn oldest_unread(
    projections: &Projections,
    conversation: ConversationId,
    role: Role,
    unread: u64,
) -> Result<Option<Timestamp>, WebhookError> {
    let mut before = None;
    let mut left = unread;
    let mut oldest = None;
    for _ in 0..MAX_PAGES {
        let page = projections
            .messages(
                conversation,
                HistoryQuery {
                    before,
                    after: None,
                    limit: souk_projections::views::MAX_LIMIT,
                },
            )
            .await?;
        for m in page.messages.iter().rev() {
            if m.sender.role != role {
                oldest = Some(m.sent_at);
                left -= 1;
                if left == 0 {
                    return Ok(oldest);
                }
            }
        }
        match page.messages.first() {
            Some(first) if page.has_more => before = Some(first.seq),
            _ => break,
        }
    }
    Ok(oldest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn the_reminder_fires_only_when_unread_old_enough_and_offline() {
        let t = |ms: i64| Timestamp::from_millis(ms);
        let now = 100 * MIN;
        assert_eq!(
            decide(now, 10 * MIN, true, 3, Some(t(0))),
            Decision::Later(now + 10 * MIN),
            "online: look again later"
        );
        assert_eq!(decide(now, 10 * MIN, false, 0, None), Decision::Drop);
        assert_eq!(
            decide(now, 10 * MIN, false, 2, Some(t(95 * MIN))),
            Decision::Later(105 * MIN),
            "the oldest unread is younger than the delay"
        );
        assert_eq!(
            decide(now, 10 * MIN, false, 2, Some(t(90 * MIN))),
            Decision::Fire {
                unread: 2,
                oldest_unread_at: t(90 * MIN)
            }
        );
    }

    #[test]
    fn a_pending_reminder_absorbs_later_messages_and_fires_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = super::super::db::open(&dir.path().join("w.db")).unwrap();
        let conversation =
            ConversationId::for_pair(&UserId::parse("c").unwrap(), &UserId::parse("v").unwrap());
        let new = |position: Position, seq: u64, due_ms: i64| NewReminder {
            conversation,
            recipient: UserId::parse("v").unwrap(),
            role: Role::Vendor,
            position,
            seq,
            due_ms,
        };
        schedule(&conn, &[new(2, 1, 100), new(3, 2, 200)]).unwrap();
        assert_eq!(next_due(&conn).unwrap(), Some(100), "the first one stays");
        let due_now = due(&conn, 100).unwrap();
        assert_eq!(due_now.len(), 1);
        settle(&mut conn, &due_now[0], Decision::Later(150), &[], 100).unwrap();
        assert!(due(&conn, 149).unwrap().is_empty());
        let d = NewDelivery {
            id: "2-message.unread_reminder".into(),
            endpoint: "http://e/".into(),
            conversation: conversation.to_string(),
            kind: "message.unread_reminder".into(),
            body: "{}".into(),
        };
        let fire = Decision::Fire {
            unread: 2,
            oldest_unread_at: Timestamp::from_millis(0),
        };
        settle(&mut conn, &due_now[0], fire, std::slice::from_ref(&d), 150).unwrap();
        assert_eq!(next_due(&conn).unwrap(), None);
        assert_eq!(outbox::counts(&conn).unwrap(), (1, 0));
        schedule(&conn, &[new(9, 3, 300)]).unwrap();
        assert_eq!(
            next_due(&conn).unwrap(),
            Some(300),
            "the next message schedules anew"
        );
    }
}
