use super::*;
use http::header::CACHE_CONTROL;
use http_body_util::BodyExt;

#[tokio::test]
async fn error_body_is_the_spec_json() {
    let error = GatewayError::Denied {
        denial: Denial::Signature(Rejection::SignatureMismatch),
        kind: KeyringKind::App,
    };
    let response = error.into_response("req_1");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("full body")
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(json["error"]["code"], "signature_mismatch");
    assert_eq!(json["error"]["type"], "authentication_error");
    assert_eq!(json["error"]["request_id"], "req_1");
}

#[test]
fn error_json_escapes_and_parses() {
    let text = error_json("t", "c", "say \"hi\"\\\n", "req_1");
    let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(json["error"]["message"], "say \"hi\"\\\n");
    assert_eq!(json["error"]["request_id"], "req_1");
}

#[test]
fn webhook_signature_failures_are_400() {
    let error = GatewayError::Denied {
        denial: Denial::Signature(Rejection::TimestampTooOld),
        kind: KeyringKind::Webhook,
    };
    assert_eq!(error.classify().status, StatusCode::BAD_REQUEST);
}

#[test]
fn upstream_failures_are_classified_by_fault() {
    for (failure, status) in [
        (UpstreamFailure::Connect, StatusCode::BAD_GATEWAY),
        (UpstreamFailure::Timeout, StatusCode::GATEWAY_TIMEOUT),
        (UpstreamFailure::Broken, StatusCode::BAD_GATEWAY),
        (UpstreamFailure::InvalidResponse, StatusCode::BAD_GATEWAY),
    ] {
        assert_eq!(GatewayError::Upstream(failure).classify().status, status);
    }
}

#[test]
fn shutting_down_closes_the_connection() {
    let response = GatewayError::ShuttingDown.into_response("req_1");
    assert_eq!(response.headers()[CONNECTION], "close");
    assert_eq!(response.headers()[RETRY_AFTER], "1");
}
