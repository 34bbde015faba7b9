//! The public keys of `private_key_jwt` clients registered with a `jwks_uri` (RFC 7591 §2),
//! fetched over HTTPS and cached, bounded in every dimension a client controls:
//! - only https URIs are fetched (plain http only on a loopback host, and only when the
//!   issuer itself is a development loopback issuer), with no redirects followed, so a
//!   registration cannot point the server at an internal http service;
//! - a fetch times out after [`FETCH_TIMEOUT`], and reads at most [`MAX_JWKS_BYTES`];
//! - a key set is kept [`JWKS_TTL`] (refetched sooner, at most once per
//!   [`MIN_REFETCH_INTERVAL`], when an assertion names a `kid` it does not hold: key
//!   rollover), and at most [`MAX_CACHED_SETS`] sets are kept, expired ones dropped first.
//!
//! Like every cache here it is per replica and safe to lose.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use portcullis_core::Timestamp;
use portcullis_core::client_keys::{ClientKey, parse_jwk_set, validate_jwks_uri};

/// How long a fetched key set is used.
pub const JWKS_TTL: Duration = Duration::from_secs(300);
/// The soonest a key set is refetched because an assertion named an unknown `kid`.
pub const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// The most key sets kept.
pub const MAX_CACHED_SETS: usize = 1_000;
/// The largest JWKS document read.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// The longest a fetch may take, connection included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a client's keys could not be had. Logged, never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JwksFetchError {
    /// The URI is not one we fetch.
    RefusedUri,
    /// Connection, timeout or non-200 status.
    Unreachable,
    /// Larger than [`MAX_JWKS_BYTES`].
    TooLarge,
    /// Not a usable JWK set.
    Invalid,
}

struct Cached {
    keys: Arc<Vec<ClientKey>>,
    fetched_at: Timestamp,
}

/// Fetched client key sets, keyed by `jwks_uri`.
pub struct JwksCache {
    http: reqwest::Client,
    allow_loopback_http: bool,
    entries: RwLock<HashMap<String, Cached>>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("allow_loopback_http", &self.allow_loopback_http)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// A cache whose fetches accept plain-http loopback URIs only when
    /// `allow_loopback_http` (a development issuer).
    pub fn new(allow_loopback_http: bool) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .user_agent("portcullis (jwks_uri fetch)")
            .build()?;
        Ok(JwksCache {
            http,
            allow_loopback_http,
            entries: RwLock::new(HashMap::new()),
        })
    }

    /// The keys at `uri`: cached when fresh, unless `refresh` asks for a newer copy and the
    /// cached one is older than [`MIN_REFETCH_INTERVAL`].
    pub(crate) async fn keys(
        &self,
        uri: &str,
        now: Timestamp,
        refresh: bool,
    ) -> Result<Arc<Vec<ClientKey>>, JwksFetchError> {
        let max_age = if refresh {
            MIN_REFETCH_INTERVAL
        } else {
            JWKS_TTL
        };
        if let Some(keys) = self.cached(uri, now, max_age) {
            return Ok(keys);
        }
        let keys = Arc::new(self.fetch(uri).await?);
        self.remember(uri, keys.clone(), now);
        Ok(keys)
    }

    fn cached(&self, uri: &str, now: Timestamp, max_age: Duration) -> Option<Arc<Vec<ClientKey>>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(uri)
            .filter(|c| now < c.fetched_at.plus(max_age))
            .map(|c| c.keys.clone())
    }

    fn remember(&self, uri: &str, keys: Arc<Vec<ClientKey>>, now: Timestamp) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if !entries.contains_key(uri) && entries.len() >= MAX_CACHED_SETS {
            entries.retain(|_, c| now < c.fetched_at.plus(JWKS_TTL));
            if entries.len() >= MAX_CACHED_SETS {
                // Full of live sets: fetch again next time rather than grow.
                return;
            }
        }
        entries.insert(
            uri.to_owned(),
            Cached {
                keys,
                fetched_at: now,
            },
        );
    }

    async fn fetch(&self, uri: &str) -> Result<Vec<ClientKey>, JwksFetchError> {
        let url = validate_jwks_uri(uri, self.allow_loopback_http)
            .map_err(|_| JwksFetchError::RefusedUri)?;
        let mut response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|_| JwksFetchError::Unreachable)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(JwksFetchError::Unreachable);
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(JwksFetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|_| JwksFetchError::Unreachable)?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(JwksFetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| JwksFetchError::Invalid)?;
        parse_jwk_set(&value).map_err(|_| JwksFetchError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    // RFC 7517 Appendix A.1, first key.
    const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"1",
        "x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
        "y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}"#;

    /// Serves `JWKS` on a loopback port, counting fetches.
    async fn serve() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 2048];
                let _ = stream.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{JWKS}",
                    JWKS.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        });
        (url, hits)
    }

    #[tokio::test]
    async fn a_key_set_is_reused_until_its_ttl_and_refreshed_at_most_once_per_interval() {
        let (url, hits) = serve().await;
        let cache = JwksCache::new(true).unwrap();
        let t0 = Timestamp(1_000);
        let fetched = cache.keys(&url, t0, false).await.unwrap();
        assert_eq!(fetched[0].kid.as_deref(), Some("1"));
        cache
            .keys(&url, t0.plus(Duration::from_secs(10)), false)
            .await
            .unwrap();
        cache
            .keys(&url, t0.plus(Duration::from_secs(10)), true)
            .await
            .unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1, "cached; refresh too soon");
        cache
            .keys(&url, t0.plus(MIN_REFETCH_INTERVAL), true)
            .await
            .unwrap();
        assert_eq!(
            hits.load(Ordering::SeqCst),
            2,
            "a rollover refresh after the interval"
        );
        cache
            .keys(&url, t0.plus(MIN_REFETCH_INTERVAL + JWKS_TTL), false)
            .await
            .unwrap();
        assert_eq!(
            hits.load(Ordering::SeqCst),
            3,
            "refetched once the TTL passed"
        );
    }

    #[tokio::test]
    async fn non_https_and_non_loopback_uris_are_never_fetched() {
        let production = JwksCache::new(false).unwrap();
        for uri in [
            "http://127.0.0.1:1/jwks",
            "http://keys.example/jwks",
            "file:///etc/passwd",
        ] {
            assert_eq!(
                production.keys(uri, Timestamp(0), false).await.unwrap_err(),
                JwksFetchError::RefusedUri,
                "{uri}"
            );
        }
        let development = JwksCache::new(true).unwrap();
        assert_eq!(
            development
                .keys("http://keys.example/jwks", Timestamp(0), false)
                .await
                .unwrap_err(),
            JwksFetchError::RefusedUri
        );
    }
}
