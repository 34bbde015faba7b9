//! Whole flows that tests of sessions build on: a user signs in to a client through the
//! real login and consent pages and the client exchanges the code, so a test holds the
//! browser (with its session) and the tokens; and registering a client's logout URIs.

use anyhow::Context as _;
use portcullis_core::Clock as _;
use portcullis_core::SystemClock;
use portcullis_core::ids::ClientId;
use portcullis_core::redirect_uri::RedirectUri;
use portcullis_core::store::Store;

use crate::app::TestApp;
use crate::browser::Browser;
use crate::fixtures::{PASSWORD, REDIRECT_URI, TestClient};

/// The PKCE challenge of [`authorize_path`] (RFC 7636 appendix B).
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// Its verifier.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// The fixture client's registered post-logout redirect URI (see [`register_logout`]).
pub const POST_LOGOUT_URI: &str = "https://app.example/signed-out";

/// What the client got from the token endpoint.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// The access token.
    pub access_token: String,
    /// The ID token (OpenID requests).
    pub id_token: Option<String>,
    /// The refresh token (when OIDC Core §11 allows one).
    pub refresh_token: Option<String>,
}

/// An authorization request path for `client_id` with `scope` (space-separated), PKCE and
/// a state, redirecting to the fixture redirect URI.
pub fn authorize_path(client_id: &str, scope: &str) -> String {
    url::form_urlencoded::Serializer::new(String::from("/authorize?"))
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", scope)
        .append_pair("state", "st4te")
        .append_pair("nonce", "n0nce")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256")
        .finish()
}

/// Signs `username` in to `client` in `browser` (logging in and consenting as needed) and
/// exchanges the code.
pub async fn sign_in_and_exchange(
    app: &TestApp,
    browser: &Browser,
    client: &TestClient,
    username: &str,
    scope: &str,
) -> anyhow::Result<Tokens> {
    let redirect = browser
        .sign_in(&authorize_path(&client.id, scope), username, PASSWORD)
        .await?;
    let params = redirect.redirect_params()?;
    let code = params.get("code").context("no code in the redirect")?;
    let response = app
        .http
        .post(app.url("/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 200,
        "code exchange answered {}",
        response.status()
    );
    let body: serde_json::Value = response.json().await?;
    let text = |name: &str| body[name].as_str().map(str::to_owned);
    Ok(Tokens {
        access_token: text("access_token").context("no access_token")?,
        id_token: text("id_token"),
        refresh_token: text("refresh_token"),
    })
}

/// Registers [`POST_LOGOUT_URI`] as the client's post-logout redirect URI and, when given,
/// its `backchannel_logout_uri`.
pub async fn register_logout(
    store: &dyn Store,
    client_id: &str,
    backchannel_logout_uri: Option<&str>,
) -> anyhow::Result<()> {
    let mut client = store
        .find_client(&ClientId(client_id.to_owned()))
        .await?
        .context("no such client")?;
    client.post_logout_redirect_uris = vec![RedirectUri::parse(POST_LOGOUT_URI)?];
    client.metadata.backchannel_logout_uri = backchannel_logout_uri.map(str::to_owned);
    client.metadata.backchannel_logout_session_required = backchannel_logout_uri.is_some();
    client.updated_at = SystemClock.now();
    store.update_client(&client).await?;
    Ok(())
}
