//! Role-based access: the `admin` role and the `admin` scope that carries it into an
//! access token. A scope alone is never enough for a user: the authorization endpoint
//! only grants a role-gated scope to a user holding the role (RFC 6749 §3.3 lets the
//! server issue less than was asked), and the admin API checks the role again on every
//! request, so removing the role takes effect at once.

use crate::model::User;
use crate::scope::ScopeSet;

/// The role whose holders may administer the server.
pub const ADMIN_ROLE: &str = "admin";

/// The scope an access token needs for the admin API.
pub const ADMIN_SCOPE: &str = "admin";

/// The scope that releases the `roles` claim (in the ID token and at `/userinfo`).
pub const ROLES_SCOPE: &str = "roles";

/// Scopes only holders of a role may be granted, with that role.
const ROLE_GATED_SCOPES: [(&str, &str); 1] = [(ADMIN_SCOPE, ADMIN_ROLE)];

/// What of `requested` may be granted to `user`: every role-gated scope whose role the
/// user lacks is removed.
pub fn permitted_scope(user: &User, requested: &ScopeSet) -> ScopeSet {
    let denied: Vec<&str> = ROLE_GATED_SCOPES
        .iter()
        .filter(|(scope, role)| requested.contains(scope) && !has_role(user, role))
        .map(|(scope, _)| *scope)
        .collect();
    if denied.is_empty() {
        return requested.clone();
    }
    ScopeSet::from_tokens(requested.iter().filter(|s| !denied.contains(s))).unwrap_or_default()
}

/// Whether `user` holds `role`.
pub fn has_role(user: &User, role: &str) -> bool {
    user.roles.iter().any(|r| r == role)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;
    use crate::ids::UserId;
    use crate::model::UserProfile;
    use crate::password::PasswordHash;

    fn user(roles: &[&str]) -> User {
        User {
            user_id: UserId::random(),
            username: "u".into(),
            password_hash: PasswordHash("x".into()),
            profile: UserProfile::default(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            disabled: false,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    #[test]
    fn the_admin_scope_is_granted_only_to_admins() {
        let asked = ScopeSet::parse("openid admin roles").unwrap();
        assert_eq!(permitted_scope(&user(&["admin"]), &asked), asked);
        assert_eq!(
            permitted_scope(&user(&["staff"]), &asked),
            ScopeSet::parse("openid roles").unwrap()
        );
    }
}
