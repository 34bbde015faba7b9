//! A short-lived, bounded, in-memory cache of registered clients, read by client
//! authentication (RFC 6749 §2.3) on every request to `/token`, `/revoke` and
//! `/introspect`, so the `client_credentials` grant and introspection cost no database
//! round trip for a client seen in the last few seconds.
//!
//! Why this is safe:
//! - It holds only what [`ClientStore::find_client`] returned, never anything derived from
//!   a request: the secret is still checked against the stored hash on every request, and
//!   an unknown client id is never remembered, so made-up ids can neither fill the cache
//!   nor keep a newly registered client out.
//! - Entries expire `tokens.client_cache_ttl` after they were read (30 s by default, at
//!   most 5 min). A rotated secret, a deleted client or a changed grant-type or scope list
//!   therefore takes effect on every replica within that time, which is the bound an
//!   operator accepts by setting it; `0s` turns the cache off.
//! - It is bounded: at most [`MAX_CACHED_CLIENTS`] entries. When full, expired entries
//!   are dropped first; if it is still full, the new record is simply not remembered, so
//!   the worst case is today's behaviour (one store read per request), never unbounded
//!   memory.
//! - Grants, tokens and users are never cached: revocation still takes effect at once.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use portcullis_core::Timestamp;
use portcullis_core::ids::ClientId;
use portcullis_core::model::Client;
use portcullis_core::store::{ClientStore, StoreError};

/// The most clients remembered at once: far more than the clients that authenticate
/// within one TTL on a typical deployment, and small enough (a few MiB) to never matter.
pub const MAX_CACHED_CLIENTS: usize = 10_000;

/// One remembered client and when it was read from the store.
struct Cached {
    client: Arc<Client>,
    read_at: Timestamp,
}

/// Recently read clients, keyed by client id. Cheap to share: clone the `Arc` around it.
pub struct ClientCache {
    ttl: Duration,
    capacity: usize,
    entries: RwLock<HashMap<ClientId, Cached>>,
}

impl std::fmt::Debug for ClientCache {
    // The records hold secret hashes; the count and TTL are all a log needs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCache")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl ClientCache {
    /// A cache whose entries live `ttl`; a zero `ttl` disables it.
    pub fn new(ttl: Duration) -> Self {
        Self::with_capacity(ttl, MAX_CACHED_CLIENTS)
    }

    fn with_capacity(ttl: Duration, capacity: usize) -> Self {
        ClientCache {
            ttl,
            capacity,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The client `client_id`, from the cache when read less than the TTL ago, else from
    /// `store` (and then remembered).
    pub(crate) async fn find(
        &self,
        store: &dyn ClientStore,
        client_id: &ClientId,
        now: Timestamp,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        if let Some(client) = self.fresh(client_id, now) {
            return Ok(Some(client));
        }
        let Some(client) = store.find_client(client_id).await? else {
            // Nothing is remembered for an unknown id; drop a stale entry of a client
            // that was deleted, so the map does not keep its record.
            self.forget(client_id);
            return Ok(None);
        };
        let client = Arc::new(client);
        self.remember(client_id, &client, now);
        Ok(Some(client))
    }

    fn is_fresh(&self, read_at: Timestamp, now: Timestamp) -> bool {
        // An entry "from the future" (the clock stepped back) is not trusted either.
        read_at <= now && now < read_at.plus(self.ttl)
    }

    fn fresh(&self, client_id: &ClientId, now: Timestamp) -> Option<Arc<Client>> {
        if self.ttl.is_zero() {
            return None;
        }
        // A poisoned lock only means another thread panicked while holding it; every
        // write below leaves the map consistent, so its content is still good.
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(client_id)
            .filter(|cached| self.is_fresh(cached.read_at, now))
            .map(|cached| Arc::clone(&cached.client))
    }

    fn remember(&self, client_id: &ClientId, client: &Arc<Client>, now: Timestamp) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(client_id) {
            entries.retain(|_, cached| self.is_fresh(cached.read_at, now));
            if entries.len() >= self.capacity {
                return;
            }
        }
        entries.insert(
            client_id.clone(),
            Cached {
                client: Arc::clone(client),
                read_at: now,
            },
        );
    }

    fn forget(&self, client_id: &ClientId) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        entries.remove(client_id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use portcullis_core::model::{ClientMetadata, ClientType, TokenEndpointAuthMethod};
    use portcullis_core::scope::ScopeSet;
    use portcullis_core::secret::SecretHash;

    use super::*;

    /// A client store holding a mutable set of clients and counting reads.
    #[derive(Default)]
    struct CountingStore {
        clients: Mutex<HashMap<ClientId, Client>>,
        reads: AtomicUsize,
    }

    impl CountingStore {
        fn put(&self, client: Client) {
            self.clients
                .lock()
                .unwrap()
                .insert(client.client_id.clone(), client);
        }

        fn reads(&self) -> usize {
            self.reads.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl ClientStore for CountingStore {
        async fn create_client(&self, _: &Client) -> Result<(), StoreError> {
            unreachable!("client authentication only reads clients")
        }
        async fn find_client(&self, client_id: &ClientId) -> Result<Option<Client>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(self.clients.lock().unwrap().get(client_id).cloned())
        }
        async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
            unreachable!("client authentication only reads clients")
        }
        async fn update_client(&self, _: &Client) -> Result<(), StoreError> {
            unreachable!("client authentication only reads clients")
        }
        async fn delete_client(&self, client_id: &ClientId) -> Result<(), StoreError> {
            self.clients.lock().unwrap().remove(client_id);
            Ok(())
        }
    }

    fn client(id: &str, secret: &str) -> Client {
        Client {
            client_id: ClientId(id.into()),
            secret_hash: Some(SecretHash::of(secret)),
            client_type: ClientType::Confidential,
            auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            name: "App".into(),
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![],
            allowed_scope: ScopeSet::default(),
            metadata: ClientMetadata::default(),
            registration_token_hash: None,
            first_party: false,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    fn id(s: &str) -> ClientId {
        ClientId(s.into())
    }

    #[tokio::test]
    async fn a_client_is_read_once_per_ttl() {
        let store = CountingStore::default();
        store.put(client("app", "s1"));
        let cache = ClientCache::new(Duration::from_secs(30));

        for at in [1_000, 1_010, 1_029] {
            let found = cache.find(&store, &id("app"), Timestamp(at)).await.unwrap();
            assert!(found.is_some());
        }
        assert_eq!(store.reads(), 1);

        cache
            .find(&store, &id("app"), Timestamp(1_030))
            .await
            .unwrap();
        assert_eq!(store.reads(), 2, "read again once the TTL has passed");
    }

    #[tokio::test]
    async fn a_rotated_secret_takes_effect_within_the_ttl() {
        let store = CountingStore::default();
        store.put(client("app", "old"));
        let cache = ClientCache::new(Duration::from_secs(30));
        cache
            .find(&store, &id("app"), Timestamp(1_000))
            .await
            .unwrap();

        store.put(client("app", "new"));
        let stale = cache
            .find(&store, &id("app"), Timestamp(1_020))
            .await
            .unwrap()
            .unwrap();
        let fresh = cache
            .find(&store, &id("app"), Timestamp(1_030))
            .await
            .unwrap()
            .unwrap();

        assert_eq!(stale.secret_hash, Some(SecretHash::of("old")));
        assert_eq!(fresh.secret_hash, Some(SecretHash::of("new")));
    }

    #[tokio::test]
    async fn unknown_and_deleted_clients_are_not_remembered() {
        let store = CountingStore::default();
        let cache = ClientCache::new(Duration::from_secs(30));
        for _ in 0..3 {
            assert!(
                cache
                    .find(&store, &id("nobody"), Timestamp(1_000))
                    .await
                    .unwrap()
                    .is_none()
            );
        }
        assert_eq!(store.reads(), 3, "misses always go to the store");
        assert_eq!(cache.len(), 0);

        store.put(client("app", "s"));
        cache
            .find(&store, &id("app"), Timestamp(1_000))
            .await
            .unwrap();
        store.delete_client(&id("app")).await.unwrap();
        let gone = cache
            .find(&store, &id("app"), Timestamp(1_031))
            .await
            .unwrap();
        assert!(gone.is_none());
        assert_eq!(cache.len(), 0, "the deleted client's record is dropped");
    }

    #[tokio::test]
    async fn a_zero_ttl_disables_the_cache() {
        let store = CountingStore::default();
        store.put(client("app", "s"));
        let cache = ClientCache::new(Duration::ZERO);
        for _ in 0..3 {
            cache
                .find(&store, &id("app"), Timestamp(1_000))
                .await
                .unwrap();
        }
        assert_eq!(store.reads(), 3);
        assert_eq!(cache.len(), 0);
    }

    #[tokio::test]
    async fn the_cache_never_grows_past_its_capacity() {
        let store = CountingStore::default();
        for n in 0..5 {
            store.put(client(&format!("app-{n}"), "s"));
        }
        let cache = ClientCache::with_capacity(Duration::from_secs(30), 3);

        for n in 0..5 {
            cache
                .find(&store, &id(&format!("app-{n}")), Timestamp(1_000))
                .await
                .unwrap();
        }
        assert_eq!(
            cache.len(),
            3,
            "full of fresh entries: new ones are skipped"
        );

        // Once the old entries expire, they make room.
        cache
            .find(&store, &id("app-4"), Timestamp(1_040))
            .await
            .unwrap();
        assert_eq!(cache.len(), 1);
    }

    #[tokio::test]
    async fn an_entry_read_in_the_future_is_not_trusted() {
        let store = CountingStore::default();
        store.put(client("app", "s"));
        let cache = ClientCache::new(Duration::from_secs(30));
        cache
            .find(&store, &id("app"), Timestamp(2_000))
            .await
            .unwrap();
        cache
            .find(&store, &id("app"), Timestamp(1_000))
            .await
            .unwrap();
        assert_eq!(store.reads(), 2);
    }
}
