//! Media types of request bodies (RFC 9110 §8.3.1): a `Content-Type` names its type and
//! subtype case-insensitively, followed by parameters such as `charset`, which the
//! bodies we read do not depend on.

/// `application/x-www-form-urlencoded`: the token, revocation and introspection requests
/// (RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1), RFC 6750 §2.2 bodies and HTML forms.
pub const FORM_URLENCODED: &str = "application/x-www-form-urlencoded";

/// Whether the `Content-Type` value `content_type` names the media type `expected`.
pub fn is(content_type: &str, expected: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_is_compared_without_case_or_parameters() {
        assert!(is("application/x-www-form-urlencoded", FORM_URLENCODED));
        assert!(is(
            "Application/X-WWW-Form-URLEncoded ; charset=UTF-8",
            FORM_URLENCODED
        ));
        assert!(!is("application/json", FORM_URLENCODED));
        assert!(!is(
            "application/x-www-form-urlencoded-not",
            FORM_URLENCODED
        ));
        assert!(!is("", FORM_URLENCODED));
    }
}
