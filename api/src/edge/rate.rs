//! The per-socket rate limit: a token bucket.
//!
//! A socket may send `burst` events at once, then `rate` events per second on
//! average. The bucket takes the current instant as an argument instead of
//! reading a clock, so tests drive it with instants they make themselves.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket. Not thread-safe by itself; see [`SocketLimiter`].
#[derive(Clone, Debug)]
pub struct TokenBucket {
    /// Tokens added per second.
    rate: f64,
    /// The most tokens the bucket holds (and starts with).
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket. A `rate` or `burst` of 0 is taken as 1, so that a
    /// misconfiguration slows sockets down instead of silencing them.
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: f64::from(rate.max(1)),
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes a token if there is one at `now`. An instant earlier than the
    /// last one seen adds nothing (clocks used here are monotonic, but the
    /// bucket should not be the thing that breaks if one is not).
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last);
        if elapsed > Duration::ZERO {
            self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.burst);
            self.last = now;
        }
        // The tolerance absorbs float rounding of refills split over calls.
        if self.tokens >= 1.0 - 1e-9 {
            self.tokens = (self.tokens - 1.0).max(0.0);
            true
        } else {
            false
        }
    }
}

/// A socket's bucket, shared by the tasks that handle its events (socketioxide
/// runs one task per incoming event). The lock is held for a few arithmetic
/// operations, never across an await.
#[derive(Debug)]
pub struct SocketLimiter(Mutex<TokenBucket>);

impl SocketLimiter {
    pub fn new(rate: u32, burst: u32) -> Self {
        Self(Mutex::new(TokenBucket::new(rate, burst, Instant::now())))
    }

    /// Whether the socket may handle one more event now.
    pub fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    pub fn allow_at(&self, now: Instant) -> bool {
        self.0
            .lock()
            .map(|mut b| b.try_take(now))
            // A poisoned bucket (a panic mid-update) lets events through
            // rather than locking the socket out.
            .unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, 3, t0);
        assert!(b.try_take(t0));
        assert!(b.try_take(t0));
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0), "the burst is spent");
        // 10 per second: one token every 100 ms.
        assert!(!b.try_take(t0 + ms(99)));
        assert!(b.try_take(t0 + ms(100)));
        assert!(!b.try_take(t0 + ms(150)));
        assert!(b.try_take(t0 + ms(200)));
    }

    #[test]
    fn the_bucket_never_holds_more_than_the_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100, 2, t0);
        let later = t0 + Duration::from_secs(60);
        assert!(b.try_take(later));
        assert!(b.try_take(later));
        assert!(!b.try_take(later));
    }

    #[test]
    fn an_earlier_instant_adds_nothing() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut b = TokenBucket::new(1, 1, t0);
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0 - ms(500)));
        assert!(!b.try_take(t0 + ms(999)));
        assert!(b.try_take(t0 + ms(1000)));
    }

    #[test]
    fn zero_settings_are_taken_as_one() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(0, 0, t0);
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0));
        assert!(b.try_take(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn the_shared_limiter_counts_across_calls() {
        let l = SocketLimiter::new(1, 2);
        let now = Instant::now() + Duration::from_secs(1);
        assert!(l.allow_at(now));
        assert!(l.allow_at(now));
        assert!(!l.allow_at(now));
    }
}
