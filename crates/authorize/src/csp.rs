//! The Content-Security-Policy of our pages (OWASP ASVS V14.4.3, CSP Level 3): no script
//! at all, our stylesheet only, no framing (clickjacking), no `<base>` and forms that post
//! only to us (`form-action`), so markup injected into a page cannot send what the user
//! types elsewhere.
//!
//! `form-action` also governs the redirects that follow a form post (Chrome enforces it on
//! each hop), and our login, consent and sign-out confirmation forms end, by design, at the
//! app: its redirect URI or post-logout redirect URI. Those pages allow exactly that one
//! target besides ourselves ([`allow_form_target`]), so the redirect is not blocked.

use axum::http::{HeaderValue, header};
use axum::response::Response;
use url::Url;

/// The policy up to the `form-action` sources, which end it or are followed by more.
macro_rules! policy_through_form_action {
    () => {
        "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'"
    };
}

/// What follows the `form-action` sources.
macro_rules! policy_after_form_action {
    () => {
        "; frame-ancestors 'none'"
    };
}

/// Every page's policy, unless the page allows a form target.
pub(crate) const PAGE_POLICY: &str =
    concat!(policy_through_form_action!(), policy_after_form_action!());

/// Lets the forms of `response` end at `target` (the app a successful post redirects to)
/// as well as at us. A target whose CSP source could not be written safely is left out:
/// the redirect would then be blocked, never the policy loosened.
pub(crate) fn allow_form_target(mut response: Response, target: &str) -> Response {
    let Some(source) = Url::parse(target).ok().and_then(|url| source_of(&url)) else {
        return response;
    };
    let policy = format!(
        "{} {source}{}",
        policy_through_form_action!(),
        policy_after_form_action!()
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// The CSP source expression (CSP3 §2.3.1) matching `url`: its origin for http(s)
/// (`https://app.example`, `http://127.0.0.1:49152`), its scheme for a native app's
/// private-use scheme (`com.example.app:`).
fn source_of(url: &Url) -> Option<String> {
    let source = match url.scheme() {
        "http" | "https" => url.origin().ascii_serialization(),
        scheme => format!("{scheme}:"),
    };
    // Nothing that could end the directive or the policy (`;`, `,`, spaces, quotes).
    source
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+-.:/[]".contains(&b))
        .then_some(source)
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse as _;

    use super::*;

    fn form_action(target: &str) -> String {
        let response = allow_form_target(().into_response(), target);
        let policy = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        policy
            .split("; ")
            .find(|d| d.starts_with("form-action"))
            .unwrap()
            .to_owned()
    }

    #[test]
    fn the_default_policy_posts_forms_to_us_only() {
        assert!(PAGE_POLICY.contains("; form-action 'self'; frame-ancestors 'none'"));
        assert!(PAGE_POLICY.starts_with("default-src 'none'"));
        assert!(!PAGE_POLICY.contains("unsafe"));
    }

    #[test]
    fn a_form_target_adds_exactly_its_origin_or_scheme() {
        assert_eq!(
            form_action("https://app.example/cb?x=1"),
            "form-action 'self' https://app.example"
        );
        assert_eq!(
            form_action("http://127.0.0.1:49152/cb"),
            "form-action 'self' http://127.0.0.1:49152"
        );
        assert_eq!(
            form_action("http://[::1]:8000/cb"),
            "form-action 'self' http://[::1]:8000"
        );
        assert_eq!(
            form_action("com.example.app:/oauth2redirect"),
            "form-action 'self' com.example.app:"
        );
    }

    #[test]
    fn an_unparsable_target_adds_nothing() {
        let response = allow_form_target(().into_response(), "not a url");
        assert!(
            response
                .headers()
                .get(header::CONTENT_SECURITY_POLICY)
                .is_none()
        );
    }
}
