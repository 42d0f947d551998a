//! The HTTP/1 codec on the gateway's hot path: the bench harness's signed request head into
//! `http::request::Parts`, a typical upstream answer, and both head encodings.
//! `cargo bench --bench http1`; httparse alone is the floor the codec adds to.

#![allow(
    missing_docs,
    reason = "criterion_group! defines undocumented functions"
)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use http::header::HeaderValue;
use http::uri::PathAndQuery;
use http::{Method, StatusCode};
use stripe_app_gateway::http1::{
    encode_request_head, encode_response_head, parse_request, parse_response, BodyFraming,
    ChunkedDecoder, Decoded, Limits, ResponseStart, Status,
};

/// `POST /api/resource` with a 63-byte signed JSON body, as the load generator sends it.
const SIGNED_REQUEST: &[u8] = b"POST /api/resource HTTP/1.1\r\n\
Host: 127.0.0.1:8080\r\n\
Content-Type: application/json\r\n\
Content-Length: 63\r\n\
Stripe-Signature: t=1735689600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd\r\n\
User-Agent: wrk\r\n\
Accept: */*\r\n\
\r\n";

/// A hyper upstream's answer.
const UPSTREAM_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\n\
content-type: application/json\r\n\
content-length: 27\r\n\
date: Wed, 01 Jan 2025 00:00:00 GMT\r\n\
\r\n";

fn request_heads(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("request_head");
    group.bench_function("httparse_only", |b| {
        b.iter(|| {
            let mut fields = [httparse::EMPTY_HEADER; 16];
            let mut request = httparse::Request::new(&mut fields);
            black_box(request.parse(black_box(SIGNED_REQUEST)).is_ok())
        })
    });
    group.bench_function("parse", |b| {
        b.iter(|| black_box(parse_request(black_box(SIGNED_REQUEST), &limits)))
    });
    group.finish();
}

fn response_heads(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("response_head");
    group.bench_function("parse", |b| {
        b.iter(|| {
            black_box(parse_response(
                black_box(UPSTREAM_RESPONSE),
                &Method::POST,
                &limits,
            ))
        })
    });
    group.finish();
}

fn encoding(c: &mut Criterion) {
    let limits = Limits::default();
    let Ok(Status::Complete(request)) = parse_request(SIGNED_REQUEST, &limits) else {
        panic!("the bench request parses");
    };
    let mut upstream = request.head.parts.headers.clone();
    // What the pipeline adds before forwarding.
    upstream.insert("x-forwarded-for", HeaderValue::from_static("127.0.0.1"));
    upstream.insert(
        "x-request-id",
        HeaderValue::from_static("0123456789abcdef0123456789abcdef"),
    );
    upstream.insert(
        "x-stripe-app-account-id",
        HeaderValue::from_static("acct_1234567890"),
    );
    upstream.insert(
        "x-stripe-app-user-id",
        HeaderValue::from_static("usr_1234567890"),
    );
    let target = PathAndQuery::from_static("/api/resource");
    let Ok(Status::Complete(ResponseStart::Final(response))) =
        parse_response(UPSTREAM_RESPONSE, &Method::POST, &limits)
    else {
        panic!("the bench response parses");
    };
    let mut dst = Vec::with_capacity(1024);
    let mut group = c.benchmark_group("encode");
    group.bench_function("request_head", |b| {
        b.iter(|| {
            dst.clear();
            encode_request_head(
                &mut dst,
                &Method::POST,
                &target,
                black_box(&upstream),
                BodyFraming::Length(63),
                false,
            );
            black_box(dst.len())
        })
    });
    group.bench_function("response_head", |b| {
        b.iter(|| {
            dst.clear();
            encode_response_head(
                &mut dst,
                StatusCode::OK,
                black_box(&response.parts.headers),
                BodyFraming::Length(27),
                false,
            );
            black_box(dst.len())
        })
    });
    group.finish();
}

fn chunked(c: &mut Criterion) {
    let limits = Limits::default();
    let body = b"3f\r\n{\"user_id\":\"usr_1234567890\",\"account_id\":\"acct_1234567890abcd\"}\r\n0\r\n\r\n";
    c.bench_function("chunked/decode_63_bytes", |b| {
        b.iter(|| {
            let mut decoder = ChunkedDecoder::new(&limits, 1 << 20);
            let mut input = &body[..];
            let mut data = 0;
            while let Ok(decoded) = decoder.decode(black_box(input)) {
                match decoded {
                    Decoded::Data(range) => {
                        data += range.len();
                        input = input.get(range.end..).unwrap_or_default();
                    }
                    Decoded::NeedMore | Decoded::Done { .. } => break,
                }
            }
            black_box(data)
        })
    });
}

criterion_group!(benches, request_heads, response_heads, encoding, chunked);
criterion_main!(benches);
