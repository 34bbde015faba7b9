//! The client address of a request, for the audit trail ("from where") and the
//! registration rate limit. The server resolves it once per request
//! (`portcullis_core::client_addr`: the TCP peer, or what trusted proxies say), and this
//! only reads that answer; nothing here looks at a client-supplied header.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use portcullis_core::client_addr::ClientAddr;

/// The resolved client address (absent only when a router runs without the server's
/// resolver, as in router tests).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientIp(pub(crate) Option<ClientAddr>);

impl ClientIp {
    /// The address as audit events record it.
    pub(crate) fn audit(self) -> Option<String> {
        self.0.map(|addr| addr.to_string())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(parts.extensions.get::<ClientAddr>().copied()))
    }
}
