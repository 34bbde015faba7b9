//! Every cookie we set is built here: `HttpOnly`, `Path=/`, no `Domain`, and `Secure`
//! with the `__Host-` prefix unless the issuer is plain-http loopback (local development,
//! where a browser would drop `Secure` cookies). The session cookie is `SameSite=Lax` (it
//! must ride along on the top-level navigation from the app), the CSRF cookie `Strict`.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};

/// Which cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CookieKind {
    /// The browser session id.
    Session,
    /// The CSRF binding value.
    Csrf,
}

/// Cookie policy derived from the issuer.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    /// `Secure` + `__Host-` (everything but plain-http loopback issuers).
    pub secure: bool,
}

impl CookiePolicy {
    pub(crate) fn name(self, kind: CookieKind) -> &'static str {
        match (kind, self.secure) {
            (CookieKind::Session, true) => "__Host-portcullis_session",
            (CookieKind::Session, false) => "portcullis_session",
            (CookieKind::Csrf, true) => "__Host-portcullis_csrf",
            (CookieKind::Csrf, false) => "portcullis_csrf",
        }
    }

    /// The value of cookie `kind` in the request, if any.
    pub(crate) fn read(self, headers: &HeaderMap, kind: CookieKind) -> Option<String> {
        let name = self.name(kind);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == name)
            .map(|c| c.value().to_owned())
    }

    /// A `Set-Cookie` value for `kind`.
    pub(crate) fn set(
        self,
        kind: CookieKind,
        value: &str,
        max_age: Duration,
    ) -> Option<HeaderValue> {
        let same_site = match kind {
            CookieKind::Session => SameSite::Lax,
            CookieKind::Csrf => SameSite::Strict,
        };
        let max_age =
            cookie::time::Duration::seconds(i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX));
        let cookie = Cookie::build((self.name(kind), value.to_owned()))
            .http_only(true)
            .secure(self.secure)
            .path("/")
            .same_site(same_site)
            .max_age(max_age)
            .build();
        HeaderValue::from_str(&cookie.to_string()).ok()
    }

    /// A `Set-Cookie` value that deletes cookie `kind`: empty, expired, and with the same
    /// name, path and flags, so the browser replaces the one it holds (logout destroys the
    /// session cookie, OWASP ASVS V3.3.1).
    pub(crate) fn clear(self, kind: CookieKind) -> Option<HeaderValue> {
        let mut header = self
            .set(kind, "", Duration::ZERO)?
            .to_str()
            .ok()?
            .to_owned();
        header.push_str("; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
        HeaderValue::from_str(&header).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_policy_uses_host_prefix_and_all_flags() {
        let p = CookiePolicy { secure: true };
        let v = p
            .set(CookieKind::Session, "abc", Duration::from_secs(60))
            .unwrap();
        let s = v.to_str().unwrap();
        assert!(s.starts_with("__Host-portcullis_session=abc"));
        for flag in ["HttpOnly", "Secure", "Path=/", "SameSite=Lax", "Max-Age=60"] {
            assert!(s.contains(flag), "{s} lacks {flag}");
        }
        assert!(!s.contains("Domain"));
        let csrf = p
            .set(CookieKind::Csrf, "x", Duration::from_secs(60))
            .unwrap();
        assert!(csrf.to_str().unwrap().contains("SameSite=Strict"));
    }

    #[test]
    fn loopback_development_drops_secure_and_the_prefix() {
        let p = CookiePolicy { secure: false };
        let s = p
            .set(CookieKind::Session, "abc", Duration::from_secs(60))
            .unwrap();
        let s = s.to_str().unwrap();
        assert!(s.starts_with("portcullis_session=abc"));
        assert!(!s.contains("Secure"));
    }

    #[test]
    fn clearing_replaces_the_cookie_with_an_expired_empty_one() {
        let p = CookiePolicy { secure: true };
        let v = p.clear(CookieKind::Session).unwrap();
        let s = v.to_str().unwrap();
        assert!(s.starts_with("__Host-portcullis_session=;"), "{s}");
        for flag in [
            "HttpOnly",
            "Secure",
            "Path=/",
            "Max-Age=0",
            "Expires=Thu, 01 Jan 1970",
        ] {
            assert!(s.contains(flag), "{s} lacks {flag}");
        }
    }

    #[test]
    fn reads_the_named_cookie_among_others() {
        let p = CookiePolicy { secure: true };
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-portcullis_session=s1; portcullis_session=evil"),
        );
        assert_eq!(p.read(&h, CookieKind::Session).as_deref(), Some("s1"));
        assert_eq!(p.read(&h, CookieKind::Csrf), None);
    }
}
