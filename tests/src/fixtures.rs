//! Test data created through the same domain functions the CLI uses.

use portcullis_core::clients::{NewClient, create_client};
use portcullis_core::model::{User, UserProfile};
use portcullis_core::password::{Argon2Params, PasswordHasher};
use portcullis_core::store::Store;
use portcullis_core::users::{NewUser, create_user};
use portcullis_core::{Clock, SystemClock};
use secrecy::SecretString;

/// The password of every fixture user.
pub const PASSWORD: &str = "correct horse battery staple";

/// The redirect URI of fixture clients.
pub const REDIRECT_URI: &str = "https://app.example/cb";

/// Creates a user with a real argon2id hash of [`PASSWORD`].
pub async fn user(store: &dyn Store, username: &str) -> anyhow::Result<User> {
    let hasher = PasswordHasher::new(Argon2Params::default(), 2)?;
    let new = NewUser {
        username: username.to_owned(),
        password: SecretString::from(PASSWORD),
        profile: UserProfile {
            email: Some(format!("{username}@example.com")),
            email_verified: true,
            name: Some(format!("{username} Example")),
            given_name: Some(username.to_owned()),
            family_name: Some("Example".into()),
            picture: None,
        },
        roles: vec![],
    };
    Ok(create_user(store, &hasher, new, SystemClock.now()).await?)
}

/// A registered client: its id and (for confidential clients) its secret.
pub struct TestClient {
    /// `client_id`.
    pub id: String,
    /// `client_secret`, for confidential clients.
    pub secret: Option<String>,
}

/// Creates a client redirecting to [`REDIRECT_URI`] (and loopback), allowed
/// `openid profile email offline_access`.
pub async fn client(store: &dyn Store, public: bool) -> anyhow::Result<TestClient> {
    let new = NewClient {
        name: "Example App".into(),
        redirect_uris: vec![REDIRECT_URI.into(), "http://127.0.0.1/cb".into()],
        public,
        ..NewClient::default()
    };
    let (client, secret) = create_client(store, new, SystemClock.now()).await?;
    Ok(TestClient {
        id: client.client_id.0,
        secret: secret.map(|s| s.expose().to_owned()),
    })
}
