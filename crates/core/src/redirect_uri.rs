//! Redirect URIs: what may be registered (RFC 6749 §3.1.2, RFC 9700 §2.1, RFC 8252 §7)
//! and how a presented URI is compared with a registered one (exact string match; for
//! loopback IP literals any port, RFC 8252 §7.3).

use serde::{Deserialize, Serialize};
use url::{Host, Url};

/// Why a redirect URI cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    /// Not an absolute URI (RFC 6749 §3.1.2).
    #[error("redirect URI is not an absolute URI")]
    NotAbsolute,
    /// Carries a fragment (RFC 6749 §3.1.2: MUST NOT include a fragment component).
    #[error("redirect URI must not contain a fragment")]
    Fragment,
    /// Plain http on a host other than a loopback address (RFC 9700 §2.6, RFC 8252 §8.3).
    #[error("redirect URI uses http on a host that is not loopback")]
    InsecureHttp,
    /// Contains a wildcard; only exact URIs are matched (RFC 9700 §4.1.3).
    #[error("redirect URI must not contain a wildcard")]
    Wildcard,
    /// Userinfo in the URI invites confusion attacks.
    #[error("redirect URI must not contain user information")]
    Userinfo,
}

/// A registered redirect URI, validated at registration time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Validates a URI for registration.
    pub fn parse(raw: &str) -> Result<Self, RedirectUriError> {
        if raw.contains('*') {
            return Err(RedirectUriError::Wildcard);
        }
        let url = Url::parse(raw).map_err(|_| RedirectUriError::NotAbsolute)?;
        if url.cannot_be_a_base() && url.scheme() != "urn" {
            // e.g. "mailto:x" — not something we can redirect a browser to.
            return Err(RedirectUriError::NotAbsolute);
        }
        if url.fragment().is_some() || raw.contains('#') {
            return Err(RedirectUriError::Fragment);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(RedirectUriError::Userinfo);
        }
        // https anywhere; http only on loopback; private-use URI schemes for native apps
        // (RFC 8252 §7.1) are allowed.
        if url.scheme() == "http" && !is_loopback(&url) {
            return Err(RedirectUriError::InsecureHttp);
        }
        // Keep the string exactly as registered: matching is by exact string.
        Ok(RedirectUri(raw.to_owned()))
    }

    /// The URI as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` may be used where this URI was registered: the exact same
    /// string, or, when both are http loopback IP literals, the same URI apart from the
    /// port (RFC 8252 §7.3: native apps get an ephemeral port at run time).
    pub fn matches(&self, presented: &str) -> bool {
        if self.0 == presented {
            return true;
        }
        let (Ok(registered), Ok(mut candidate)) = (Url::parse(&self.0), Url::parse(presented))
        else {
            return false;
        };
        if registered.scheme() != "http" || !is_loopback_ip(&registered) {
            return false;
        }
        if candidate.scheme() != "http" || !is_loopback_ip(&candidate) {
            return false;
        }
        if candidate.set_port(registered.port()).is_err() {
            return false;
        }
        // Compare serialisations so nothing but the port may differ.
        candidate.as_str() == registered.as_str() && presented_has_no_fragment(presented)
    }
}

fn presented_has_no_fragment(presented: &str) -> bool {
    !presented.contains('#')
}

/// http on `localhost` or a loopback IP literal (RFC 8252 §8.3 recommends the literal).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        _ => is_loopback_ip(url),
    }
}

fn is_loopback_ip(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = RedirectUriError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        RedirectUri::parse(&s)
    }
}

impl From<RedirectUri> for String {
    fn from(u: RedirectUri) -> String {
        u.0
    }
}

impl std::fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_rules() {
        assert!(RedirectUri::parse("https://app.example/cb").is_ok());
        assert!(RedirectUri::parse("http://127.0.0.1/cb").is_ok());
        assert!(RedirectUri::parse("http://[::1]:8080/cb").is_ok());
        assert!(RedirectUri::parse("http://localhost:3000/cb").is_ok());
        assert!(RedirectUri::parse("com.example.app:/oauth2redirect").is_ok());
        assert_eq!(
            RedirectUri::parse("http://app.example/cb"),
            Err(RedirectUriError::InsecureHttp)
        );
        assert_eq!(
            RedirectUri::parse("https://app.example/cb#frag"),
            Err(RedirectUriError::Fragment)
        );
        assert_eq!(
            RedirectUri::parse("https://*.example/cb"),
            Err(RedirectUriError::Wildcard)
        );
        assert_eq!(
            RedirectUri::parse("/relative"),
            Err(RedirectUriError::NotAbsolute)
        );
        assert_eq!(
            RedirectUri::parse("https://user:pw@app.example/cb"),
            Err(RedirectUriError::Userinfo)
        );
    }

    #[test]
    fn matching_is_exact_string_for_ordinary_uris() {
        let r = RedirectUri::parse("https://app.example/cb").unwrap();
        assert!(r.matches("https://app.example/cb"));
        assert!(!r.matches("https://app.example/cb/"));
        assert!(!r.matches("https://app.example/cb?x=1"));
        assert!(!r.matches("https://APP.example/cb"));
        assert!(!r.matches("https://app.example:443/cb"));
        assert!(!r.matches("https://app.example.evil/cb"));
    }

    #[test]
    fn loopback_ip_literals_may_vary_the_port_only() {
        let r = RedirectUri::parse("http://127.0.0.1/cb").unwrap();
        assert!(r.matches("http://127.0.0.1:51004/cb"));
        assert!(!r.matches("http://127.0.0.1:51004/other"));
        assert!(!r.matches("http://127.0.0.2:51004/cb"));
        assert!(!r.matches("https://127.0.0.1:51004/cb"));
        assert!(!r.matches("http://127.0.0.1:51004/cb#x"));
        let v6 = RedirectUri::parse("http://[::1]:1/cb").unwrap();
        assert!(v6.matches("http://[::1]:2/cb"));
        // `localhost` is a name, not a literal: exact match only (RFC 8252 §8.3).
        let named = RedirectUri::parse("http://localhost:3000/cb").unwrap();
        assert!(!named.matches("http://localhost:3001/cb"));
    }
}
