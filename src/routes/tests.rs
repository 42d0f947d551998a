use super::*;

const API: usize = 0;
const ADMIN: usize = 1;
const EXACT: usize = 2;
const WEBHOOK: usize = 3;
const CATCH_ALL: usize = 4;

fn router() -> Router {
    let paths = [
        PathMatch::Prefix("/api/".into()),
        PathMatch::Prefix("/api/admin/".into()),
        PathMatch::Exact("/api/exact".into()),
        PathMatch::Exact("/webhook".into()),
    ];
    Router::new(paths.iter())
}

/// [`router`] plus a catch-all `/` prefix, which every path falls back to.
fn router_with_catch_all() -> Router {
    let paths = [
        PathMatch::Prefix("/api/".into()),
        PathMatch::Prefix("/api/admin/".into()),
        PathMatch::Exact("/api/exact".into()),
        PathMatch::Exact("/webhook".into()),
        PathMatch::Prefix("/".into()),
    ];
    Router::new(paths.iter())
}

fn assert_refused(router: &Router, paths: &[&str]) {
    for path in paths {
        assert_eq!(router.find(path), None, "{path}");
    }
}

#[test]
fn exact_beats_prefix_and_longest_prefix_wins() {
    let router = router();
    assert_eq!(router.find("/api/exact"), Some(EXACT));
    assert_eq!(router.find("/api/admin/x"), Some(ADMIN));
    assert_eq!(router.find("/api/x"), Some(API));
    assert_eq!(router.find("/webhook"), Some(WEBHOOK));
    assert_eq!(router.find("/webhook/"), None);
    assert_eq!(router.find("/api"), None);
    assert_eq!(router.find("/other"), None);
}

#[test]
fn paths_not_in_normal_form_match_nothing() {
    assert_refused(
        &router(),
        &[
            "/api/../admin",
            "/api/./x",
            "/api//x",
            "/api/a\\b",
            "api/x",
            "",
            "/api/a b",
            "/api/x\t",
            "/api/x\u{7f}",
        ],
    );
    for path in ["/api/", "/", "/api/a%20b", "/api/x.y/.z", "/api/{\"a\":1}"] {
        assert!(is_normal_path(path), "{path}");
    }
}

#[test]
fn encoded_separators_dots_and_unreserved_characters_are_refused() {
    assert_refused(
        &router(),
        &[
            "/api/%61dmin/delete",
            "/api/%41DMIN/delete",
            "/api/adm%69n/x",
            "/api/%2e%2e/admin",
            "/api/%2E%2E/x",
            "/api/a%2Fb",
            "/api/a%2fb",
            "/api/a%5cb",
            "/api/%00",
            "/api/%30",
            "/api/%2D%5F%7E",
            "/api/x%0a",
            "/api/x%7F",
        ],
    );
}

#[test]
fn path_parameters_are_refused_raw_or_encoded() {
    assert_refused(
        &router(),
        &[
            "/api/admin;x/delete",
            "/api/admin%3bx/delete",
            "/api/admin%3Bx/delete",
            "/api/x;v=1",
            "/api/..;/admin",
            "/api/...;/x",
            "/api/.;x=1/b",
            "/api/x/..;jsessionid=1",
        ],
    );
}

#[test]
fn double_and_malformed_encodings_are_refused() {
    assert_refused(
        &router(),
        &[
            "/api/%2561dmin/delete",
            "/api/%252e%252e/admin",
            "/api/%25%32%65",
            "/api/%252F",
            "/api/%zz",
            "/api/x%",
            "/api/x%4",
            "/api/%u0061dmin/delete",
            "/api/%%36%31",
        ],
    );
    // A literal `%` stays possible: decoded twice it is no escape.
    assert_eq!(router().find("/api/100%25"), Some(API));
    assert_eq!(router().find("/api/%25zz"), Some(API));
}

#[test]
fn non_ascii_bytes_are_refused_raw_or_encoded() {
    assert_refused(
        &router(),
        &[
            "/api/%EF%BC%A1dmin/x",
            "/api/\u{ff41}dmin/x",
            "/api/%C0%AE%C0%AE/admin",
            "/api/caf%C3%A9",
            "/api/caf\u{e9}",
            "/api/%80",
        ],
    );
}

#[test]
fn characters_of_route_paths_are_refused_encoded() {
    let paths = [
        PathMatch::Prefix("/api/".into()),
        PathMatch::Prefix("/api/v1:admin/".into()),
    ];
    let router = Router::new(paths.iter());
    assert_eq!(router.find("/api/v1:admin/x"), Some(1));
    assert_eq!(router.find("/api/v1%3Aadmin/x"), None);
    assert_eq!(router.find("/api/other%3a"), None);
    // Encoded reserved characters no route uses pass: JavaScript's encodeURIComponent makes them.
    assert_eq!(
        self::router().find("/api/a%3Ab%40c%2B%26%3D%24%2C%20%22"),
        Some(API)
    );
}

#[test]
fn case_variants_of_a_more_specific_route_are_refused() {
    let router = router_with_catch_all();
    assert_refused(
        &router,
        &[
            "/api/ADMIN/delete",
            "/api/Admin/x",
            "/API/admin/x",
            "/API/x",
            "/Api/",
            "/WEBHOOK",
            "/api/EXACT",
        ],
    );
    // Same best route either way: fine.
    assert_eq!(router.find("/api/Users/42"), Some(API));
    assert_eq!(router.find("/api/admin/DELETE"), Some(ADMIN));
    assert_eq!(router.find("/Other"), Some(CATCH_ALL));
    assert_eq!(router.find("/WEBHOOK/x"), Some(CATCH_ALL));
    // Without the catch-all there is nothing case-sensitive to fall back to.
    assert_eq!(self::router().find("/API/admin/x"), None);
}

#[test]
fn segments_windows_would_trim_are_refused() {
    let router = router();
    assert_refused(
        &router,
        &[
            "/api/admin./x",
            "/api/admin../x",
            "/api/admin%20/x",
            "/api/x.",
            "/api/a%20",
        ],
    );
    assert_eq!(router.find("/api/v1.2/x"), Some(API));
    assert_eq!(router.find("/api/a%20b"), Some(API));
}

#[test]
fn trailing_slash_variants_of_a_more_specific_route_are_refused() {
    let router = router();
    assert_refused(
        &router,
        &[
            "/api/admin",
            "/api/ADMIN",
            "/api/Admin",
            "/api/exact/",
            "/api/EXACT/",
        ],
    );
    assert_eq!(router.find("/api/admin/"), Some(ADMIN));
    assert_eq!(router.find("/api/exact"), Some(EXACT));
    assert_eq!(router.find("/api/administrator"), Some(API));
    assert_eq!(router.find("/api/exactly"), Some(API));
    let with_catch_all = router_with_catch_all();
    assert_refused(&with_catch_all, &["/webhook/", "/WEBHOOK/", "/api"]);
    assert_eq!(with_catch_all.find("/webhooks"), Some(CATCH_ALL));
}

mod one_pass {
    use proptest::prelude::*;

    use super::super::{is_acceptable, is_acceptable_reference, AsciiSet};

    /// Paths made of the bytes that matter to the checks: separators, dots, escapes (valid,
    /// malformed, double), spaces, refused bytes and letters.
    fn path() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("/".to_string()),
            Just(".".to_string()),
            Just("%".to_string()),
            Just("%20".to_string()),
            Just("%2e".to_string()),
            Just("%2F".to_string()),
            Just("%25".to_string()),
            Just("%2561".to_string()),
            Just("%41".to_string()),
            Just("%e9".to_string()),
            Just("%zz".to_string()),
            Just(";".to_string()),
            Just("\\".to_string()),
            Just(" ".to_string()),
            Just("é".to_string()),
            "[a-zA-Z0-9_~-]{1,4}",
            "[ -~]",
        ];
        proptest::collection::vec(piece, 0..10).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn the_one_pass_reading_agrees_with_the_two_pass_one(
            path in path(),
            pattern in proptest::collection::vec(0u8..0x80, 0..3),
        ) {
            let mut set = AsciiSet::EMPTY;
            for byte in pattern {
                set.insert(byte);
            }
            prop_assert_eq!(is_acceptable(&path, set), is_acceptable_reference(&path, set), "{:?}", path);
            let rooted = format!("/{path}");
            prop_assert_eq!(is_acceptable(&rooted, set), is_acceptable_reference(&rooted, set), "{:?}", rooted);
        }
    }
}
