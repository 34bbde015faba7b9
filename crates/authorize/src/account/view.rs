//! The account page's view model: built from the store, in plain words (scopes described,
//! times in UTC, a device named from its user agent), never raw rows.

use std::borrow::Cow;
use std::collections::BTreeSet;

use anyhow::Context as _;
use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_core::Timestamp;
use portcullis_core::csrf::CsrfPurpose;
use portcullis_core::ids::ClientId;
use portcullis_core::model::{Session, User};
use portcullis_core::scope::ScopeSet;
use portcullis_core::store::StoreError;

use super::account_binding;
use super::error::AccountError;
use crate::AuthorizeState;
use crate::pages::{ScopeView, describe_scopes};

/// The account page.
#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
pub(crate) struct AccountPage {
    pub(crate) username: String,
    pub(crate) name: Option<String>,
    pub(crate) email: Option<String>,
    pub(crate) apps: Vec<AppView>,
    pub(crate) sessions: Vec<SessionView>,
    pub(crate) csrf_token: String,
    pub(crate) notice: Option<&'static str>,
    pub(crate) error: Option<Cow<'static, str>>,
}

/// An app the user gave access to.
pub(crate) struct AppView {
    pub(crate) client_id: String,
    pub(crate) name: String,
    pub(crate) scopes: Vec<ScopeView>,
    pub(crate) granted: String,
    pub(crate) last_used: String,
}

/// One place the user is signed in.
pub(crate) struct SessionView {
    pub(crate) session_id: String,
    pub(crate) device: String,
    pub(crate) ip: String,
    pub(crate) signed_in: String,
    pub(crate) last_seen: String,
    pub(crate) current: bool,
}

/// Renders the page for the signed-in `user` in `session`.
pub(crate) async fn render(
    state: &AuthorizeState,
    session: &Session,
    user: &User,
    notice: Option<&'static str>,
    error: Option<Cow<'static, str>>,
    status: StatusCode,
) -> Result<Response, AccountError> {
    let apps = apps(state, user)
        .await
        .context("list the apps the user gave access to")
        .map_err(AccountError::Unavailable)?;
    let sessions = state
        .store
        .list_live_sessions(user.user_id, state.clock.now())
        .await
        .context("list the live sessions")
        .map_err(AccountError::Unavailable)?;
    let mut sessions: Vec<SessionView> = sessions
        .iter()
        .map(|s| SessionView {
            session_id: s.session_id.to_string(),
            device: describe_device(s.user_agent.as_deref()),
            ip: s.ip.clone().unwrap_or_else(|| "unknown".to_owned()),
            signed_in: format_time(s.auth_time),
            last_seen: format_time(s.last_seen_at),
            current: s.session_id == session.session_id,
        })
        .collect();
    // This browser first; the store already gives the rest newest first.
    sessions.sort_by_key(|s| !s.current);
    let page = AccountPage {
        username: user.username.clone(),
        name: user.profile.name.clone(),
        email: user.profile.email.clone(),
        apps,
        sessions,
        csrf_token: state
            .csrf
            .token(CsrfPurpose::Account, &account_binding(session)),
        notice,
        error,
    };
    Ok((status, page).into_response())
}

/// The apps with a remembered consent or an active grant, by name.
async fn apps(state: &AuthorizeState, user: &User) -> Result<Vec<AppView>, StoreError> {
    let consents = state.store.list_consents(user.user_id).await?;
    let grants = state.store.list_active_grants(user.user_id).await?;
    let ids: BTreeSet<&ClientId> = consents
        .iter()
        .map(|c| &c.client_id)
        .chain(grants.iter().map(|g| &g.client_id))
        .collect();
    let mut apps = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(client) = state.store.find_client(id).await? else {
            continue;
        };
        let consent = consents.iter().find(|c| &c.client_id == id);
        let its_grants: Vec<_> = grants.iter().filter(|g| &g.client_id == id).collect();
        let scope = match consent {
            Some(c) => c.scope.clone(),
            None => its_grants
                .iter()
                .fold(ScopeSet::default(), |acc, g| acc.union(&g.scope)),
        };
        let granted = consent
            .map(|c| c.granted_at)
            .or_else(|| its_grants.iter().map(|g| g.created_at).min());
        let last_used = its_grants.iter().map(|g| g.last_used_at).max();
        apps.push(AppView {
            client_id: client.client_id.0,
            name: client.name,
            scopes: describe_scopes(&scope),
            granted: granted.map_or_else(|| "unknown".to_owned(), format_time),
            last_used: last_used.map_or_else(|| "never".to_owned(), format_time),
        });
    }
    apps.sort_by_key(|a| a.name.to_lowercase());
    Ok(apps)
}

/// `24 Nov 2026, 09:05 UTC`.
pub(crate) fn format_time(ts: Timestamp) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let Ok(t) = cookie::time::OffsetDateTime::from_unix_timestamp(ts.unix()) else {
        return "unknown".to_owned();
    };
    let month = MONTHS
        .get(usize::from(u8::from(t.month())).saturating_sub(1))
        .copied()
        .unwrap_or("?");
    format!(
        "{} {month} {}, {:02}:{:02} UTC",
        t.day(),
        t.year(),
        t.hour(),
        t.minute()
    )
}

/// "Firefox on Windows" and the like, from a user agent; the raw string (shortened) when
/// nothing is recognised.
pub(crate) fn describe_device(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.map(str::trim).filter(|u| !u.is_empty()) else {
        return "Unknown device".to_owned();
    };
    let has = |needle: &str| ua.contains(needle);
    // Order matters: Edge and Opera say "Chrome", Chrome says "Safari", Android says
    // "Linux" and iOS says "Mac OS X".
    let browser = if has("Edg/") {
        Some("Edge")
    } else if has("OPR/") {
        Some("Opera")
    } else if has("Firefox/") {
        Some("Firefox")
    } else if has("Chrome/") || has("Chromium/") {
        Some("Chrome")
    } else if has("Safari/") {
        Some("Safari")
    } else if has("curl/") {
        Some("curl")
    } else {
        None
    };
    let os = if has("Android") {
        Some("Android")
    } else if has("iPhone") || has("iPad") {
        Some("iOS")
    } else if has("Windows") {
        Some("Windows")
    } else if has("Macintosh") || has("Mac OS X") {
        Some("macOS")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Linux") {
        Some("Linux")
    } else {
        None
    };
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(o)) => format!("A browser on {o}"),
        (None, None) => ua.chars().take(60).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_utc_in_words() {
        assert_eq!(format_time(Timestamp(0)), "1 Jan 1970, 00:00 UTC");
        assert_eq!(
            format_time(Timestamp(1_795_482_300)),
            "24 Nov 2026, 01:05 UTC"
        );
    }

    #[test]
    fn devices_are_named_from_their_user_agent() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0",
                "Firefox on Windows",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Mobile Safari/537.36 EdgA/140.0 Edg/140.0",
                "Edge on Android",
            ),
            ("curl/8.5.0", "curl"),
            ("SomeBot", "SomeBot"),
        ];
        for (ua, expected) in cases {
            assert_eq!(describe_device(Some(ua)), expected, "{ua}");
        }
        assert_eq!(describe_device(None), "Unknown device");
        assert_eq!(describe_device(Some("  ")), "Unknown device");
    }
}
