//! The module's promise, checked over every path built from a set of tricky segments: for each
//! path the router accepts, each reading a backend may make of it (as sent; percent-decoded once
//! or twice; dot segments and `//` resolved; `;parameters` dropped; fullwidth forms folded to
//! ASCII; case ignored) falls to the same route under the same rules.

use super::*;

fn patterns() -> Vec<PathMatch> {
    vec![
        PathMatch::Prefix("/api/".into()),
        PathMatch::Prefix("/api/admin/".into()),
        PathMatch::Prefix("/api/v1:x/".into()),
        PathMatch::Exact("/api/exact".into()),
        PathMatch::Exact("/webhook".into()),
        PathMatch::Prefix("/".into()),
    ]
}

/// Segments: route path pieces, their case and encoding variants, dot segments, escapes.
#[rustfmt::skip]
const SEGMENTS: &[&str] = &[
    "", ".", "..", "x", "api", "API", "Api", "admin", "ADMIN", "%61dmin", "%41dmin", "adm%69n",
    "%2561dmin", "%25%36%31dmin", "%u0061dmin", "%EF%BC%A1dmin", "\u{ff41}dmin", "%EF%BC%8F",
    "\u{ff0f}admin", "admin;x", "admin%3bx", "admin%3B", "a%2Fb", "a%5Cb", "%2e%2e", "%2E",
    "%252e%252e", "v1:x", "v1%3Ax", "v1%253Ax", "exact", "EXACT", "exac%74", "webhook", "WEBHOOK",
    "caf%C3%A9", "100%25", "%zz", "%", "a%20b", "%3A",
];

/// Percent-decodes every well-formed escape once; malformed ones stay as they are.
fn decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes.get(index + 1..index + 3).and_then(hex_pair) {
            Some(byte) if bytes[index] == b'%' => {
                out.push(byte);
                index += 3;
            }
            _ => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    out
}

/// The route a case-insensitive backend picks for `path`: exact first, then the longest prefix.
fn backend_route(patterns: &[PathMatch], path: &[u8]) -> Option<usize> {
    let exact = patterns.iter().position(
        |pattern| matches!(pattern, PathMatch::Exact(p) if p.as_bytes().eq_ignore_ascii_case(path)),
    );
    exact.or_else(|| {
        patterns
            .iter()
            .enumerate()
            .filter_map(|(index, pattern)| match pattern {
                PathMatch::Prefix(p)
                    if path
                        .get(..p.len())
                        .is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes())) =>
                {
                    Some((p.len(), index))
                }
                _ => None,
            })
            .max()
            .map(|(_, index)| index)
    })
}

#[test]
fn every_reading_of_an_accepted_path_reaches_the_matched_route() {
    let patterns = patterns();
    let router = Router::new(patterns.iter());
    let mut accepted = [0; 6];
    let mut path = String::new();
    // Paths of one to three segments, with or without a trailing slash: some 145,000.
    for a in SEGMENTS {
        for b in std::iter::once(None).chain(SEGMENTS.iter().map(Some)) {
            for c in std::iter::once(None).chain(SEGMENTS.iter().map(Some)) {
                for slash in ["", "/"] {
                    path.clear();
                    for segment in [Some(a), b, c].into_iter().flatten() {
                        path.push('/');
                        path.push_str(segment);
                    }
                    path.push_str(slash);
                    if let Some(route) = router.find(&path) {
                        accepted[route] += 1;
                        assert_readings_reach(&patterns, &path, route);
                    }
                }
            }
        }
    }
    // The walk reaches every route, so the assertion above says something about each.
    assert!(accepted.iter().all(|count| *count > 0), "{accepted:?}");
}

fn assert_readings_reach(patterns: &[PathMatch], path: &str, route: usize) {
    let once = decode(path.as_bytes());
    let twice = decode(&once);
    let readings = [
        path.as_bytes().to_vec(),
        without_parameters(&once),
        cleaned(path.as_bytes()),
        cleaned(&once),
        fold_fullwidth(&once),
        once,
        twice,
    ];
    for reading in &readings {
        assert_eq!(
            backend_route(patterns, reading),
            Some(route),
            "{path} read as {}",
            String::from_utf8_lossy(reading)
        );
    }
}

/// As Tomcat and Jetty read a path: `;parameters` dropped from every segment.
fn without_parameters(path: &[u8]) -> Vec<u8> {
    let segments = path.split(|b| *b == b'/');
    let names: Vec<&[u8]> = segments
        .map(|segment| segment.split(|b| *b == b';').next().unwrap_or(segment))
        .collect();
    names.join(&b'/')
}

/// As RFC 3986 §5.2.4 resolves `.` and `..` segments, and as nginx or Go's `path.Clean` merge
/// `//`.
fn cleaned(path: &[u8]) -> Vec<u8> {
    let mut kept: Vec<&[u8]> = Vec::new();
    let segments: Vec<&[u8]> = path.split(|b| *b == b'/').skip(1).collect();
    for (index, segment) in segments.iter().enumerate() {
        let last = index + 1 == segments.len();
        match *segment {
            b"." | b".." => {
                if *segment == b".." {
                    kept.pop();
                }
                if last {
                    kept.push(b"");
                }
            }
            b"" if !last => {}
            _ => kept.push(segment),
        }
    }
    let mut out = Vec::with_capacity(path.len());
    for segment in kept {
        out.push(b'/');
        out.extend_from_slice(segment);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// As NFKC (or Windows best fit) reads fullwidth forms: `\u{ff41}` is `a`, `\u{ff0f}` is `/`.
fn fold_fullwidth(path: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(path)
        .chars()
        .map(|c| match u32::from(c) {
            code @ 0xff01..=0xff5e => char::from_u32(code - 0xfee0).unwrap_or(c),
            _ => c,
        })
        .collect::<String>()
        .into_bytes()
}
