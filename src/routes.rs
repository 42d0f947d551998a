//! Route matching: exact `path` beats `path_prefix`, the longest prefix wins, nothing else
//! matches. Requests whose path is not in normal form match no route (deny by default).

use crate::config::PathMatch;

/// Compiled matcher over the routes of one snapshot; yields route indexes.
#[derive(Debug, Default)]
pub struct Router {
    exact: Vec<(Box<str>, usize)>,
    /// Longest first, so the first hit is the longest prefix.
    prefixes: Vec<(Box<str>, usize)>,
}

impl Router {
    /// Builds the matcher; `paths[i]` belongs to route `i`.
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a PathMatch>) -> Router {
        let mut router = Router::default();
        for (index, path) in paths.into_iter().enumerate() {
            match path {
                PathMatch::Exact(p) => router.exact.push((p.as_str().into(), index)),
                PathMatch::Prefix(p) => router.prefixes.push((p.as_str().into(), index)),
            }
        }
        router
            .prefixes
            .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        router
    }

    /// The route for `path`, if any. `path` is the request path without the query.
    pub fn find(&self, path: &str) -> Option<usize> {
        if !is_normal_path(path) {
            return None;
        }
        if let Some((_, index)) = self.exact.iter().find(|(p, _)| **p == *path) {
            return Some(*index);
        }
        self.prefixes
            .iter()
            .find(|(p, _)| path.starts_with(&**p))
            .map(|(_, index)| *index)
    }
}

/// A path in normal form: starts with `/`, no empty, `.` or `..` segment (also not with
/// `;parameters`, as in `/..;/`), no backslash, no control character, and no percent-encoded `/`,
/// `\`, `.` or NUL (which a backend might decode into a path that escapes the route's prefix).
pub fn is_normal_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/')
        || bytes
            .iter()
            .any(|b| *b == b'\\' || *b < 0x21 || *b == 0x7f || *b == b'#' || *b == b'?')
    {
        return false;
    }
    let rest = &path[1..];
    if !rest.is_empty() {
        let mut segments = rest.split('/').peekable();
        while let Some(segment) = segments.next() {
            if bad_segment(segment, segments.peek().is_none()) {
                return false;
            }
        }
    }
    !has_encoded_separator(bytes)
}

fn bad_segment(segment: &str, last: bool) -> bool {
    // Servlet containers (Tomcat, Jetty) drop `;params` before resolving dot segments, so
    // `/public/..;/admin` reaches `/admin` there: judge the name before the first `;`.
    let name = segment.split(';').next().unwrap_or(segment);
    // A trailing slash (`/api/`) leaves one empty last segment, which is fine.
    (segment.is_empty() && !last) || name == "." || name == ".."
}

fn has_encoded_separator(bytes: &[u8]) -> bool {
    bytes.windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                (w[1], w[2].to_ascii_lowercase()),
                (b'2', b'f') | (b'5', b'c') | (b'2', b'e') | (b'0', b'0')
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        let paths = [
            PathMatch::Prefix("/api/".into()),
            PathMatch::Prefix("/api/admin/".into()),
            PathMatch::Exact("/api/exact".into()),
            PathMatch::Exact("/webhook".into()),
        ];
        Router::new(paths.iter())
    }

    #[test]
    fn exact_beats_prefix_and_longest_prefix_wins() {
        let router = router();
        assert_eq!(router.find("/api/exact"), Some(2));
        assert_eq!(router.find("/api/admin/x"), Some(1));
        assert_eq!(router.find("/api/x"), Some(0));
        assert_eq!(router.find("/webhook"), Some(3));
        assert_eq!(router.find("/webhook/"), None);
        assert_eq!(router.find("/api"), None);
        assert_eq!(router.find("/other"), None);
    }

    #[test]
    fn paths_not_in_normal_form_match_nothing() {
        let router = router();
        for path in [
            "/api/../admin",
            "/api/./x",
            "/api//x",
            "/api/%2e%2e/x",
            "/api/a%2Fb",
            "/api/a%5cb",
            "/api/a\\b",
            "api/x",
            "/api/%00",
            "/api/..;/admin",
            "/api/.;x=1/b",
            "/api/x/..;jsessionid=1",
        ] {
            assert_eq!(router.find(path), None, "{path}");
        }
        assert!(is_normal_path("/api/"));
        assert!(is_normal_path("/api/a%20b"));
        assert!(is_normal_path("/api/x;v=1"));
        assert!(is_normal_path("/api/...;/x"));
        assert!(is_normal_path("/"));
    }
}
