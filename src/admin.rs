//! The admin listener (loopback by default, TLS with `[admin] tls`): `GET /healthz`,
//! `GET /readyz`, `GET /metrics`, `POST /reload`. Nothing here is reachable through the data
//! listener.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus::Registry;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::proxy::Gateway;
use crate::reload::Reloader;

/// What the admin endpoints read.
#[derive(Clone)]
pub(crate) struct Admin {
    pub gateway: Arc<Gateway>,
    pub registry: Registry,
    pub reloader: Arc<Reloader>,
    /// The serving threads, whose tasks `/metrics` counts.
    pub serving: crate::server::Serving,
}

/// Admin connections open at once; more wait in the listen queue, so that clients of the admin
/// listener can never take the descriptors the data listener needs.
const MAX_ADMIN_CONNECTIONS: usize = 64;

/// Serves the admin endpoints on `listener` until `stop` resolves.
pub(crate) async fn serve(listener: TcpListener, admin: Admin, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let limit = Arc::new(Semaphore::new(MAX_ADMIN_CONNECTIONS));
    loop {
        tokio::select! {
            accepted = accept(&listener, &limit) => {
                let Some((stream, permit)) = accepted else { continue };
                let tls = admin.gateway.snapshot().config.admin.tls.as_ref().map(crate::tls::ListenerTls::acceptor);
                let admin = admin.clone();
                let service = service_fn(move |request| {
                    let admin = admin.clone();
                    async move { Ok::<_, Infallible>(admin.handle(request).await) }
                });
                tokio::spawn(async move {
                    // The TLS handshake, when configured, gets as long as a request head.
                    let head = std::time::Duration::from_secs(10);
                    let opened = tokio::time::timeout(head, crate::tls::server::open(stream, tls));
                    let Ok(Some((stream, _))) = opened.await else { return };
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(head)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    drop(permit);
                });
            }
            () = &mut stop => break,
        }
    }
}

/// Accepts one connection once fewer than [`MAX_ADMIN_CONNECTIONS`] are open; `None` after an
/// accept error (logged, with a pause so that running out of descriptors does not spin).
async fn accept(
    listener: &TcpListener,
    limit: &Arc<Semaphore>,
) -> Option<(TcpStream, OwnedSemaphorePermit)> {
    // The semaphore is never closed, so acquiring only waits.
    let permit = limit.clone().acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, _)) => Some((stream, permit)),
        Err(err) => {
            tracing::warn!(error = %err, "admin accept failed");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            None
        }
    }
}

impl Admin {
    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        match (request.method(), request.uri().path()) {
            (&Method::GET | &Method::HEAD, "/healthz") => {
                json_response(StatusCode::OK, &json!({ "status": "ok" }))
            }
            (&Method::GET | &Method::HEAD, "/readyz") => self.readiness(),
            (&Method::GET, "/metrics") => {
                let tasks = i64::try_from(self.serving.alive_tasks()).unwrap_or(i64::MAX);
                self.gateway.metrics().runtime_alive_tasks.set(tasks);
                let mut response = Response::new(Full::new(Bytes::from(crate::metrics::render(
                    &self.registry,
                ))));
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                response
            }
            (&Method::POST, "/reload") => {
                let reloader = self.reloader.clone();
                // Reloading reads files: keep it off the async workers.
                let result = tokio::task::spawn_blocking(move || reloader.reload("admin")).await;
                match result {
                    Ok(Ok(report)) => json_response(StatusCode::OK, &report.to_json()),
                    Ok(Err(error)) => json_response(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &json!({ "result": "failure", "error": error.to_string(), "file": error.file, "key": error.key }),
                    ),
                    Err(_) => json_response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &json!({ "result": "failure", "error": "reload task failed" }),
                    ),
                }
            }
            (_, "/healthz" | "/readyz" | "/metrics" | "/reload") => json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({ "error": "method_not_allowed" }),
            ),
            _ => json_response(StatusCode::NOT_FOUND, &json!({ "error": "no_route" })),
        }
    }

    fn readiness(&self) -> Response<Full<Bytes>> {
        let snapshot = self.gateway.snapshot();
        let now = self.gateway.clock().now();
        let mut checks = vec![json!({ "name": "snapshot_loaded", "ok": true })];
        for (name, keyring) in &snapshot.keyrings {
            let ok = keyring.secrets().iter().any(|secret| secret.is_active(now));
            checks.push(json!({ "name": format!("keyring:{name}"), "ok": ok, "detail": if ok { "an unexpired secret" } else { "every secret has expired" } }));
        }
        for (listener, tls) in snapshot.config.tls_listeners() {
            let ok = tls.leaf.not_after > now;
            checks.push(json!({ "name": format!("tls_certificate:{listener}"), "ok": ok, "detail": if ok { "not expired" } else { "the certificate has expired" } }));
        }
        checks.push(json!({ "name": "not_draining", "ok": !self.gateway.is_draining() }));
        let ready = checks.iter().all(|check| check["ok"] == true);
        let status = if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        json_response(status, &json!({ "ready": ready, "checks": checks }))
    }
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
