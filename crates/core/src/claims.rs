//! Which user claims a scope releases (OIDC Core §5.4), for `/userinfo` (and any token
//! that carries profile claims).

use serde_json::{Map, Value, json};

use crate::model::User;
use crate::scope::ScopeSet;

/// The claims `scope` releases about `user`, always including `sub`. Absent values are
/// omitted rather than sent as null (OIDC Core §5.3.2).
pub fn user_claims(user: &User, scope: &ScopeSet) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(user.user_id.to_string()));
    let p = &user.profile;
    if scope.contains("profile") {
        claims.insert("preferred_username".into(), json!(user.username));
        for (name, value) in [
            ("name", &p.name),
            ("given_name", &p.given_name),
            ("family_name", &p.family_name),
            ("picture", &p.picture),
        ] {
            if let Some(v) = value {
                claims.insert(name.into(), json!(v));
            }
        }
        claims.insert("updated_at".into(), json!(user.updated_at.unix()));
    }
    if scope.contains("email")
        && let Some(email) = &p.email
    {
        claims.insert("email".into(), json!(email));
        claims.insert("email_verified".into(), json!(p.email_verified));
    }
    if scope.contains("roles") {
        claims.insert("roles".into(), json!(user.roles));
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;
    use crate::ids::UserId;
    use crate::model::UserProfile;
    use crate::password::PasswordHash;

    fn alice() -> User {
        User {
            user_id: UserId::random(),
            username: "alice".into(),
            password_hash: PasswordHash("x".into()),
            profile: UserProfile {
                email: Some("alice@example.com".into()),
                email_verified: true,
                name: Some("Alice".into()),
                ..UserProfile::default()
            },
            roles: vec!["admin".into()],
            disabled: false,
            created_at: Timestamp(1),
            updated_at: Timestamp(2),
        }
    }

    #[test]
    fn openid_alone_releases_only_sub() {
        let c = user_claims(&alice(), &ScopeSet::parse("openid").unwrap());
        assert_eq!(c.keys().collect::<Vec<_>>(), ["sub"]);
    }

    #[test]
    fn profile_and_email_release_their_claims_and_omit_absent_ones() {
        let c = user_claims(&alice(), &ScopeSet::parse("openid profile email").unwrap());
        assert_eq!(c["preferred_username"], "alice");
        assert_eq!(c["name"], "Alice");
        assert!(!c.contains_key("given_name"));
        assert_eq!(c["email"], "alice@example.com");
        assert_eq!(c["email_verified"], true);
        assert_eq!(c["updated_at"], 2);
        assert!(!c.contains_key("roles"));
    }
}
