//! A stolen authorization code in the wrong hands (RFC 6749 §4.1.3, §10.5; RFC 8252
//! §8.6): a presenter with the wrong client, `redirect_uri` or PKCE verifier is refused
//! without spending the code, so its owner can still redeem it; a replay only revokes the
//! grant when it comes from a presenter who passes those checks.

use portcullis_e2e::app::TestApp;

use super::{
    Auth, CodeSpec, REDIRECT_URI, confidential_client, exchange, grant_revoked, issue_code,
    pkce_pair, public_client, token,
};

pub(crate) async fn a_refused_presenter_leaves_the_code_to_its_owner(app: &TestApp) {
    // Arrange: a public (native) app's code, which anyone on the device can present under
    // the app's client_id, and another registered client.
    let owner = public_client(app).await;
    let other = confidential_client(app).await;
    let (verifier, challenge) = pkce_pair();
    let (wrong_verifier, _) = pkce_pair();
    let issued = issue_code(
        app,
        &owner,
        CodeSpec::with_pkce("openid offline_access", &challenge),
    )
    .await;

    // Act: the thief tries every way it can.
    let wrong_pkce = exchange(
        app,
        Auth::Public(&owner),
        &issued.code,
        Some(&wrong_verifier),
    )
    .await;
    let no_pkce = exchange(app, Auth::Public(&owner), &issued.code, None).await;
    let wrong_redirect = token(
        app,
        Auth::Public(&owner),
        &[
            ("grant_type", "authorization_code"),
            ("code", &issued.code),
            ("redirect_uri", "http://127.0.0.1:4444/cb"),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    let wrong_client = exchange(app, Auth::Basic(&other), &issued.code, Some(&verifier)).await;
    let owners = exchange(app, Auth::Public(&owner), &issued.code, Some(&verifier)).await;

    // Assert: each refusal is invalid_grant, and the owner still redeems the code.
    for refused in [&wrong_pkce, &no_pkce, &wrong_redirect, &wrong_client] {
        refused.assert_error(400, "invalid_grant");
    }
    owners.assert_ok();
    assert!(!grant_revoked(app, issued.grant_id).await);
}

pub(crate) async fn only_a_replay_that_passes_the_checks_revokes_the_grant(app: &TestApp) {
    // Arrange: a code its owner has redeemed.
    let owner = public_client(app).await;
    let (verifier, challenge) = pkce_pair();
    let (wrong_verifier, _) = pkce_pair();
    let issued = issue_code(app, &owner, CodeSpec::with_pkce("openid", &challenge)).await;
    exchange(app, Auth::Public(&owner), &issued.code, Some(&verifier))
        .await
        .assert_ok();

    // Act 1: a thief replays it without the verifier.
    let thief = exchange(
        app,
        Auth::Public(&owner),
        &issued.code,
        Some(&wrong_verifier),
    )
    .await;

    // Assert 1: refused, and the owner's grant lives on.
    thief.assert_error(400, "invalid_grant");
    assert!(!grant_revoked(app, issued.grant_id).await);

    // Act 2: the same code presented with the right verifier and redirect_uri: whoever
    // holds both redeemed or is redeeming it twice, so the code leaked (§10.5).
    let replay = token(
        app,
        Auth::Public(&owner),
        &[
            ("grant_type", "authorization_code"),
            ("code", &issued.code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
        ],
    )
    .await;

    // Assert 2: refused, and the grant is revoked.
    replay.assert_error(400, "invalid_grant");
    assert!(grant_revoked(app, issued.grant_id).await);
}
