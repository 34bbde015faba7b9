//! Serving HTTP/1.1 connections with hyper directly, for what `axum::serve` does not bound:
//! how long a client may take to send its headers (hyper's `header_read_timeout`, which
//! needs a timer that `axum::serve` never sets, so a client trickling one byte at a time
//! could hold a connection for ever), and how many connections are served at once, so a
//! flood of them cannot exhaust the process's file descriptors (`accept` failing with
//! `EMFILE` starves every ordinary request) nor its memory.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

/// Files the process keeps open besides client connections, apart from its database
/// connections: the listener, stdio, the SQLite files, outbound requests (back-channel
/// logout, `jwks_uri`), with room to spare.
const OTHER_FILES: u64 = 64;

/// After an `accept` failure that is not about one connection (the process or system is
/// out of file descriptors or memory), wait this long before the next: retrying at once
/// would spin on the same error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How connections are bounded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// hyper's `header_read_timeout`: the request line and headers must arrive within it.
    pub(crate) header_read_timeout: Duration,
    /// Connections served at once.
    pub(crate) max_connections: usize,
}

/// Raises the soft open-files limit to the hard one (a default soft limit of 1024 is far
/// below what a server needs) and returns how many connections fit beside `database_files`
/// and [`OTHER_FILES`]: `configured`, or fewer (with a warning) when the limit is lower.
pub(crate) fn connection_cap(configured: usize, database_files: u64) -> usize {
    let open_files = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "could not read or raise the open-files limit: {error}");
            return configured;
        }
    };
    let room = open_files
        .saturating_sub(database_files + OTHER_FILES)
        .max(1);
    let cap = usize::try_from(room).map_or(configured, |room| configured.min(room));
    if cap < configured {
        tracing::warn!(
            http_max_connections = configured,
            open_files,
            serving = cap,
            "http_max_connections {configured} is more than the open-files limit {open_files} allows: serving {cap} connections at once"
        );
    }
    cap
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets
/// every connection finish its request in flight (idle ones close at once) and returns
/// once all are gone.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // A free slot first: at the cap nothing is accepted, so further connections wait
        // in the kernel's backlog instead of holding descriptors here.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else {
            break; // the semaphore is never closed
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    drop(slot);
                    accept_failed(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = router
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let connection = graceful
            .watch(http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // A header read timeout, a client gone mid-request, a malformed request
                // line: the client's doing, and hyper has answered what could be answered.
                tracing::debug!(%peer, %error, "connection from {peer} ended: {error}");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Logs a failed `accept`; waits a little when the failure is the process's, not the
/// connection's.
async fn accept_failed(error: &io::Error) {
    let one_connection = matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    );
    if one_connection {
        tracing::debug!(%error, "accept failed for one connection: {error}");
    } else {
        tracing::error!(%error, "accept failed: {error}");
        tokio::time::sleep(ACCEPT_BACKOFF).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_soft_open_files_limit_is_raised_to_the_hard_one() {
        // Arrange: a soft limit below the hard one, as most systems start a service with.
        let (_, hard) = rlimit::Resource::NOFILE.get().unwrap();
        let lowered = (hard / 2).min(1024);
        rlimit::Resource::NOFILE.set(lowered, hard).unwrap();

        // Act
        let cap = connection_cap(usize::MAX, 16);

        // Assert
        let (soft, _) = rlimit::Resource::NOFILE.get().unwrap();
        assert!(soft > lowered, "raised from {lowered} to {soft}");
        #[cfg(target_os = "linux")]
        assert_eq!(soft, hard);
        assert_eq!(cap as u64, soft - 16 - OTHER_FILES);
        assert_eq!(connection_cap(10, 16), 10, "a lower cap is kept");
    }
}
