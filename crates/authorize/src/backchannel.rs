//! Delivery of logout tokens (OpenID Back-Channel Logout 1.0 §2.5): a form `POST` of
//! `logout_token` to each client's registered `backchannel_logout_uri`, off the request
//! path (a spawned task, so a slow or dead client never delays the user), with a short
//! per-attempt timeout, a few retries with exponential backoff, and the outcome recorded as
//! an audit event. Deliveries under way are counted, so shutdown can let them finish and
//! a caller can wait until every one has recorded its outcome ([`Backchannel::settled`]).
//!
//! Only `https` URIs, or plain `http` on a loopback host, are ever called, and redirects
//! are never followed (§2.5 gives the client no reason to redirect, and following one would
//! let a client point our server at any address).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::Clock;
use portcullis_core::ids::{AuditEventId, ClientId, SessionId};
use portcullis_core::model::AuditEvent;
use portcullis_core::store::Store;
use tokio::sync::watch;
use url::{Host, Url};

/// Timing of deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// The longest one attempt may take, connection included.
    pub attempt_timeout: Duration,
    /// Attempts in all (the first plus retries).
    pub attempts: u32,
    /// The wait before the first retry; it doubles before each further one.
    pub first_backoff: Duration,
}

impl Default for DeliveryPolicy {
    /// 2 s per attempt, 3 attempts, 0.5 s then 1 s between them: at most about 7.5 s per
    /// client, all of it after the user has their answer.
    fn default() -> Self {
        DeliveryPolicy {
            attempt_timeout: Duration::from_secs(2),
            attempts: 3,
            first_backoff: Duration::from_millis(500),
        }
    }
}

impl DeliveryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    fn backoff(&self, attempt: u32) -> Duration {
        self.first_backoff
            .saturating_mul(2_u32.saturating_pow(attempt.saturating_sub(1)))
    }
}

/// The back-channel HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("building the back-channel logout HTTP client failed")]
pub struct BackchannelError(#[source] reqwest::Error);

/// Sends logout tokens; cheap to clone (clones share the count of deliveries under way).
#[derive(Clone)]
pub struct Backchannel {
    http: reqwest::Client,
    policy: DeliveryPolicy,
    in_flight: Arc<watch::Sender<usize>>,
}

/// One delivery under way: counted from before its task is spawned (so a caller that
/// returns after starting it never sees zero too early) until the task ends, however it
/// ends.
struct InFlight(Arc<watch::Sender<usize>>);

impl InFlight {
    fn start(count: &Arc<watch::Sender<usize>>) -> InFlight {
        count.send_modify(|n| *n += 1);
        InFlight(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl std::fmt::Debug for Backchannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backchannel")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Backchannel {
    /// A sender with its own HTTP client: no redirects, the attempt timeout on every request,
    /// TLS verified against the system's CA certificates. Without any (a bare container),
    /// the server still starts: https deliveries then fail, loudly, and loopback http works.
    pub fn new(policy: DeliveryPolicy) -> Result<Self, BackchannelError> {
        let http = match client_builder(policy).build() {
            Ok(http) => http,
            Err(e) => {
                tracing::warn!(error = %e, "back-channel logout: no CA certificates could be loaded from the system; deliveries to https URIs will fail until they are installed");
                client_builder(policy)
                    .tls_certs_only(std::iter::empty())
                    .build()
                    .map_err(BackchannelError)?
            }
        };
        Ok(Backchannel {
            http,
            policy,
            in_flight: Arc::new(watch::channel(0).0),
        })
    }

    /// Resolves once no delivery is under way: every one started so far has recorded its
    /// outcome. For shutdown (let them finish) and for tests (no polling).
    pub async fn settled(&self) {
        let mut count = self.in_flight.subscribe();
        // The sender lives in `self`, so the channel cannot close while this waits.
        let _ = count.wait_for(|n| *n == 0).await;
    }
}

fn client_builder(policy: DeliveryPolicy) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(policy.attempt_timeout)
        .connect_timeout(policy.attempt_timeout)
        .user_agent("Portcullis back-channel logout")
}

/// The URI a logout token may be sent to: `https`, or `http` on a loopback host (a client
/// on the same machine); never one with a fragment (§2.2).
pub(crate) fn delivery_uri(raw: &str) -> Option<Url> {
    let url = Url::parse(raw).ok()?;
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let loopback = match url.host()? {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(ip).is_loopback(),
    };
    match url.scheme() {
        "https" => Some(url),
        "http" if loopback => Some(url),
        _ => None,
    }
}

/// One logout token on its way to one client.
pub(crate) struct Delivery {
    /// The client.
    pub(crate) client_id: ClientId,
    /// Its checked `backchannel_logout_uri`.
    pub(crate) uri: Url,
    /// The signed logout token.
    pub(crate) token: String,
    /// The session it reports ended.
    pub(crate) session_id: SessionId,
    /// Who caused the logout, for the audit trail.
    pub(crate) actor: String,
}

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// The client answered 2xx (§2.8: 200, or 204).
    Delivered { status: u16 },
    /// The client answered with an error that a retry will not change (§2.8: 400).
    Refused { status: u16 },
    /// Every attempt failed: timeouts, connection errors or server errors.
    GaveUp { reason: &'static str },
}

/// The result of one attempt.
enum Attempt {
    Done(Outcome),
    Retry(&'static str),
}

impl Backchannel {
    /// Starts every delivery in the background and returns at once.
    pub(crate) fn spawn(
        &self,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        deliveries: Vec<Delivery>,
    ) {
        for delivery in deliveries {
            let sender = self.clone();
            let store = store.clone();
            let clock = clock.clone();
            let in_flight = InFlight::start(&self.in_flight);
            tokio::spawn(async move {
                let _in_flight = in_flight;
                let (outcome, attempts) = sender.deliver(&delivery).await;
                record(
                    store.as_ref(),
                    clock.as_ref(),
                    &delivery,
                    &outcome,
                    attempts,
                )
                .await;
            });
        }
    }

    async fn deliver(&self, delivery: &Delivery) -> (Outcome, u32) {
        let mut attempt = 1;
        loop {
            match self.attempt(delivery).await {
                Attempt::Done(outcome) => return (outcome, attempt),
                Attempt::Retry(reason) if attempt >= self.policy.attempts => {
                    return (Outcome::GaveUp { reason }, attempt);
                }
                Attempt::Retry(_) => {
                    tokio::time::sleep(self.policy.backoff(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt(&self, delivery: &Delivery) -> Attempt {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("logout_token", &delivery.token)
            .finish();
        let sent = self
            .http
            .post(delivery.uri.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status();
                let code = status.as_u16();
                if status.is_success() {
                    Attempt::Done(Outcome::Delivered { status: code })
                } else if status.is_server_error() || code == 408 || code == 429 {
                    Attempt::Retry("server error")
                } else {
                    Attempt::Done(Outcome::Refused { status: code })
                }
            }
            Err(e) if e.is_timeout() => Attempt::Retry("timeout"),
            Err(e) if e.is_connect() => Attempt::Retry("connection failed"),
            Err(_) => Attempt::Retry("request failed"),
        }
    }
}

/// Records the outcome as an audit event and logs it once. The token itself is never
/// recorded or logged.
async fn record(
    store: &dyn Store,
    clock: &dyn Clock,
    delivery: &Delivery,
    outcome: &Outcome,
    attempts: u32,
) {
    let client_id = &delivery.client_id;
    let (action, detail) = match outcome {
        Outcome::Delivered { status } => {
            tracing::info!(client_id = %client_id, attempts, status, "back-channel logout delivered to {client_id}");
            (
                "backchannel_logout.delivered",
                serde_json::json!({ "sid": delivery.session_id, "attempts": attempts, "status": status }),
            )
        }
        Outcome::Refused { status } => {
            tracing::warn!(client_id = %client_id, attempts, status, "back-channel logout refused by {client_id}");
            (
                "backchannel_logout.failed",
                serde_json::json!({ "sid": delivery.session_id, "attempts": attempts, "status": status }),
            )
        }
        Outcome::GaveUp { reason } => {
            tracing::warn!(client_id = %client_id, attempts, reason, "back-channel logout to {client_id} failed");
            (
                "backchannel_logout.failed",
                serde_json::json!({ "sid": delivery.session_id, "attempts": attempts, "reason": reason }),
            )
        }
    };
    let event = AuditEvent {
        audit_event_id: AuditEventId::random(),
        at: clock.now(),
        actor: delivery.actor.clone(),
        action: action.to_owned(),
        target: Some(client_id.to_string()),
        ip: None,
        detail,
    };
    if let Err(e) = store.record_audit_event(&event).await {
        tracing::error!(error = ?e, client_id = %client_id, "recording the back-channel logout outcome failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_without_fragment_or_credentials() {
        for ok in [
            "https://app.example/logout",
            "https://app.example/logout?tenant=1",
            "http://127.0.0.1:8080/logout",
            "http://127.5.6.7/logout",
            "http://[::1]:9000/logout",
            "http://localhost/logout",
        ] {
            assert!(delivery_uri(ok).is_some(), "{ok}");
        }
        for bad in [
            "http://app.example/logout",
            "http://10.0.0.1/logout",
            "https://app.example/logout#frag",
            "https://user:pw@app.example/logout",
            "ftp://127.0.0.1/logout",
            "javascript:alert(1)",
            "not a uri",
        ] {
            assert!(delivery_uri(bad).is_none(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_sender_builds_with_and_without_system_ca_certificates() {
        assert!(Backchannel::new(DeliveryPolicy::default()).is_ok());
        // The fallback for a system without CA certificates builds too.
        assert!(
            client_builder(DeliveryPolicy::default())
                .tls_certs_only(std::iter::empty())
                .build()
                .is_ok()
        );
    }

    #[test]
    fn backoff_doubles_from_the_first_wait() {
        let p = DeliveryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(500));
        assert_eq!(p.backoff(2), Duration::from_secs(1));
        assert_eq!(p.backoff(3), Duration::from_secs(2));
        assert!(
            p.backoff(64) >= p.backoff(3),
            "saturates instead of overflowing"
        );
    }
}
