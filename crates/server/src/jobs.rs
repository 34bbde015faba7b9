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
            purge_once(store.as_ref(), clock.as_ref()).await;
        }
    })
}

async fn purge_once(store: &dyn Store, clock: &dyn Clock) {
    for _ in 0..PURGE_MAX_BATCHES {
        match store.purge_expired(clock.now(), PURGE_BATCH).await {
            Ok(report) => {
                let total = report.codes
                    + report.refresh_tokens
                    + report.sessions
                    + report.revoked_token_ids;
                if total > 0 {
                    tracing::info!(?report, "purged expired rows");
                }
                let full = u64::from(PURGE_BATCH);
                if report.codes < full
                    && report.refresh_tokens < full
                    && report.sessions < full
                    && report.revoked_token_ids < full
                {
                    return;
                }
            }
            Err(e) => {
                tracing::error!(error = ?e, "purging expired rows failed");
                return;
            }
        }
    }
}
