//! Resolves every request's client address once, before routing, and hands it to the
//! endpoint crates as a request extension ([`ClientAddr`]): the login throttles, the
//! registration rate limit, sessions and the audit trail all read this one answer. The
//! rule itself (TCP peer, or what trusted proxies say) is `portcullis_core::client_addr`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use portcullis_core::client_addr::{ClientAddr, TrustedProxies};

/// Middleware: inserts the request's [`ClientAddr`].
pub(super) async fn resolve_client_addr(
    State(proxies): State<Arc<TrustedProxies>>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let peer = peer.ip();
        let addr = if proxies.any() {
            // A line that is not visible ASCII is a hop nobody can read: it ends the walk
            // instead of being skipped over.
            let lines = request
                .headers()
                .get_all(proxies.header().name())
                .iter()
                .map(|v| v.to_str().unwrap_or("unknown"));
            proxies.client_addr(peer, lines)
        } else {
            ClientAddr::new(peer)
        };
        request.extensions_mut().insert(addr);
    }
    next.run(request).await
}
