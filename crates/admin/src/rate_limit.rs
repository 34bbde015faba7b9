//! A per-client-address token bucket for the public registration endpoint: each address
//! may make `burst` requests at once and earns `per_minute` more each minute. It lives in
//! memory on each replica (a short, safe-to-lose cache: losing it only forgives some
//! requests), keyed by the client address as `portcullis_core::client_addr` groups it
//! (IPv6 by /64, since one host usually holds a whole /64). It is bounded: past
//! [`MAX_TRACKED`] addresses, buckets that have refilled are dropped, then the longest
//! idle one.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use portcullis_core::Timestamp;
use portcullis_core::client_addr::ClientAddr;
use portcullis_core::ipnet::IpNet;

/// The most addresses tracked at once.
pub const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Timestamp,
}

/// The limiter. Time comes from the caller (the injected clock).
#[derive(Debug)]
pub struct RateLimiter {
    burst: f64,
    per_second: f64,
    capacity: usize,
    buckets: Mutex<HashMap<IpNet, Bucket>>,
}

/// The network a client is counted under.
fn key(addr: Option<ClientAddr>) -> IpNet {
    match addr {
        Some(addr) => addr.group(),
        // Without a resolved address (never in the real server) all requests share a bucket.
        None => IpNet::default(),
    }
}

impl RateLimiter {
    /// `burst` requests at once, refilled at `per_minute` per minute.
    pub fn new(burst: u32, per_minute: u32) -> Self {
        RateLimiter::with_capacity(burst, per_minute, MAX_TRACKED)
    }

    fn with_capacity(burst: u32, per_minute: u32, capacity: usize) -> Self {
        RateLimiter {
            burst: f64::from(burst.max(1)),
            per_second: f64::from(per_minute) / 60.0,
            capacity,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, b: Bucket, now: Timestamp) -> f64 {
        #[expect(clippy::cast_precision_loss, reason = "seconds fit an f64 exactly")]
        let elapsed = (now.unix() - b.updated.unix()).max(0) as f64;
        (b.tokens + elapsed * self.per_second).min(self.burst)
    }

    /// Takes one request from the client's budget; `Err(seconds)` until the next one is
    /// allowed when it is spent.
    pub fn check(&self, addr: Option<ClientAddr>, now: Timestamp) -> Result<(), u64> {
        let key = key(addr);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !buckets.contains_key(&key) && buckets.len() >= self.capacity {
            self.make_room(&mut buckets, now);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let tokens = self.refilled(*bucket, now);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                updated: now,
            };
            return Ok(());
        }
        *bucket = Bucket {
            tokens,
            updated: now,
        };
        if self.per_second <= 0.0 {
            return Err(3600);
        }
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a positive number of seconds well below u64::MAX"
        )]
        let wait = ((1.0 - tokens) / self.per_second).ceil().max(1.0) as u64;
        Err(wait)
    }

    fn make_room(&self, buckets: &mut HashMap<IpNet, Bucket>, now: Timestamp) {
        buckets.retain(|_, b| self.refilled(*b, now) < self.burst);
        if buckets.len() >= self.capacity
            && let Some(oldest) = buckets
                .iter()
                .min_by_key(|(_, b)| b.updated)
                .map(|(k, _)| *k)
        {
            buckets.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<ClientAddr> {
        Some(ClientAddr::new(s.parse().unwrap()))
    }

    #[test]
    fn a_burst_is_allowed_then_requests_wait_for_the_refill() {
        let limiter = RateLimiter::new(2, 6);
        let t = Timestamp(1_000);
        assert!(limiter.check(ip("192.0.2.1"), t).is_ok());
        assert!(limiter.check(ip("192.0.2.1"), t).is_ok());
        assert_eq!(limiter.check(ip("192.0.2.1"), t), Err(10));
        assert!(
            limiter.check(ip("192.0.2.2"), t).is_ok(),
            "other peers have their own budget"
        );
        assert!(limiter.check(ip("192.0.2.1"), Timestamp(1_010)).is_ok());
    }

    #[test]
    fn ipv6_peers_share_their_slash_64() {
        let limiter = RateLimiter::new(1, 1);
        let t = Timestamp(0);
        assert!(limiter.check(ip("2001:db8::1"), t).is_ok());
        assert!(limiter.check(ip("2001:db8::2"), t).is_err());
        assert!(limiter.check(ip("2001:db8:0:1::1"), t).is_ok());
    }

    #[test]
    fn memory_stays_bounded() {
        let limiter = RateLimiter::with_capacity(1, 1, 3);
        for i in 0..10u8 {
            let addr = ClientAddr::new(std::net::IpAddr::from([10, 0, 0, i]));
            let _ = limiter.check(Some(addr), Timestamp(i64::from(i)));
        }
        assert!(limiter.buckets.lock().unwrap().len() <= 3);
    }
}
