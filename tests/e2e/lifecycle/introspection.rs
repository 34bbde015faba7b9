//! Introspection (RFC 7662) as a resource server sees it through the `oauth2` client, and
//! the client authentication `/revoke` and `/introspect` both require (RFC 7009 §2.1,
//! RFC 7662 §2.1).

use openidconnect::core::{CoreClientAuthMethod, CoreRevocableToken, CoreTokenType};
use openidconnect::{AccessToken, OAuth2TokenResponse, TokenIntrospectionResponse as _};
use portcullis_core::model::SigningAlg;
use portcullis_core::tokens::{
    AccessTokenClaims, access_token_audience, mint_access_token, new_jti,
};
use portcullis_core::{Clock, SystemClock};
use portcullis_e2e::app::TestApp;
use portcullis_e2e::fixtures;
use serde_json::Value;

use super::{Metadata, is_active, refresh, relying_party, revoke, signed_in, userinfo_status};

/// POSTs `form` to `path` with these credentials (`None`: none at all).
async fn post(
    app: &TestApp,
    path: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, openidconnect::reqwest::header::HeaderMap, Value) {
    let mut request = app.http.post(app.url(path)).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

pub(crate) async fn introspection_of_active_tokens_returns_the_rfc_7662_members(app: &TestApp) {
    // Arrange
    let (rp, tokens, client) = signed_in(app, "erin").await;
    let user = app
        .store
        .find_user_by_username("erin")
        .await
        .unwrap()
        .unwrap();
    let client_id = client.id.clone();
    let now = SystemClock.now().unix();

    // Act
    let access = rp
        .introspect(tokens.access_token())
        .request_async(&app.http)
        .await
        .unwrap();
    let refresh_token = AccessToken::new(tokens.refresh_token().unwrap().secret().clone());
    let refresh = rp
        .introspect(&refresh_token)
        .set_token_type_hint("refresh_token")
        .request_async(&app.http)
        .await
        .unwrap();

    // Assert: the access token, as RFC 7662 §2.2 describes it.
    assert!(access.active());
    let mut scopes: Vec<String> = access
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    scopes.sort();
    assert_eq!(scopes, ["offline_access", "openid", "profile"]);
    assert_eq!(access.client_id().unwrap().as_str(), client_id);
    assert_eq!(access.username(), Some("erin"));
    assert_eq!(access.token_type(), Some(&CoreTokenType::Bearer));
    assert_eq!(access.sub(), Some(user.user_id.to_string().as_str()));
    assert_eq!(access.iss(), Some(app.base_url.as_str()));
    assert_eq!(
        access.aud(),
        Some(&vec![access_token_audience(&app.base_url)])
    );
    assert!(access.jti().is_some_and(|j| !j.is_empty()));
    let (iat, exp) = (
        access.iat().unwrap().timestamp(),
        access.exp().unwrap().timestamp(),
    );
    assert!(iat <= now && now < exp, "iat {iat} now {now} exp {exp}");

    // … and the refresh token.
    assert!(refresh.active());
    assert_eq!(refresh.client_id().unwrap().as_str(), client_id);
    assert_eq!(refresh.username(), Some("erin"));
    assert_eq!(
        refresh.token_type(),
        Some(&CoreTokenType::Extension("refresh_token".into()))
    );
    assert_eq!(refresh.sub(), Some(user.user_id.to_string().as_str()));
    assert_eq!(refresh.iss(), Some(app.base_url.as_str()));
    assert!(
        refresh.exp().unwrap().timestamp() > exp,
        "outlives the access token"
    );
    assert!(refresh.scopes().is_some());

    // The wire answer is JSON and never cached.
    let (status, headers, body) = post(
        app,
        "/introspect",
        Some((&client_id, client.secret.as_deref().unwrap())),
        &[("token", tokens.access_token().secret())],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["content-type"], "application/json");
    let mut members: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    members.sort_unstable();
    assert_eq!(
        members,
        [
            "active",
            "aud",
            "client_id",
            "exp",
            "iat",
            "iss",
            "jti",
            "scope",
            "sub",
            "token_type",
            "username"
        ]
    );
}

pub(crate) async fn introspection_by_another_client_reveals_nothing(app: &TestApp) {
    // Arrange
    let (rp_a, tokens, _) = signed_in(app, "frank").await;
    let b = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let rp_b = relying_party(app, &b).await;
    let refresh_token = tokens.refresh_token().unwrap().secret().clone();

    // Act + Assert: to B, A's live tokens are simply inactive (RFC 7662 §4) …
    assert!(!is_active(app, &rp_b, tokens.access_token().secret(), None).await);
    assert!(!is_active(app, &rp_b, &refresh_token, Some("refresh_token")).await);
    let (status, _, body) = post(
        app,
        "/introspect",
        Some((&b.id, b.secret.as_deref().unwrap())),
        &[("token", tokens.access_token().secret())],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({"active": false}));
    // … while A sees them active.
    assert!(is_active(app, &rp_a, tokens.access_token().secret(), None).await);
    assert!(is_active(app, &rp_a, &refresh_token, None).await);
}

pub(crate) async fn expired_malformed_and_foreign_tokens_introspect_inactive(app: &TestApp) {
    // Arrange: an access token of this client, signed by our key, expired a minute ago;
    // and a client_credentials-shaped token whose `jti` was revoked.
    let client = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let rp = relying_party(app, &client).await;
    let now = SystemClock.now();
    let mint = |exp: i64| {
        let claims = AccessTokenClaims {
            iss: app.base_url.clone(),
            sub: client.id.clone(),
            aud: access_token_audience(&app.base_url),
            client_id: client.id.clone(),
            scope: "api.read".into(),
            iat: now.unix() - 600,
            exp,
            jti: new_jti().unwrap(),
            gid: None,
            sid: None,
            auth_time: None,
        };
        mint_access_token(&app.keyring.current(), SigningAlg::Es256, &claims, now).unwrap()
    };
    let expired = mint(now.unix() - 60);
    let live = mint(now.unix() + 600);
    assert!(
        is_active(app, &rp, &live, None).await,
        "the control is active"
    );
    revoke(
        app,
        &rp,
        CoreRevocableToken::from(AccessToken::new(live.clone())),
    )
    .await;

    for token in [
        expired.as_str(),
        live.as_str(),
        "garbage",
        "a.b.c",
        "pcr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        for hint in [None, Some("access_token"), Some("refresh_token")] {
            // Act + Assert
            assert!(!is_active(app, &rp, token, hint).await, "{token} {hint:?}");
        }
    }
}

pub(crate) async fn a_rotated_refresh_token_introspects_inactive(app: &TestApp) {
    // Arrange
    let (rp, tokens, _) = signed_in(app, "grace").await;
    let old = tokens.refresh_token().unwrap().clone();

    // Act
    let refreshed = refresh(app, &rp, &old).await.unwrap();

    // Assert
    assert!(!is_active(app, &rp, old.secret(), Some("refresh_token")).await);
    let new = refreshed.refresh_token().unwrap();
    assert!(is_active(app, &rp, new.secret(), Some("refresh_token")).await);
}

pub(crate) async fn introspection_is_inactive_once_the_user_is_disabled(app: &TestApp) {
    // Arrange
    let (rp, tokens, _) = signed_in(app, "heidi").await;
    let user = app
        .store
        .find_user_by_username("heidi")
        .await
        .unwrap()
        .unwrap();

    // Act
    app.store
        .set_user_disabled(user.user_id, true, SystemClock.now())
        .await
        .unwrap();

    // Assert
    assert!(!is_active(app, &rp, tokens.access_token().secret(), None).await);
    let refresh_token = tokens.refresh_token().unwrap().secret();
    assert!(!is_active(app, &rp, refresh_token, None).await);
    assert_eq!(userinfo_status(app, tokens.access_token()).await, 401);
}

pub(crate) async fn revoke_and_introspect_require_client_authentication(app: &TestApp) {
    // Arrange
    let confidential = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let public = fixtures::client(app.store.as_ref(), true).await.unwrap();
    let secret = confidential.secret.as_deref().unwrap();

    for path in ["/revoke", "/introspect"] {
        // Act + Assert: no credentials, or a wrong secret, is 401 `invalid_client`.
        let (status, headers, body) = post(app, path, None, &[("token", "x")]).await;
        assert_eq!(
            (status, &body["error"]),
            (401, &Value::from("invalid_client")),
            "{path}"
        );
        assert_eq!(headers["cache-control"], "no-store");
        let (status, headers, body) = post(
            app,
            path,
            Some((&confidential.id, "wrong")),
            &[("token", "x")],
        )
        .await;
        assert_eq!(
            (status, &body["error"]),
            (401, &Value::from("invalid_client")),
            "{path}"
        );
        assert!(headers.contains_key("www-authenticate"), "{path}");
        // A missing token is `invalid_request`.
        let (status, _, body) = post(app, path, Some((&confidential.id, secret)), &[]).await;
        assert_eq!(
            (status, &body["error"]),
            (400, &Value::from("invalid_request")),
            "{path}"
        );
    }
    // A public client may revoke its own tokens by naming itself (RFC 7009 §5) …
    let (status, _, _) = post(
        app,
        "/revoke",
        None,
        &[("client_id", &public.id), ("token", "x")],
    )
    .await;
    assert_eq!(status, 200);
    // … but introspection is only for clients that authenticate (RFC 7662 §2.1).
    let (status, _, body) = post(
        app,
        "/introspect",
        None,
        &[("client_id", &public.id), ("token", "x")],
    )
    .await;
    assert_eq!(
        (status, &body["error"]),
        (401, &Value::from("invalid_client"))
    );

    // Discovery says so: `none` is offered for revocation only.
    let metadata = Metadata::discover_async(
        openidconnect::IssuerUrl::new(app.base_url.clone()).unwrap(),
        &app.http,
    )
    .await
    .unwrap();
    let extra = metadata.additional_metadata();
    for methods in [
        &extra.revocation_endpoint_auth_methods_supported,
        &extra.introspection_endpoint_auth_methods_supported,
    ] {
        assert!(methods.contains(&CoreClientAuthMethod::ClientSecretBasic));
        assert!(methods.contains(&CoreClientAuthMethod::ClientSecretPost));
    }
    assert!(
        extra
            .revocation_endpoint_auth_methods_supported
            .contains(&CoreClientAuthMethod::None)
    );
    assert!(
        !extra
            .introspection_endpoint_auth_methods_supported
            .contains(&CoreClientAuthMethod::None)
    );
}
