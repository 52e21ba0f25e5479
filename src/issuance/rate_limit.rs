//! Token buckets (GCRA, the governor crate): one keyed by client address, checked before
//! the token is verified; one keyed by issuer and subject, checked after. Keys are
//! independent, so one caller's burst never limits another.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::RateLimitConfig;
use crate::error::ApiError;

/// Both limiters; either may be off.
#[derive(Debug)]
pub struct RateLimits {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_subject: Option<DefaultKeyedRateLimiter<(String, String)>>,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(
    per_second: u32,
    burst: u32,
) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            per_ip: limiter(config.per_ip_per_second, config.per_ip_burst),
            per_subject: limiter(config.per_subject_per_second, config.burst),
        }
    }

    /// Takes one token from `ip`'s bucket.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        match &self.per_ip {
            Some(limiter) => verdict(limiter.check_key(&ip), "ip"),
            None => Ok(()),
        }
    }

    /// Takes one token from the bucket of `subject` at `issuer`.
    pub fn check_subject(&self, issuer: &str, subject: &str) -> Result<(), ApiError> {
        match &self.per_subject {
            Some(limiter) => verdict(
                limiter.check_key(&(issuer.to_owned(), subject.to_owned())),
                "subject",
            ),
            None => Ok(()),
        }
    }

    /// Forgets buckets that are full again, so memory follows the active callers.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.per_ip {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.per_subject {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

fn verdict(
    result: Result<(), governor::NotUntil<<DefaultClock as Clock>::Instant>>,
    scope: &'static str,
) -> Result<(), ApiError> {
    result.map_err(|not_until| {
        metrics::counter!(crate::telemetry::RATE_LIMITED, "scope" => scope).increment(1);
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        // Retry-After has whole seconds; round up so a retry at that time succeeds.
        let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ApiError::RateLimited {
            retry_after_secs: retry_after_secs.max(1),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_callers_burst_never_limits_another() {
        let limits = RateLimits::new(&RateLimitConfig {
            per_subject_per_second: 1,
            burst: 3,
            per_ip_per_second: 0,
            per_ip_burst: 0,
        });
        for _ in 0..3 {
            limits.check_subject("iss", "alice").unwrap();
        }
        let refused = limits.check_subject("iss", "alice").unwrap_err();
        assert!(matches!(
            refused,
            ApiError::RateLimited {
                retry_after_secs: 1
            }
        ));
        limits.check_subject("iss", "bob").unwrap();
        limits.check_subject("other-iss", "alice").unwrap();
        // Address limits are off: any number passes.
        for _ in 0..100 {
            limits.check_ip("127.0.0.1".parse().unwrap()).unwrap();
        }
    }
}
