//! The recording test upstream: an HTTP/1 server on `127.0.0.1:0` that keeps every request
//! it receives ([`Seen`]) and answers as told ([`Behaviour`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// What the test upstream saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// How the test upstream answers.
#[derive(Debug, Clone)]
pub struct Behaviour {
    pub status: StatusCode,
    pub delay: Duration,
    pub body: &'static str,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            status: StatusCode::OK,
            delay: Duration::ZERO,
            body: r#"{"ok":true}"#,
        }
    }
}

/// A recording upstream on `127.0.0.1:0`.
#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let upstream = Upstream {
            addr: listener.local_addr().expect("addr"),
            seen: Arc::default(),
            behaviour: Arc::default(),
        };
        let state = upstream.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(state.answer(request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        upstream
    }

    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let body = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let behaviour = self.behaviour.lock().expect("lock").clone();
        self.seen.lock().expect("lock").push(Seen {
            method: parts.method,
            path_and_query: parts
                .uri
                .path_and_query()
                .map_or("/".into(), |pq| pq.as_str().to_string()),
            headers: parts.headers,
            body,
        });
        tokio::time::sleep(behaviour.delay).await;
        let mut response = Response::new(Full::new(Bytes::from_static(behaviour.body.as_bytes())));
        *response.status_mut() = behaviour.status;
        response
    }

    /// Sets how the next requests are answered.
    pub fn behave(&self, behaviour: Behaviour) {
        *self.behaviour.lock().expect("lock") = behaviour;
    }

    /// Requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
