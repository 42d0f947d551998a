//! Roles, replay, unfit identity values and path normalisation on app routes.

use super::*;

#[tokio::test]
async fn required_roles_admit_signed_roles_and_deny_others_with_403() {
    let upstream = Upstream::start().await;
    let routes = [
        route(
            "any",
            "/any/",
            "require_roles_any = [\"admin\", \"developer\"]",
        ),
        route(
            "all",
            "/all/",
            "require_roles_all = [\"admin\", \"developer\"]",
        ),
    ]
    .concat();
    let gateway = start(&upstream, "", &routes).await;
    let cases: [(&str, &[&str], bool); 8] = [
        ("/any/", &["developer"], true),
        ("/any/", &["view_only", "admin"], true),
        ("/any/", &["view_only"], false),
        ("/any/", &[], false),
        ("/all/", &["developer", "view_only", "admin"], true),
        ("/all/", &["admin"], false),
        ("/all/", &["Admin", "developer"], false),
        ("/all/", &[], false),
    ];
    for (prefix, roles, allowed) in cases {
        let before = upstream.seen().len();
        let answer =
            post_signed(&gateway.url(&format!("{prefix}x")), &roles_body(roles), &[]).await;
        if allowed {
            assert_eq!(answer.status, 200, "{prefix} {roles:?}");
            let seen = upstream.seen();
            assert_eq!(
                seen[before].headers["x-stripe-app-roles"],
                roles.join(",").as_str()
            );
        } else {
            assert_rejected(&answer, 403, "role_denied", &[]);
            assert_eq!(answer.json()["error"]["type"], "permission_error");
            assert_eq!(upstream.seen().len(), before, "{prefix} {roles:?}");
        }
    }
    // No stripe_roles at all in a raw-body signature.
    let answer = post_signed(&gateway.url("/any/x"), &app_body("usr_1", "acct_1"), &[]).await;
    assert_rejected(&answer, 403, "role_denied", &[]);
    assert_eq!(upstream.seen().len(), 3);
    gateway.stop().await;
}

#[tokio::test]
async fn roles_in_a_body_verified_by_the_default_payload_are_denied() {
    let upstream = Upstream::start().await;
    let gateway = start(
        &upstream,
        "",
        &route("any", "/any/", "require_roles_any = [\"admin\"]"),
    )
    .await;
    let body = roles_body(&["admin"]);
    // Signed over {user_id, account_id} only: verifies in mode B, so the roles are unproven.
    let header = sign(&[APP_SECRET], now(), &app_body("usr_1", "acct_1"));
    let answer = post_with(&gateway.url("/any/x"), &header, &body).await;
    assert_rejected(&answer, 403, "role_denied", &[]);
    assert!(upstream.seen().is_empty());
    // The same body signed as is passes.
    assert_eq!(
        post_signed(&gateway.url("/any/x"), &body, &[]).await.status,
        200
    );
    gateway.stop().await;
}

#[tokio::test]
async fn replay_reject_accepts_a_signature_once() {
    let upstream = Upstream::start().await;
    let gateway = start(&upstream, "", &app_route("replay = \"reject\"")).await;
    let url = gateway.url("/api/x");
    let body = app_body("usr_1", "acct_1");
    let t = now();
    gateway.clock.set(t);
    let header = sign(&[APP_SECRET], t, &body);
    assert_eq!(post_with(&url, &header, &body).await.status, 200);
    let answer = post_with(&url, &header, &body).await;
    assert_rejected(&answer, 401, "replayed", &[]);
    assert_eq!(upstream.seen().len(), 1);
    // A fresh signature (another t, or another body at the same t) passes.
    assert_eq!(post_at(&url, t - 1, &body).await.status, 200);
    let other = app_body("usr_2", "acct_1");
    assert_eq!(post_at(&url, t, &other).await.status, 200);
    assert_eq!(upstream.seen().len(), 3);
    gateway.stop().await;
}

#[tokio::test]
async fn replay_is_keyed_on_what_was_signed_not_on_the_matching_v1() {
    let upstream = Upstream::start().await;
    let two_secrets = format!(
        "secrets = [{{ id = \"current\", value = \"{APP_SECRET}\" }}, {{ id = \"previous\", value = \"{APP_SECRET_OLD}\" }}]"
    );
    let text = config_text(&upstream.url(), &app_route("replay = \"reject\"")).replace(
        &format!("secrets = [{{ id = \"current\", value = \"{APP_SECRET}\" }}]"),
        &two_secrets,
    );
    let gateway = TestGateway::start(&text).await;
    let url = gateway.url("/api/x");
    let body = app_body("usr_1", "acct_1");
    let t = now();
    // During a roll Stripe signs with both secrets: t=…,v1=<current>,v1=<previous>.
    let both = sign(&[APP_SECRET, APP_SECRET_OLD], t, &body);
    assert_eq!(post_with(&url, &both, &body).await.status, 200);
    // Stripping the v1 that matched leaves one that verifies with the other secret.
    let mut parts = both.split(',');
    let (stamp, _first, second) = (
        parts.next().expect("t"),
        parts.next(),
        parts.next().expect("v1"),
    );
    let stripped = format!("{stamp},{second}");
    assert_rejected(
        &post_with(&url, &stripped, &body).await,
        401,
        "replayed",
        &[],
    );
    // A default-mode signature replayed with other unsigned fields is the same signed message.
    let signed = app_body("usr_2", "acct_1");
    let header = sign(&[APP_SECRET], t, &signed);
    let first = br#"{"note":"a","user_id":"usr_2","account_id":"acct_1"}"#;
    let second = br#"{"note":"b","user_id":"usr_2","account_id":"acct_1"}"#;
    assert_eq!(post_with(&url, &header, first).await.status, 200);
    assert_rejected(
        &post_with(&url, &header, second).await,
        401,
        "replayed",
        &[],
    );
    assert_eq!(upstream.seen().len(), 2);
    gateway.stop().await;
}

#[tokio::test]
async fn a_signed_identity_that_cannot_be_a_header_value_is_400_not_forwarded_without_it() {
    let upstream = Upstream::start().await;
    let gateway = start(&upstream, "", &app_route("")).await;
    // Valid JSON, correctly signed, but the id unescapes to a control character.
    let body = br#"{"user_id":"usr_\u0001x","account_id":"acct_1"}"#;
    let answer = post_at(&gateway.url("/api/x"), now(), body).await;
    assert_rejected(&answer, 400, "malformed_body", &[]);
    assert!(upstream.seen().is_empty());
    gateway.stop().await;
}

#[tokio::test]
async fn paths_not_in_normal_form_are_404_and_never_forwarded() {
    let upstream = Upstream::start().await;
    let routes = format!(
        "{}[[routes]]\nid = \"open\"\npath_prefix = \"/\"\nauth = \"none\"\n",
        app_route("")
    );
    let gateway = start(&upstream, "", &routes).await;
    let body = app_body("usr_1", "acct_1");
    for path in [
        "/api/../admin",
        "/api/%2e%2e/x",
        "/api/%2E%2E/x",
        "//api/x",
        "/api/./x",
        "/api//x",
        "/api/a%2fb",
        "/api/a%5Cb",
        "/api/..;/admin",
        "/public/..;/admin",
        "/open/.;x=1/x",
        "/public/x;v=1",
        "/public/%78",
        "/API/x",
    ] {
        let answer = post_signed(&gateway.url(path), &body, &[]).await;
        assert_rejected(&answer, 404, "no_route", &[]);
        let answer = send(Method::GET, &gateway.url(path), &[], Bytes::new()).await;
        assert_rejected(&answer, 404, "no_route", &[]);
    }
    assert!(upstream.seen().is_empty(), "{:?}", upstream.seen());
    // The catch-all route does forward normal paths.
    assert_eq!(
        send(
            Method::GET,
            &gateway.url("/public/x%20y"),
            &[],
            Bytes::new()
        )
        .await
        .status,
        200
    );
    gateway.stop().await;
}
