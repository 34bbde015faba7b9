//! Background jobs every replica runs: reloading the shared keyring (so a rotation made
//! anywhere reaches every replica well before the new key signs) and purging expired rows
//! in bounded batches (safe to run on every replica at once).

use std::sync::Arc;
use std::time::Duration;

use portcullis_core::Clock;
use portcullis_core::keyring::Keyring;
use portcullis_core::store::Store;
use tokio::sync::watch;

/// Rows deleted per table per statement: small enough to hold no long locks.
const PURGE_BATCH: u32 = 500;
/// Batches per tick at most, so one replica cannot monopolise the database.
const PURGE_MAX_BATCHES: usize = 20;

pub(crate) fn spawn_keyring_reload(
    store: Arc<dyn Store>,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            if let Err(e) = keyring.reload(store.as_ref(), clock.now()).await {
                tracing::error!(error = %e, "keyring reload failed; still serving the last loaded keys");
            }
        }
    })
}

pub(crate) fn spawn_purge(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            purge_once(
                store.as_ref(),
                clock.as_ref(),
                PURGE_BATCH,
                PURGE_MAX_BATCHES,
            )
            .await;
        }
    })
}

/// One purge tick: batches until every table had less than a full batch (or the cap).
/// Returns the number of batches run.
async fn purge_once(store: &dyn Store, clock: &dyn Clock, batch: u32, max_batches: usize) -> usize {
    for round in 1..=max_batches {
        match store.purge_expired(clock.now(), batch).await {
            Ok(report) => {
                let total = report.codes
                    + report.refresh_tokens
                    + report.sessions
                    + report.revoked_token_ids
                    + report.login_throttles;
                if total > 0 {
                    tracing::info!(?report, "purged expired rows");
                }
                let full = u64::from(batch);
                if report.codes < full
                    && report.refresh_tokens < full
                    && report.sessions < full
                    && report.revoked_token_ids < full
                    && report.login_throttles < full
                {
                    return round;
                }
            }
            Err(e) => {
                tracing::error!(error = ?e, "purging expired rows failed");
                return round;
            }
        }
    }
    max_batches
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use portcullis_core::Timestamp;
    use portcullis_core::clock::ManualClock;
    use portcullis_core::store::RevocationStore;
    use portcullis_store::SqliteStore;

    use super::*;

    #[tokio::test]
    async fn a_purge_tick_runs_batches_until_the_backlog_is_gone_and_stops() {
        // Arrange: five revoked token ids past their expiry, one still live.
        let dir = std::env::temp_dir().join(format!("pc-purge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("p.db").display());
        let store = SqliteStore::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        let clock = ManualClock::new(Timestamp(1_000));
        for i in 0..5 {
            store
                .revoke_token_id(&format!("old-{i}"), Timestamp(1_010), Timestamp(1_000))
                .await
                .unwrap();
        }
        store
            .revoke_token_id("live", Timestamp(5_000), Timestamp(1_000))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(100));

        // Act: batches of two.
        let rounds = purge_once(&store, &clock, 2, 20).await;

        // Assert: 2 + 2 + 1 rows, the third batch was not full, so it stopped there.
        assert_eq!(rounds, 3);
        for i in 0..5 {
            assert!(
                !store
                    .is_token_id_revoked(&format!("old-{i}"))
                    .await
                    .unwrap()
            );
        }
        assert!(store.is_token_id_revoked("live").await.unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
