//! Never lose an event: a 2xx goes back to Stripe only when the backend answered 2xx, the
//! event was filtered, or it is a duplicate of one already delivered (dedupe by event id, per
//! route, recorded only after the backend's 2xx). Failures, redirects, timeouts and an
//! unreachable backend leave the event to Stripe's retries.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};

use super::*;

#[tokio::test]
async fn a_delivered_event_is_acknowledged_again_without_a_second_forward() {
    let upstream = Upstream::start().await;
    let route = hook_route(
        "hooks",
        "/webhook",
        "dedupe = true\ndedupe_window = \"10m\"",
    );
    let gateway = TestGateway::start(&config_text(&upstream.url(), &route)).await;
    let body = event_body("evt_1Once", "invoice.paid", true, None);

    let first = deliver(&gateway, "/webhook", &body).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body, r#"{"ok":true}"#);
    advance(&gateway, 60);
    let again = deliver(&gateway, "/webhook", &body).await;
    assert_acked(&again, "duplicate");
    assert_eq!(upstream.seen().len(), 1);
    assert_eq!(webhook_events(&gateway, "hooks", "duplicate"), 1);

    // Another event id is not affected.
    let other = event_body("evt_1Other", "invoice.paid", true, None);
    assert_eq!(deliver(&gateway, "/webhook", &other).await.status, 200);
    assert_eq!(upstream.seen().len(), 2);

    // Past the window the id is forgotten.
    advance(&gateway, 10 * 60);
    let late = deliver(&gateway, "/webhook", &body).await;
    assert_eq!(late.status, 200, "{:?}", late.body);
    assert_eq!(late.body, r#"{"ok":true}"#);
    assert_eq!(upstream.seen().len(), 3);
    gateway.stop().await;
}

#[tokio::test]
async fn a_failed_delivery_is_forwarded_again_until_the_backend_accepts() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config_text(
        &upstream.url(),
        &hook_route("hooks", "/webhook", "dedupe = true"),
    ))
    .await;
    let body = event_body("evt_1Retry", "invoice.paid", true, None);
    let failures = [
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"backend":"crashed"}"#,
        ),
        (StatusCode::SERVICE_UNAVAILABLE, r#"{"backend":"busy"}"#),
        (StatusCode::NOT_FOUND, r#"{"backend":"no such handler"}"#),
    ];
    for (n, (status, text)) in failures.into_iter().enumerate() {
        upstream.behave(Behaviour {
            status,
            body: text,
            ..Behaviour::default()
        });
        let answer = deliver(&gateway, "/webhook", &body).await;
        assert_eq!(
            answer.status, status,
            "the backend's failure passes through"
        );
        assert_eq!(answer.body, text);
        assert_eq!(
            upstream.seen().len(),
            n + 1,
            "every retry reaches the backend"
        );
        advance(&gateway, 60);
    }
    upstream.behave(Behaviour::default());
    let accepted = deliver(&gateway, "/webhook", &body).await;
    assert_eq!(accepted.status, 200, "{:?}", accepted.body);
    assert_eq!(accepted.body, r#"{"ok":true}"#);
    assert_eq!(upstream.seen().len(), 4);
    advance(&gateway, 60);
    assert_acked(&deliver(&gateway, "/webhook", &body).await, "duplicate");
    assert_eq!(upstream.seen().len(), 4);
    assert_eq!(webhook_events(&gateway, "hooks", "failed"), 3);
    assert_eq!(webhook_events(&gateway, "hooks", "forwarded"), 1);
    gateway.stop().await;
}

#[tokio::test]
async fn a_redirect_from_the_backend_is_a_502_and_not_a_delivery() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config_text(
        &upstream.url(),
        &hook_route("hooks", "/webhook", "dedupe = true"),
    ))
    .await;
    let body = event_body("evt_1Redirect", "invoice.paid", true, None);
    for status in [
        StatusCode::FOUND,
        StatusCode::NOT_MODIFIED,
        StatusCode::PERMANENT_REDIRECT,
    ] {
        upstream.behave(Behaviour {
            status,
            ..Behaviour::default()
        });
        let answer = deliver(&gateway, "/webhook", &body).await;
        assert_error(&answer, 502, "upstream_unavailable");
        advance(&gateway, 60);
    }
    upstream.behave(Behaviour::default());
    assert_eq!(deliver(&gateway, "/webhook", &body).await.status, 200);
    assert_eq!(upstream.seen().len(), 4);
    advance(&gateway, 60);
    assert_acked(&deliver(&gateway, "/webhook", &body).await, "duplicate");
    assert_eq!(upstream.seen().len(), 4);
    gateway.stop().await;
}

#[tokio::test]
async fn an_unreachable_backend_is_a_502_and_the_redelivery_is_forwarded_once() {
    let closed = deadline(TcpListener::bind("127.0.0.1:0"))
        .await
        .expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let gateway = TestGateway::start(&config_text(
        &format!("http://{addr}"),
        &hook_route("hooks", "/webhook", "dedupe = true"),
    ))
    .await;
    let body = event_body("evt_1Down", "invoice.paid", true, None);
    let answer = deliver(&gateway, "/webhook", &body).await;
    assert_error(&answer, 502, "upstream_unavailable");

    // The backend comes back on the same address.
    let listener = deadline(TcpListener::bind(addr)).await.expect("rebind");
    let mut backend = GatedUpstream::serve(listener);
    backend.open();
    advance(&gateway, 3600);
    let answer = deliver(&gateway, "/webhook", &body).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(
        deadline(backend.arrivals.recv()).await.expect("arrival"),
        body
    );
    advance(&gateway, 3600);
    assert_acked(&deliver(&gateway, "/webhook", &body).await, "duplicate");
    assert!(
        backend.arrivals.try_recv().is_err(),
        "forwarded exactly once"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn webhook_routes_use_the_webhook_timeout_and_retry_after_a_504() {
    let upstream = Upstream::start().await;
    let text = config_text(
        &upstream.url(),
        &[
            hook_route("hooks", "/webhook", "dedupe = true"),
            "[[routes]]\nid = \"plain\"\npath = \"/plain\"\nauth = \"none\"\n".to_string(),
        ]
        .concat(),
    )
    .replace(
        "timeout = \"2s\"\nwebhook_timeout = \"2s\"",
        "timeout = \"5s\"\nwebhook_timeout = \"200ms\"",
    );
    assert!(
        text.contains("webhook_timeout = \"200ms\""),
        "harness config changed"
    );
    let gateway = TestGateway::start(&text).await;
    upstream.behave(Behaviour {
        delay: Duration::from_millis(600),
        ..Behaviour::default()
    });
    let body = event_body("evt_1Slow", "invoice.paid", true, None);
    // A 200 after 600 ms: the 504 can only come from the 200 ms webhook timeout.
    let answer = deliver(&gateway, "/webhook", &body).await;
    assert_error(&answer, 504, "upstream_timeout");
    // The same backend delay is fine for a route under `upstream.timeout`.
    let plain = send(Method::GET, &gateway.url("/plain"), &[], Vec::new()).await;
    assert_eq!(plain.status, 200, "{:?}", plain.body);

    upstream.behave(Behaviour::default());
    advance(&gateway, 60);
    let retried = deliver(&gateway, "/webhook", &body).await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    let forwards = |seen: &[Seen]| {
        seen.iter()
            .filter(|s| s.path_and_query == "/webhook")
            .count()
    };
    assert_eq!(forwards(&upstream.seen()), 2);
    advance(&gateway, 60);
    assert_acked(&deliver(&gateway, "/webhook", &body).await, "duplicate");
    assert_eq!(forwards(&upstream.seen()), 2);
    gateway.stop().await;
}

#[tokio::test]
async fn the_webhook_timeout_defaults_to_eight_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gateway.toml");
    let text = config_text("builtin:echo", &hook_route("hooks", "/webhook", ""))
        .replace("webhook_timeout = \"2s\"\n", "");
    assert!(!text.contains("webhook_timeout"), "harness config changed");
    std::fs::write(&path, text).expect("write config");
    let config = stripe_app_gateway::config::Config::load(&path).expect("config loads");
    assert_eq!(config.upstream.webhook_timeout, Duration::from_secs(8));
    assert_eq!(config.upstream.timeout, Duration::from_secs(2));
}

#[tokio::test]
async fn a_duplicate_while_the_first_is_in_flight_is_409() {
    let mut backend = GatedUpstream::start().await;
    let gateway = TestGateway::start(&config_text(
        &backend.url(),
        &hook_route("hooks", "/webhook", "dedupe = true"),
    ))
    .await;
    let gateway = Arc::new(gateway);
    let body = event_body("evt_1Concurrent", "invoice.paid", true, None);
    let first = {
        let (gateway, body) = (gateway.clone(), body.clone());
        tokio::spawn(async move { deliver(&gateway, "/webhook", &body).await })
    };
    assert_eq!(
        deadline(backend.arrivals.recv()).await.expect("arrival"),
        body
    );

    advance(&gateway, 5);
    let second = deliver(&gateway, "/webhook", &body).await;
    assert_error(&second, 409, "duplicate_in_flight");
    assert!(second.headers.contains_key("retry-after"));
    // Other events are not held up behind it.
    let other = event_body("evt_1Bystander", "invoice.paid", true, None);
    let other = {
        let (gateway, other) = (gateway.clone(), other.clone());
        tokio::spawn(async move { deliver(&gateway, "/webhook", &other).await })
    };
    assert_ne!(
        deadline(backend.arrivals.recv()).await.expect("arrival"),
        body
    );

    backend.open();
    let first = deadline(first).await.expect("first delivery");
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(deadline(other).await.expect("other delivery").status, 200);
    advance(&gateway, 5);
    assert_acked(&deliver(&gateway, "/webhook", &body).await, "duplicate");
    assert!(
        backend.arrivals.try_recv().is_err(),
        "one forward of the event"
    );
    let gateway = Arc::into_inner(gateway).expect("tasks finished");
    gateway.stop().await;
}

#[tokio::test]
async fn dedupe_is_per_route() {
    let upstream = Upstream::start().await;
    let routes = [
        hook_route("first", "/first", "dedupe = true"),
        hook_route("second", "/second", "dedupe = true"),
    ]
    .concat();
    let gateway = TestGateway::start(&config_text(&upstream.url(), &routes)).await;
    let body = event_body("evt_1Shared", "invoice.paid", true, None);
    assert_eq!(deliver(&gateway, "/first", &body).await.status, 200);
    assert_eq!(deliver(&gateway, "/second", &body).await.status, 200);
    advance(&gateway, 30);
    assert_acked(&deliver(&gateway, "/first", &body).await, "duplicate");
    assert_acked(&deliver(&gateway, "/second", &body).await, "duplicate");
    let paths: Vec<String> = upstream
        .seen()
        .into_iter()
        .map(|s| s.path_and_query)
        .collect();
    assert_eq!(paths, ["/first", "/second"]);
    gateway.stop().await;
}

#[tokio::test]
async fn without_dedupe_every_delivery_is_forwarded() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config_text(
        &upstream.url(),
        &hook_route("hooks", "/webhook", ""),
    ))
    .await;
    let body = event_body("evt_1Twice", "invoice.paid", true, None);
    for _ in 0..2 {
        assert_eq!(deliver(&gateway, "/webhook", &body).await.status, 200);
        advance(&gateway, 30);
    }
    assert_eq!(upstream.seen().len(), 2);
    gateway.stop().await;
}

/// A backend that reports each request body as it arrives and holds every answer until
/// [`GatedUpstream::open`]: "in flight" without depending on timing.
struct GatedUpstream {
    addr: SocketAddr,
    arrivals: mpsc::UnboundedReceiver<Bytes>,
    gate: Arc<Semaphore>,
}

impl GatedUpstream {
    async fn start() -> GatedUpstream {
        let listener = deadline(TcpListener::bind("127.0.0.1:0"))
            .await
            .expect("bind gated upstream");
        GatedUpstream::serve(listener)
    }

    fn serve(listener: TcpListener) -> GatedUpstream {
        let addr = listener.local_addr().expect("addr");
        let (arrived, arrivals) = mpsc::unbounded_channel();
        let gate = Arc::new(Semaphore::new(0));
        let held = gate.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (arrived, held) = (arrived.clone(), held.clone());
                let service = service_fn(move |request: Request<Incoming>| {
                    let (arrived, held) = (arrived.clone(), held.clone());
                    async move {
                        let body = request.into_body().collect().await;
                        let _ = arrived.send(body.map(|c| c.to_bytes()).unwrap_or_default());
                        // Each answer borrows the one permit `open` adds and gives it back.
                        let _permit = held.acquire().await;
                        let body = Full::new(Bytes::from_static(br#"{"ok":true}"#));
                        Ok::<_, Infallible>(Response::new(body))
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        GatedUpstream {
            addr,
            arrivals,
            gate,
        }
    }

    /// Lets every held and future request through.
    fn open(&self) {
        self.gate.add_permits(1);
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
