//! Route shadowing by path encodings, over real sockets: with `/api/` open to any signed user and
//! `/api/admin/` requiring the `admin` role, no encoding a backend would undo (percent escapes,
//! double escapes, `;` parameters, case, Unicode lookalikes) carries a non-admin signature past
//! the admin route. Each trick is answered `404 no_route` and never forwarded.

use bytes::Bytes;
use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// Paths that Go, Flask, Django, Tomcat or IIS backends route to the admin handler.
const TRICKS: &[&str] = &[
    "/api/%61dmin/delete",
    "/api/%41dmin/delete",
    "/api/adm%69n/delete",
    "/api/admin;x/delete",
    "/api/admin;jsessionid=1/delete",
    "/api/admin%3bx/delete",
    "/api/admin%3Bx/delete",
    "/api/ADMIN/delete",
    "/api/Admin/delete",
    "/API/admin/delete",
    "/api/%2561dmin/delete",
    "/api/%25%36%31dmin/delete",
    "/api/%u0061dmin/delete",
    "/api/%EF%BC%A1dmin/delete",
    "/api/\u{ff41}dmin/delete",
    "/api/x/%2e%2e/admin/delete",
    "/api/x/..;/admin/delete",
    "/api/%zzadmin/delete",
    "/api/admin%",
    "/api/admin./delete",
    "/api/admin%20/delete",
    "/api/admin",
    "/api/ADMIN",
];

fn routes() -> String {
    let route = |id: &str, prefix: &str, extra: &str| {
        format!(
            "[[routes]]\nid = \"{id}\"\npath_prefix = \"{prefix}\"\nauth = \"app\"\n\
             keyring = \"app\"\n{extra}\n"
        )
    };
    route("api", "/api/", "") + &route("admin", "/api/admin/", "require_roles_any = [\"admin\"]")
}

/// A signed body for a user with these role ids.
fn user_with_roles(roles: &[&str]) -> Vec<u8> {
    let roles: Vec<String> = roles
        .iter()
        .map(|id| format!(r#"{{"id":"{id}"}}"#))
        .collect();
    format!(
        r#"{{"user_id":"usr_1","account_id":"acct_1","stripe_roles":[{}]}}"#,
        roles.join(",")
    )
    .into_bytes()
}

#[tokio::test]
async fn encoded_case_and_parameter_tricks_never_reach_the_admin_backend() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config_text(&upstream.url(), &routes())).await;
    let viewer = user_with_roles(&["view_only"]);
    for path in TRICKS {
        let answer = post_signed(&gateway.url(path), &viewer, &[]).await;
        assert_error(&answer, 404, "no_route");
        let answer = send(Method::GET, &gateway.url(path), &[], Bytes::new()).await;
        assert_error(&answer, 404, "no_route");
        // The query is not part of what routing sees, and it cannot rescue a path either.
        let with_query = format!("{path}?next=/api/users/1");
        let answer = post_signed(&gateway.url(&with_query), &viewer, &[]).await;
        assert_error(&answer, 404, "no_route");
    }
    assert!(upstream.seen().is_empty(), "{:?}", upstream.seen());

    // The plain admin path: role checked, denied.
    let answer = post_signed(&gateway.url("/api/admin/delete"), &viewer, &[]).await;
    assert_error(&answer, 403, "role_denied");
    assert!(upstream.seen().is_empty(), "{:?}", upstream.seen());

    // What is forwarded is exactly what was matched, query included and untouched.
    let admin = user_with_roles(&["admin"]);
    for (path, body) in [
        ("/api/admin/delete", &admin),
        ("/api/users/42", &viewer),
        ("/api/Users/42", &viewer),
        ("/api/100%25/a%20b%3Ac", &viewer),
        ("/api/users/42?next=/api/admin/;%61&x=%2e%2e", &viewer),
    ] {
        let before = upstream.seen().len();
        let answer = post_signed(&gateway.url(path), body, &[]).await;
        assert_eq!(answer.status, 200, "{path}: {:?}", answer.body);
        let seen = upstream.seen();
        assert_eq!(seen.len(), before + 1, "{path}");
        assert_eq!(seen[before].path_and_query, path);
    }
    gateway.stop().await;
}

#[tokio::test]
async fn tricks_in_absolute_form_targets_are_refused_too() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config_text(&upstream.url(), &routes())).await;
    for path in [
        "/api/%61dmin/delete",
        "/api/ADMIN/delete",
        "/api/admin;x/delete",
    ] {
        let target = format!("http://{}{path}", gateway.data);
        let head = raw_request(gateway.data, &target).await;
        assert!(head.starts_with("HTTP/1.1 404 "), "{target}: {head}");
        assert!(head.contains("no_route"), "{target}: {head}");
    }
    assert!(upstream.seen().is_empty(), "{:?}", upstream.seen());
    gateway.stop().await;
}

/// Sends `GET target` on a fresh connection, exactly as written, and returns the whole answer.
async fn raw_request(addr: std::net::SocketAddr, target: &str) -> String {
    let mut stream = deadline(TcpStream::connect(addr)).await.expect("connect");
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    deadline(stream.write_all(request.as_bytes()))
        .await
        .expect("write");
    let mut answer = Vec::new();
    deadline(stream.read_to_end(&mut answer))
        .await
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}
