//! The peer address of a request, for the audit trail ("from where") and the per-IP
//! registration limit. It is the TCP peer the server saw (`ConnectInfo`), never a
//! client-supplied header, which anyone could forge.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

/// The TCP peer's IP, when the server was started with connection info.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerIp(pub(crate) Option<IpAddr>);

impl PeerIp {
    /// The address as audit events record it.
    pub(crate) fn audit(self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}
