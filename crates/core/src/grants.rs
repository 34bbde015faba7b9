//! A user's app grants as an administrator sees them: listing the active ones and
//! revoking one (RFC 7009 semantics: the grant, its refresh tokens and, through the
//! grant check every endpoint makes, its access tokens stop working at once).

use crate::Timestamp;
use crate::ids::GrantId;
use crate::model::Grant;
use crate::store::Store;
use crate::users::{UserAdminError, find_by_username};

/// The active grants of the user `username`, newest first.
pub async fn list_user_grants(
    store: &dyn Store,
    username: &str,
) -> Result<Vec<Grant>, UserAdminError> {
    let user = find_by_username(store, username).await?;
    Ok(store.list_active_grants(user.user_id).await?)
}

/// Revokes one active grant of `username`; `Ok(false)` when the user has no such active
/// grant (another user's grant is never touched).
pub async fn revoke_user_grant(
    store: &dyn Store,
    username: &str,
    grant_id: GrantId,
    now: Timestamp,
) -> Result<bool, UserAdminError> {
    let user = find_by_username(store, username).await?;
    match store.find_grant(grant_id).await? {
        Some(g) if g.user_id == user.user_id && g.revoked_at.is_none() => {
            Ok(store.revoke_grant(grant_id, now).await?)
        }
        _ => Ok(false),
    }
}
