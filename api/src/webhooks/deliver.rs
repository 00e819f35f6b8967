//! The sender: makes the deliveries of the outbox, each an HTTP `POST` of
//! its JSON body, signed (see [`super::sign`]), with
//! `Souk-Webhook-Id`, `Souk-Webhook-Timestamp`, `Souk-Webhook-Signature` and
//! `Souk-Webhook-Attempt`. Any `2xx` answer within `--webhook-timeout` is
//! a success; anything else (another status, a refused connection, a
//! timeout) a failed try.
//!
//! # Order and retries
//!
//! Deliveries are grouped by endpoint and conversation. Only the oldest
//! delivery of a group (its head) is tried, so one conversation's
//! deliveries reach an endpoint in the order of the log: the next waits
//! until the head succeeded or died. Different groups go out concurrently
//! (up to [`IN_FLIGHT`] tries at once), so a slow conversation or endpoint
//! does not hold up the others.
//!
//! After a failed try the head waits [`backoff`]: `--webhook-backoff`
//! doubled per further try, capped at `--webhook-backoff-max`, with "equal
//! jitter" (half fixed, half random) so that receivers coming back are not
//! hit by every sender at the same instant. After `--webhook-max-tries`
//! tries it becomes a dead letter (see [`super::dead_letters`]) and the
//! group goes on.
//!
//! At shutdown, tries under way are abandoned: they stay in the outbox and
//! are made again at the next start, with the same id (a receiver may see
//! a delivery twice, never two different ones with one id).

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::db::now_ms;
use super::error::WebhookError;
use super::outbox::{self, Delivery};
use super::sign;
use super::Shared;

/// Tries under way at once, over all groups.
pub const IN_FLIGHT: usize = 16;
/// The longest the sender sleeps without looking at the outbox (a
/// `souk webhooks retry` from another process is seen within it).
const POLL: Duration = Duration::from_secs(1);
/// Pauses between runs after a failure of the file, doubling.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(10);

pub const HEADER_ID: &str = "Souk-Webhook-Id";
pub const HEADER_TIMESTAMP: &str = "Souk-Webhook-Timestamp";
pub const HEADER_SIGNATURE: &str = "Souk-Webhook-Signature";
pub const HEADER_ATTEMPT: &str = "Souk-Webhook-Attempt";

/// The pause after the `tries`-th failed try (1 for the first), with
/// `jitter` in `[0, 1)`: between half and all of
/// `min(first * 2^(tries-1), max)`.
pub fn backoff(first: Duration, max: Duration, tries: u32, jitter: f64) -> Duration {
    let doubled = first.saturating_mul(1u32 << tries.saturating_sub(1).min(30));
    let full = doubled.min(max);
    full / 2 + full.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
}

/// Runs the sender until `shutdown`.
pub(super) async fn run(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let client = match reqwest::Client::builder()
        .timeout(shared.settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("souk-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client for webhooks; none will be delivered");
            return;
        }
    };
    let mut pause = RETRY_FIRST;
    loop {
        match send(&shared, &client, &mut shutdown).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?pause, "the webhook sender failed; it starts again");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = super::stopped(&mut shutdown) => return,
                }
                pause = (pause * 2).min(RETRY_MAX);
            }
        }
    }
}

/// One run: until shutdown (`Ok`) or a failure of the file.
async fn send(
    shared: &Arc<Shared>,
    client: &reqwest::Client,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), WebhookError> {
    let mut busy: HashSet<(String, String)> = HashSet::new();
    let mut tries: JoinSet<(Delivery, Result<(), String>)> = JoinSet::new();
    loop {
        let free = IN_FLIGHT - tries.len();
        let now = now_ms();
        let taken = busy.clone();
        let (heads, next, (pending, dead)) = shared
            .db
            .call(move |c| {
                let heads = if free > 0 {
                    outbox::due_heads(c, now, free, &taken)?
                } else {
                    Vec::new()
                };
                let mut taken = taken;
                taken.extend(heads.iter().map(Delivery::group));
                let next = outbox::due_heads(c, i64::MAX, 1, &taken)?
                    .first()
                    .map(|d| d.next_attempt_ms);
                Ok((heads, next, outbox::counts(c)?))
            })
            .await?;
        shared.stats().pending.store(pending, Ordering::Relaxed);
        shared.stats().dead_letters.store(dead, Ordering::Relaxed);
        for head in heads {
            busy.insert(head.group());
            let client = client.clone();
            let secret = shared.secret.clone();
            tries.spawn(async move {
                let outcome = attempt(&client, &secret, &head).await;
                (head, outcome)
            });
        }
        // `next`: the soonest head not being tried.
        let wait = match next {
            Some(at) if busy.len() < IN_FLIGHT => {
                Duration::from_millis((at - now_ms()).clamp(0, POLL.as_millis() as i64) as u64)
            }
            _ => POLL,
        };
        tokio::select! {
            biased;
            _ = super::stopped(shutdown) => {
                tries.abort_all();
                return Ok(());
            }
            done = tries.join_next(), if !tries.is_empty() => {
                let Some(done) = done else { continue };
                let (delivery, outcome) = done.map_err(WebhookError::from)?;
                busy.remove(&delivery.group());
                settle(shared, delivery, outcome).await?;
            }
            _ = shared.wake_sender.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Records the outcome of a try.
async fn settle(
    shared: &Shared,
    delivery: Delivery,
    outcome: Result<(), String>,
) -> Result<(), WebhookError> {
    let stats = shared.stats();
    let seq = delivery.seq;
    match outcome {
        Ok(()) => {
            shared.db.call(move |c| outbox::delivered(c, seq)).await?;
            stats.delivered.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(id = %delivery.id, endpoint = %delivery.endpoint, "webhook delivered");
        }
        Err(error) => {
            stats.failed_tries.fetch_add(1, Ordering::Relaxed);
            let tries = delivery.tries + 1;
            let settings = &shared.settings;
            let now = now_ms();
            let retry_at = (tries < settings.max_tries).then(|| {
                let pause = backoff(
                    settings.backoff,
                    settings.backoff_max,
                    tries,
                    rand::rng().random::<f64>(),
                );
                now.saturating_add(pause.as_millis() as i64)
            });
            if retry_at.is_none() {
                stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(id = %delivery.id, endpoint = %delivery.endpoint, tries, %error, "webhook delivery failed for the last time: a dead letter now (souk webhooks retry)");
            } else {
                tracing::info!(id = %delivery.id, endpoint = %delivery.endpoint, tries, %error, "webhook try failed; retrying later");
            }
            shared
                .db
                .call(move |c| outbox::failed(c, seq, &error, retry_at, now))
                .await?;
        }
    }
    Ok(())
}

/// One try: `Ok` on a 2xx answer, else why not.
async fn attempt(client: &reqwest::Client, secret: &str, d: &Delivery) -> Result<(), String> {
    let timestamp = now_ms().div_euclid(1000);
    let signature = sign::sign(secret, timestamp, &d.body);
    let answer = client
        .post(&d.endpoint)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(HEADER_ID, &d.id)
        .header(HEADER_TIMESTAMP, timestamp.to_string())
        .header(HEADER_SIGNATURE, signature)
        .header(HEADER_ATTEMPT, (d.tries + 1).to_string())
        .body(d.body.clone())
        .send()
        .await;
    match answer {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
        Err(e) if e.is_timeout() => Err("timed out".to_owned()),
        Err(e) if e.is_connect() => Err("could not connect".to_owned()),
        Err(e) => {
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why.push_str(": ");
                why.push_str(&s.to_string());
                source = s.source();
            }
            Err(why)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_doubles_within_half_and_all_and_stops_at_the_cap() {
        let (first, max) = (Duration::from_secs(5), Duration::from_secs(60));
        assert_eq!(backoff(first, max, 1, 0.0), Duration::from_millis(2500));
        assert_eq!(backoff(first, max, 1, 1.0), Duration::from_secs(5));
        assert_eq!(backoff(first, max, 2, 0.5), Duration::from_millis(7500));
        assert_eq!(backoff(first, max, 4, 1.0), Duration::from_secs(40));
        assert_eq!(
            backoff(first, max, 5, 1.0),
            Duration::from_secs(60),
            "capped"
        );
        assert_eq!(
            backoff(first, max, 200, 0.0),
            Duration::from_secs(30),
            "no overflow"
        );
    }
}
