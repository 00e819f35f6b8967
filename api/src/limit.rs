//! The REST rate limit: a token bucket per user (id and seat: customer,
//! vendor or operator), from
//! `governor`. A user may make `rate` requests per second on average, with
//! bursts of twice that; beyond it they get `429 rate_limited` and nothing is
//! done. Buckets of users who went quiet are dropped by [`UserLimiter::sweep`].

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use souk_domain::{Role, UserId};

use crate::auth::Seat;

/// Typing changes per second per user that are recorded (bursts of twice).
pub const TYPING_PER_SECOND: u32 = 2;

pub struct UserLimiter {
    limiter: DefaultKeyedRateLimiter<(UserId, Seat)>,
}

impl UserLimiter {
    /// `rate` requests per second per user (0 is taken as 1), bursts of
    /// `2 * rate`.
    pub fn new(rate: u32) -> Self {
        let rate = NonZeroU32::new(rate.max(1)).expect("at least 1");
        let burst = rate.saturating_mul(NonZeroU32::new(2).expect("2"));
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    /// Whether `user` may make one more request now.
    pub fn allow(&self, user: &UserId, role: Role) -> bool {
        self.allow_seat(user, Seat::from(role))
    }

    /// Whether `user` in `seat` may make one more request now.
    pub fn allow_seat(&self, user: &UserId, seat: Seat) -> bool {
        self.limiter.check_key(&(user.clone(), seat)).is_ok()
    }

    /// Forgets buckets that are full again (users who went quiet).
    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refuses_per_user() {
        let limiter = UserLimiter::new(3);
        let a = UserId::parse("a").unwrap();
        let b = UserId::parse("b").unwrap();
        let allowed = (0..20)
            .filter(|_| limiter.allow(&a, Role::Customer))
            .count();
        assert!(
            (6..=7).contains(&allowed),
            "burst of 6 (+1 refill at most): {allowed}"
        );
        assert!(
            limiter.allow(&b, Role::Customer),
            "other users are not affected"
        );
        assert!(
            limiter.allow(&a, Role::Vendor),
            "nor the same id on the other side"
        );
        limiter.sweep();
    }
}
