//! Benchmark upstream: the fastest backend we can cheaply put behind a proxy, so that what a
//! benchmark measures is the proxy. Every request (any method, any path) has its body read
//! and gets `200 {"ok":true}` over a keep-alive HTTP/1.1 connection. One thread by default
//! (tokio `current_thread`), so it uses exactly one CPU of the layout `bench/compare.sh` pins;
//! `--threads N` runs N (for the scaling run, `bench/scaling.sh`).
//!
//! Usage: `bench-upstream [--listen 127.0.0.1:PORT] [--threads N]` (default `127.0.0.1:8081`,
//! 1 thread).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const BODY: &[u8] = br#"{"ok":true}"#;

fn main() {
    let (addr, threads) = match arguments(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!(
                "bench-upstream: {message}\nusage: bench-upstream [--listen ADDR:PORT] [--threads N]"
            );
            std::process::exit(2);
        }
    };
    let runtime = if threads > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    match runtime {
        Ok(runtime) => runtime.block_on(serve(addr)),
        Err(err) => {
            eprintln!("bench-upstream: cannot start the runtime: {err}");
            std::process::exit(1);
        }
    }
}

async fn serve(addr: SocketAddr) {
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("bench-upstream: cannot listen on {addr}: {err}");
            std::process::exit(1);
        }
    };
    eprintln!("bench-upstream: listening on {addr}");
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // EMFILE and friends: keep serving the connections we have.
            Err(_) => continue,
        };
        // Small request/response pairs: don't let Nagle delay them (nginx does the same).
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}

/// Reads the whole request body (so the connection stays reusable), then answers the fixed JSON.
async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let _ = request.into_body().collect().await;
    let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

fn arguments(mut args: impl Iterator<Item = String>) -> Result<(SocketAddr, usize), String> {
    let mut addr = String::from("127.0.0.1:8081");
    let mut threads = String::from("1");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => addr = args.next().ok_or("--listen needs ADDR:PORT")?,
            "--threads" => threads = args.next().ok_or("--threads needs a number")?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let addr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not ADDR:PORT"))?;
    let threads = threads
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=256).contains(n))
        .ok_or_else(|| format!("{threads:?} is not a thread count (1-256)"))?;
    Ok((addr, threads))
}
