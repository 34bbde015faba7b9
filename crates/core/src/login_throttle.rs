//! The login throttle's policy: what it counts, under which keys, and how long a count
//! holds the next attempt back (online guessing, NIST SP 800-63B §5.2.2; OWASP ASVS
//! V2.2.1). The counts live in the store ([`crate::store::LoginThrottleStore`]), so every
//! replica enforces the same limit; this module only computes.
//!
//! Every password check counts under three keys:
//! - the (account, client network) pair: after `free_failures` failures in a row, each
//!   further attempt from there waits `base_delay`, doubling per failure up to
//!   `max_delay`. This is what stops one address guessing one account;
//! - the account alone, across networks, with a higher threshold
//!   (`account_free_failures`), so guessing spread over many addresses is slowed too. A
//!   pair adds to it only its first `free_failures` failures: one address, however long it
//!   keeps trying, can never push the account over its threshold and lock the owner out
//!   everywhere (decision record 0007);
//! - the client network alone, across accounts (`address_free_failures`, higher still):
//!   password spraying, a few guesses at each of many accounts.
//!
//! A network is an IPv4 address, or an IPv6 /64 ([`ClientAddr::group`]). A success
//! forgets the pair's and the account's counts; a count is also forgotten `forget_after`
//! its last failure. Usernames are keyed exactly as the user table matches them (after
//! the trim the login form applies), and unknown usernames are counted like known ones,
//! so the throttle's answers reveal nothing about which accounts exist. Keys are SHA-256
//! digests: the table holds no attacker-chosen text and no plain address.

use std::time::Duration;

use crate::Timestamp;
use crate::client_addr::ClientAddr;
use crate::secret::SecretHash;

/// The throttle's thresholds and delays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures in a row one account may take from one network before each further
    /// attempt from there waits.
    pub free_failures: u32,
    /// Failures an account may take across networks before every attempt on it waits.
    pub account_free_failures: u32,
    /// Failures one network may make across accounts before its every attempt waits.
    pub address_free_failures: u32,
    /// The first delay; it doubles with each further failure.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// A count is forgotten this long after its last failure.
    pub forget_after: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            free_failures: 5,
            account_free_failures: 50,
            address_free_failures: 100,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(24 * 3600),
        }
    }
}

/// Which count holds an attempt back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThrottleLevel {
    /// This account from this network.
    Pair,
    /// This account from anywhere.
    Account,
    /// This network, whatever the account.
    Address,
}

/// Failures remembered under one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureCount {
    /// How many (0: none remembered).
    pub failures: u32,
    /// When the last one was.
    pub last_failure_at: Timestamp,
}

/// The three counts of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThrottleCounts {
    /// The (account, network) pair's.
    pub pair: FailureCount,
    /// The account's.
    pub account: FailureCount,
    /// The network's.
    pub address: FailureCount,
}

/// An attempt held back: until when, and by which count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// The first instant another attempt is let through.
    pub until: Timestamp,
    /// The count that holds it (the one ending last).
    pub level: ThrottleLevel,
}

impl Held {
    /// How long from `now` (at least one second: `Retry-After` has no smaller unit).
    pub fn retry_after(&self, now: Timestamp) -> Duration {
        let secs = self.until.unix().saturating_sub(now.unix()).max(1);
        Duration::from_secs(u64::try_from(secs).unwrap_or(1))
    }
}

impl ThrottlePolicy {
    /// The wait after `failures` failures under a key whose threshold is `free`: none
    /// below it, then `base_delay` doubling per failure, capped at `max_delay`.
    pub fn delay(&self, failures: u32, free: u32) -> Duration {
        let Some(over) = failures.checked_sub(free) else {
            return Duration::ZERO;
        };
        let factor = 2u32.checked_pow(over).unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.max_delay)
    }

    /// Whether `counts` hold back an attempt made at `now`, and if so until when.
    pub fn held(&self, counts: &ThrottleCounts, now: Timestamp) -> Option<Held> {
        [
            (counts.pair, self.free_failures, ThrottleLevel::Pair),
            (
                counts.account,
                self.account_free_failures,
                ThrottleLevel::Account,
            ),
            (
                counts.address,
                self.address_free_failures,
                ThrottleLevel::Address,
            ),
        ]
        .into_iter()
        .map(|(count, free, level)| Held {
            until: count.last_failure_at.plus(self.delay(count.failures, free)),
            level,
        })
        .filter(|held| held.until > now)
        .max_by_key(|held| held.until)
    }

    /// Whether a failure that brings its pair's count to `pair_failures` also counts
    /// against the account: only a pair's first `free_failures` do, so the account's count
    /// grows with the number of networks guessing, not with one network's persistence.
    pub fn counts_for_account(&self, pair_failures: u32) -> bool {
        pair_failures <= self.free_failures
    }

    /// When a count last written at `now` is forgotten.
    pub fn forget_at(&self, now: Timestamp) -> Timestamp {
        now.plus(self.forget_after)
    }
}

/// The three store keys of an attempt on `username` from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleKeys {
    /// The (account, network) pair.
    pub pair: SecretHash,
    /// The account ([`ThrottleKeys::account_of`]); pair rows carry it too, so clearing an
    /// account's throttle finds them.
    pub account: SecretHash,
    /// The network.
    pub address: SecretHash,
}

impl ThrottleKeys {
    /// The keys of an attempt on `username` from `client` (`None`: a request whose address
    /// is unknown, counted together with every other such request).
    pub fn new(username: &str, client: Option<ClientAddr>) -> Self {
        let network = client.map_or_else(|| "unknown".to_owned(), |c| c.group().to_string());
        // A network's text never holds a NUL, so the last NUL of the pair's text splits it
        // back unambiguously whatever the username holds.
        ThrottleKeys {
            pair: SecretHash::of(&format!("pair\0{}\0{network}", username.trim())),
            account: ThrottleKeys::account_of(username),
            address: SecretHash::of(&format!("address\0{network}")),
        }
    }

    /// The account key of `username`, as the operator's unlock names it.
    pub fn account_of(username: &str) -> SecretHash {
        SecretHash::of(&format!("account\0{}", username.trim()))
    }
}

/// What the store answered an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Let through, and already counted as a failure (so concurrent attempts see it);
    /// the caller ends it with [`crate::store::LoginThrottleStore::end_login_attempt`]
    /// unless it does fail.
    Admitted {
        /// The counts with this attempt added.
        counts: ThrottleCounts,
        /// Whether it was added to the account's count too.
        counted_for_account: bool,
    },
    /// Held back; nothing was counted.
    Held(Held),
}

/// How an admitted attempt ended, when not as a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptEnd {
    /// The password was right: the pair's and the account's counts are forgotten, and the
    /// attempt is taken back from the network's.
    Succeeded,
    /// The password was never checked (no hashing slot): the attempt is taken back from
    /// every count it was added to.
    NotChecked {
        /// As [`Admission::Admitted`] said.
        counted_for_account: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(failures: u32, at: i64) -> FailureCount {
        FailureCount {
            failures,
            last_failure_at: Timestamp(at),
        }
    }

    #[test]
    fn delays_start_after_the_free_failures_and_double_up_to_the_cap() {
        let p = ThrottlePolicy::default();
        let secs = |failures| p.delay(failures, 5).as_secs();
        assert_eq!([secs(0), secs(4)], [0, 0]);
        assert_eq!([secs(5), secs(6), secs(7), secs(14)], [1, 2, 4, 512]);
        assert_eq!([secs(15), secs(40), secs(u32::MAX)], [900, 900, 900]);
    }

    #[test]
    fn an_attempt_is_held_by_the_count_that_ends_last() {
        let p = ThrottlePolicy::default();
        let now = Timestamp(1_000);
        let counts = ThrottleCounts {
            pair: count(6, 999),       // 2 s from 999: until 1001
            account: count(52, 990),   // 4 s from 990: over
            address: count(103, 1000), // 8 s from 1000: until 1008
        };
        assert_eq!(
            p.held(&counts, now),
            Some(Held {
                until: Timestamp(1_008),
                level: ThrottleLevel::Address
            })
        );
        assert_eq!(p.held(&counts, Timestamp(1_008)), None, "the wait is over");
        assert_eq!(p.held(&ThrottleCounts::default(), now), None);
        let held = p.held(&counts, now).unwrap();
        assert_eq!(held.retry_after(now), Duration::from_secs(8));
    }

    #[test]
    fn only_a_pairs_first_free_failures_count_against_the_account() {
        let p = ThrottlePolicy::default();
        assert!(p.counts_for_account(1));
        assert!(p.counts_for_account(5));
        assert!(!p.counts_for_account(6));
    }

    #[test]
    fn keys_separate_accounts_networks_and_ipv6_slash_64s() {
        let v4 = |s: &str| Some(ClientAddr::new(s.parse().unwrap()));
        let a = ThrottleKeys::new("alice", v4("192.0.2.1"));
        let b = ThrottleKeys::new(" alice ", v4("192.0.2.1"));
        let c = ThrottleKeys::new("Alice", v4("192.0.2.1"));
        let d = ThrottleKeys::new("alice", v4("192.0.2.2"));
        assert_eq!(a, b, "trimmed as the login form trims");
        assert_ne!(
            a.account, c.account,
            "usernames match exactly, as in the user table"
        );
        assert_eq!(a.account, d.account);
        assert_ne!(a.pair, d.pair);
        assert_ne!(a.address, d.address);
        assert_eq!(a.account, ThrottleKeys::account_of("alice"));
        let e = ThrottleKeys::new("alice", v4("2001:db8::1"));
        let f = ThrottleKeys::new("alice", v4("2001:db8::ffff:1"));
        assert_eq!(e.pair, f.pair, "one /64 is one network");
        let all = [&a.pair, &a.account, &a.address];
        assert!(
            all.iter()
                .all(|k| all.iter().filter(|o| o == &k).count() == 1)
        );
    }
}
