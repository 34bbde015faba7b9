//! The client credentials grant (RFC 6749 §4.4) through the library's
//! `exchange_client_credentials`: a confidential client gets an access token for itself,
//! within its allowed scope, and nothing else.

use openidconnect::core::{CoreErrorResponseType, CoreTokenResponse};
use openidconnect::{OAuth2TokenResponse, RequestTokenError, Scope, TokenResponse};
use portcullis_core::clients::{NewClient, create_client};
use portcullis_core::ids::ClientId as ClientRecordId;
use portcullis_core::model::{
    Client, ClientMetadata, ClientType, GrantType, TokenEndpointAuthMethod,
};
use portcullis_core::scope::ScopeSet;
use portcullis_core::tokens::{access_token_audience, verify_access_token};
use portcullis_core::{Clock, SystemClock};
use portcullis_e2e::app::TestApp;
use portcullis_e2e::fixtures::{REDIRECT_URI, TestClient};

use super::{RelyingParty, is_active, relying_party, userinfo_status};

/// A confidential client allowed `grant_types` and `scope`.
async fn confidential_client(app: &TestApp, grant_types: &[&str], scope: &str) -> TestClient {
    let new = NewClient {
        name: "Service".into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        grant_types: grant_types.iter().map(|g| (*g).to_owned()).collect(),
        scope: Some(scope.into()),
        ..NewClient::default()
    };
    let (client, secret) = create_client(app.store.as_ref(), new, SystemClock.now())
        .await
        .unwrap();
    TestClient {
        id: client.client_id.0,
        secret: secret.map(|s| s.expose().to_owned()),
    }
}

/// Asks for a client_credentials token with `scopes`; the error code on refusal.
async fn client_credentials(
    app: &TestApp,
    rp: &RelyingParty,
    scopes: &[&str],
) -> Result<CoreTokenResponse, CoreErrorResponseType> {
    let request = rp
        .exchange_client_credentials()
        .unwrap()
        .add_scopes(scopes.iter().map(|s| Scope::new((*s).to_owned())));
    match request.request_async(&app.http).await {
        Ok(tokens) => Ok(tokens),
        Err(RequestTokenError::ServerResponse(e)) => Err(e.error().clone()),
        Err(other) => Err(CoreErrorResponseType::Extension(format!("{other:?}"))),
    }
}

pub(crate) async fn client_credentials_issues_a_token_for_the_client_itself(app: &TestApp) {
    // Arrange
    let service = confidential_client(
        app,
        &["client_credentials"],
        "openid offline_access api.read api.write",
    )
    .await;
    let rp = relying_party(app, &service).await;

    // Act
    let default = client_credentials(app, &rp, &[]).await.unwrap();
    let narrow = client_credentials(app, &rp, &["api.read"]).await.unwrap();

    // Assert: the default drops the user-only scopes; nothing but an access token.
    let scopes = |t: &CoreTokenResponse| {
        let mut s: Vec<String> = t.scopes().unwrap().iter().map(|s| s.to_string()).collect();
        s.sort();
        s
    };
    assert_eq!(scopes(&default), ["api.read", "api.write"]);
    assert_eq!(scopes(&narrow), ["api.read"]);
    for tokens in [&default, &narrow] {
        assert!(tokens.refresh_token().is_none(), "§4.4.3: no refresh token");
        assert!(tokens.id_token().is_none(), "no user, no ID token");
        let claims = verify_access_token(
            &app.keyring.current(),
            &app.base_url,
            &access_token_audience(&app.base_url),
            tokens.access_token().secret(),
            SystemClock.now(),
        )
        .unwrap();
        assert_eq!(claims.sub, service.id);
        assert_eq!(claims.client_id, service.id);
        assert_eq!(claims.gid, None);
        assert_eq!(claims.sid, None);
        assert_eq!(claims.auth_time, None);
    }
    // It is good for introspection, and not for userinfo: there is no user to describe.
    assert!(is_active(app, &rp, default.access_token().secret(), None).await);
    assert_eq!(userinfo_status(app, default.access_token()).await, 401);
}

pub(crate) async fn client_credentials_is_refused_to_public_clients_and_clients_without_the_grant(
    app: &TestApp,
) {
    // Arrange: a public client registered for the grant (registration refuses that, so
    // the record is written directly, as a bad import might), and a confidential client
    // registered only for the code flow.
    let now = SystemClock.now();
    let public = Client {
        client_id: ClientRecordId::random(),
        secret_hash: None,
        client_type: ClientType::Public,
        auth_method: TokenEndpointAuthMethod::None,
        name: "Public".into(),
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::ClientCredentials],
        allowed_scope: ScopeSet::parse("api.read").unwrap(),
        metadata: ClientMetadata::default(),
        registration_token_hash: None,
        first_party: false,
        created_at: now,
        updated_at: now,
    };
    app.store.create_client(&public).await.unwrap();
    let public = TestClient {
        id: public.client_id.0,
        secret: None,
    };
    let code_only =
        confidential_client(app, &["authorization_code", "refresh_token"], "api.read").await;

    for client in [&public, &code_only] {
        // Act
        let rp = relying_party(app, client).await;
        let answer = client_credentials(app, &rp, &[]).await;

        // Assert
        assert_eq!(
            answer.err(),
            Some(CoreErrorResponseType::UnauthorizedClient),
            "client {}",
            client.id
        );
    }
}

pub(crate) async fn client_credentials_scope_may_narrow_but_never_widen_or_name_a_user_scope(
    app: &TestApp,
) {
    // Arrange
    let service = confidential_client(
        app,
        &["client_credentials"],
        "openid offline_access api.read",
    )
    .await;
    let rp = relying_party(app, &service).await;

    for scopes in [
        &["api.read", "api.admin"][..],
        &["openid"],
        &["offline_access"],
        &["api.read", "openid"],
    ] {
        // Act
        let answer = client_credentials(app, &rp, scopes).await;

        // Assert
        assert_eq!(
            answer.err(),
            Some(CoreErrorResponseType::InvalidScope),
            "{scopes:?}"
        );
    }
}
