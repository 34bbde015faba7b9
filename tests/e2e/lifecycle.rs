//! The token lifecycle after sign-in, driven with the `openidconnect` crate (and the
//! `oauth2` types it re-exports) as a real relying party: the `client_credentials` grant
//! (RFC 6749 §4.4, in `lifecycle/client_credentials.rs`), revocation (RFC 7009, here) and
//! introspection (RFC 7662, in `lifecycle/introspection.rs`), with `/userinfo` as the
//! resource that must stop honouring a revoked token at once. The revocation and
//! introspection endpoints are read from our discovery document, as a relying party would.

mod client_credentials;
mod introspection;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreErrorResponseType, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreRevocableToken, CoreSubjectIdentifierType, CoreTokenResponse,
};
use openidconnect::{
    AccessToken, AdditionalProviderMetadata, AsyncHttpClient, AuthorizationCode, ClientId,
    ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest,
    IntrospectionUrl, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, ProviderMetadata,
    RedirectUrl, RefreshToken, RequestTokenError, RevocationUrl, Scope,
};
use portcullis_e2e::app::TestApp;
use portcullis_e2e::browser::Browser;
use portcullis_e2e::fixtures::{self, PASSWORD, REDIRECT_URI, TestClient};
use serde::{Deserialize, Serialize};

pub(crate) use client_credentials::{
    client_credentials_is_refused_to_public_clients_and_clients_without_the_grant,
    client_credentials_issues_a_token_for_the_client_itself,
    client_credentials_scope_may_narrow_but_never_widen_or_name_a_user_scope,
};
pub(crate) use introspection::{
    a_rotated_refresh_token_introspects_inactive,
    expired_malformed_and_foreign_tokens_introspect_inactive,
    introspection_by_another_client_reveals_nothing,
    introspection_is_inactive_once_the_user_is_disabled,
    introspection_of_active_tokens_returns_the_rfc_7662_members,
    revoke_and_introspect_require_client_authentication,
};

/// The discovery members the core metadata type does not read (RFC 8414 §2).
#[derive(Clone, Debug, Deserialize, Serialize)]
struct LifecycleMetadata {
    revocation_endpoint: RevocationUrl,
    introspection_endpoint: IntrospectionUrl,
    revocation_endpoint_auth_methods_supported: Vec<CoreClientAuthMethod>,
    introspection_endpoint_auth_methods_supported: Vec<CoreClientAuthMethod>,
}

impl AdditionalProviderMetadata for LifecycleMetadata {}

type Metadata = ProviderMetadata<
    LifecycleMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// A relying party with every endpoint it uses here set from discovery.
type RelyingParty = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointSet,
    EndpointSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Discovers the server and builds the relying party of `client`.
async fn relying_party(app: &TestApp, client: &TestClient) -> RelyingParty {
    let metadata =
        Metadata::discover_async(IssuerUrl::new(app.base_url.clone()).unwrap(), &app.http)
            .await
            .unwrap();
    let endpoints = metadata.additional_metadata().clone();
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client.id.clone()),
        client.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap())
    .set_revocation_url(as_https(&endpoints.revocation_endpoint))
    .set_introspection_url(endpoints.introspection_endpoint)
}

/// The library refuses a revocation URL that is not https (RFC 7009 §2: clients MUST
/// check it), and the test server speaks plain http on loopback. So the relying party is
/// given the https form of the advertised URL, and [`revoke`] sends that one request over
/// http; building it (authentication, `token`, `token_type_hint`) and reading the answer
/// stay the library's.
fn as_https(url: &RevocationUrl) -> RevocationUrl {
    let http = url.as_str();
    assert!(http.starts_with("http://"), "advertised {http}");
    RevocationUrl::new(http.replacen("http://", "https://", 1)).unwrap()
}

/// Signs `username` in to `rp` through our real login and consent pages and exchanges the
/// code: the tokens of an `openid profile offline_access` grant.
async fn sign_in(app: &TestApp, rp: &RelyingParty, username: &str) -> CoreTokenResponse {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, _) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = Browser::new(&app.base_url).unwrap();
    let redirect = browser
        .sign_in(url.as_str(), username, PASSWORD)
        .await
        .unwrap();
    let code = redirect.redirect_params().unwrap()["code"].clone();
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&app.http)
        .await
        .unwrap();
    assert!(
        tokens.refresh_token().is_some(),
        "offline_access was granted"
    );
    tokens
}

/// A user signed in to a fresh confidential client: the relying party, its tokens and
/// the client's credentials.
async fn signed_in(app: &TestApp, username: &str) -> (RelyingParty, CoreTokenResponse, TestClient) {
    fixtures::user(app.store.as_ref(), username).await.unwrap();
    let client = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let rp = relying_party(app, &client).await;
    let tokens = sign_in(app, &rp, username).await;
    (rp, tokens, client)
}

/// The status `/userinfo` answers for `token`.
async fn userinfo_status(app: &TestApp, token: &AccessToken) -> u16 {
    app.http
        .get(app.url("/userinfo"))
        .bearer_auth(token.secret())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Refreshes with `token`; the new tokens, or the RFC 6749 §5.2 error code (a transport
/// or parse failure comes back as an `Extension` code holding its description).
async fn refresh(
    app: &TestApp,
    rp: &RelyingParty,
    token: &RefreshToken,
) -> Result<CoreTokenResponse, CoreErrorResponseType> {
    match rp
        .exchange_refresh_token(token)
        .unwrap()
        .request_async(&app.http)
        .await
    {
        Ok(tokens) => Ok(tokens),
        Err(RequestTokenError::ServerResponse(e)) => Err(e.error().clone()),
        // Fails whichever assertion follows, with the cause in its message.
        Err(other) => Err(CoreErrorResponseType::Extension(format!("{other:?}"))),
    }
}

/// Revokes `token` through the library; RFC 7009 §2.2 says this always succeeds.
async fn revoke(app: &TestApp, rp: &RelyingParty, token: CoreRevocableToken) {
    // The transport undoes `as_https`: the one thing this test shim changes.
    let over_loopback_http = |mut request: HttpRequest| {
        let uri = request.uri().to_string().replacen("https://", "http://", 1);
        *request.uri_mut() = uri.parse().unwrap();
        AsyncHttpClient::call(&app.http, request)
    };
    rp.revoke_token(token)
        .unwrap()
        .request_async(&over_loopback_http)
        .await
        .unwrap();
}

/// Whether the server calls `token` active when `rp` introspects it.
async fn is_active(app: &TestApp, rp: &RelyingParty, token: &str, hint: Option<&str>) -> bool {
    use openidconnect::TokenIntrospectionResponse as _;
    let token = AccessToken::new(token.to_owned());
    let mut request = rp.introspect(&token);
    if let Some(hint) = hint {
        request = request.set_token_type_hint(hint);
    }
    request.request_async(&app.http).await.unwrap().active()
}

pub(crate) async fn revoking_a_refresh_token_revokes_its_grant_and_sibling_access_token(
    app: &TestApp,
) {
    // Arrange
    let (rp, tokens, _) = signed_in(app, "alice").await;
    let refresh_token = tokens.refresh_token().unwrap().clone();
    assert_eq!(userinfo_status(app, tokens.access_token()).await, 200);

    // Act
    revoke(app, &rp, CoreRevocableToken::from(refresh_token.clone())).await;

    // Assert: the refresh token is dead, and so is the access token of the same grant.
    assert_eq!(
        refresh(app, &rp, &refresh_token).await.err(),
        Some(CoreErrorResponseType::InvalidGrant)
    );
    assert_eq!(userinfo_status(app, tokens.access_token()).await, 401);
    assert!(!is_active(app, &rp, tokens.access_token().secret(), None).await);
    assert!(!is_active(app, &rp, refresh_token.secret(), Some("refresh_token")).await);
}

pub(crate) async fn revoking_an_access_token_stops_it_at_once_while_its_refresh_token_works(
    app: &TestApp,
) {
    // Arrange
    let (rp, tokens, _) = signed_in(app, "bob").await;
    assert_eq!(userinfo_status(app, tokens.access_token()).await, 200);

    // Act
    revoke(
        app,
        &rp,
        CoreRevocableToken::from(tokens.access_token().clone()),
    )
    .await;

    // Assert: refused at once, long before its `exp` …
    assert_eq!(userinfo_status(app, tokens.access_token()).await, 401);
    assert!(!is_active(app, &rp, tokens.access_token().secret(), None).await);
    // … while the grant lives on: the refresh token still mints working tokens.
    let refreshed = refresh(app, &rp, tokens.refresh_token().unwrap())
        .await
        .unwrap();
    assert_eq!(userinfo_status(app, refreshed.access_token()).await, 200);
    // Revoking it again is still a success (RFC 7009 §2.2).
    revoke(
        app,
        &rp,
        CoreRevocableToken::from(tokens.access_token().clone()),
    )
    .await;
}

pub(crate) async fn a_revocation_on_one_replica_stops_the_token_at_once_on_another(app: &TestApp) {
    // Arrange: a second replica on the same database, which has already verified (and so
    // remembers) the access token at its userinfo and introspection endpoints.
    let replica = app.replica().await.unwrap();
    let (rp, tokens, client) = signed_in(app, "rita").await;
    let secret = client.secret.clone().unwrap();
    let introspect_on_replica = || async {
        let body: serde_json::Value = replica
            .http
            .post(replica.url("/introspect"))
            .basic_auth(&client.id, Some(&secret))
            .form(&[("token", tokens.access_token().secret().as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["active"].as_bool().unwrap()
    };
    assert_eq!(userinfo_status(&replica, tokens.access_token()).await, 200);
    assert!(introspect_on_replica().await);

    // Act: revoked through the first replica.
    revoke(
        app,
        &rp,
        CoreRevocableToken::from(tokens.access_token().clone()),
    )
    .await;

    // Assert: the other replica refuses it on the very next request.
    assert_eq!(userinfo_status(&replica, tokens.access_token()).await, 401);
    assert!(!introspect_on_replica().await);
    replica.stop().await.unwrap();
}

pub(crate) async fn a_token_type_hint_that_lies_is_not_trusted(app: &TestApp) {
    // Arrange
    let (rp, tokens, _) = signed_in(app, "carol").await;

    // Act: an access token sent as a refresh token.
    let access_as_refresh = RefreshToken::new(tokens.access_token().secret().clone());
    revoke(app, &rp, CoreRevocableToken::from(access_as_refresh)).await;

    // Assert
    assert_eq!(userinfo_status(app, tokens.access_token()).await, 401);
    let refreshed = refresh(app, &rp, tokens.refresh_token().unwrap())
        .await
        .unwrap();

    // Act: a refresh token sent as an access token.
    let new_refresh = refreshed.refresh_token().unwrap().clone();
    let refresh_as_access = AccessToken::new(new_refresh.secret().clone());
    revoke(app, &rp, CoreRevocableToken::from(refresh_as_access)).await;

    // Assert: the grant is gone, with the access token issued alongside.
    assert_eq!(
        refresh(app, &rp, &new_refresh).await.err(),
        Some(CoreErrorResponseType::InvalidGrant)
    );
    assert_eq!(userinfo_status(app, refreshed.access_token()).await, 401);
}

pub(crate) async fn revoking_unknown_or_garbage_tokens_answers_200(app: &TestApp) {
    // Arrange
    let client = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let rp = relying_party(app, &client).await;
    let garbage = [
        "garbage",
        "pcr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "a.b.c",
    ];

    for token in garbage {
        // Act + Assert: the library treats anything but 200 as an error.
        revoke(app, &rp, AccessToken::new(token.into()).into()).await;
        revoke(app, &rp, RefreshToken::new(token.into()).into()).await;
    }
    // An unknown hint is ignored, not `unsupported_token_type`; the body is empty and the
    // answer is never cached.
    let response = app
        .http
        .post(app.url("/revoke"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("token", "garbage"), ("token_type_hint", "id_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.bytes().await.unwrap().is_empty());
}

pub(crate) async fn another_clients_tokens_are_neither_revoked_nor_disturbed(app: &TestApp) {
    // Arrange: alice signed in to client A; client B is another confidential client.
    let (rp_a, tokens, _) = signed_in(app, "dave").await;
    let b = fixtures::client(app.store.as_ref(), false).await.unwrap();
    let rp_b = relying_party(app, &b).await;
    let refresh_token = tokens.refresh_token().unwrap().clone();

    // Act: B revokes A's tokens, both ways round; each answer is a plain 200.
    revoke(app, &rp_b, CoreRevocableToken::from(refresh_token.clone())).await;
    revoke(
        app,
        &rp_b,
        CoreRevocableToken::from(tokens.access_token().clone()),
    )
    .await;

    // Assert: A's tokens still work.
    assert_eq!(userinfo_status(app, tokens.access_token()).await, 200);
    let refreshed = refresh(app, &rp_a, &refresh_token).await.unwrap();
    assert_eq!(userinfo_status(app, refreshed.access_token()).await, 200);
}
