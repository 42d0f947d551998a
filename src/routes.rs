//! Route matching: exact `path` beats `path_prefix`, the longest prefix wins, nothing else
//! matches. The path is matched byte for byte as it is forwarded, so a path that a backend could
//! read as a *different* route's path matches nothing (deny by default). Refused:
//!
//! - paths not in normal form: no empty (`//`), `.` or `..` segment, no segment ending in `.`
//!   or `%20` (Windows strips those: `/api/admin./x` is `/api/admin/x` to IIS), no backslash, control
//!   character, space, non-ASCII byte, `;` (path parameters, which Tomcat and Jetty strip and
//!   `/..;/` abuses), `?` or `#`;
//! - percent escapes a backend would decode into something routing depends on: unreserved
//!   characters (`%61` is `a`: clients never need to encode them), `/`, `\`, `;`, control
//!   characters, any byte ≥ 0x80 (Unicode lookalikes such as `%EF%BC%A1`, fullwidth `A`, which
//!   NFKC or Windows best-fit mapping turn into ASCII), any character used in a route's path,
//!   `%25` followed by two hex digits (decoded twice, `%2561` is `a`) and malformed escapes
//!   (`%zz`, a trailing `%`, IIS's `%u0061`);
//! - a path that matches a more specific route when compared ignoring ASCII case and one
//!   trailing slash than the one it matches exactly (`/api/ADMIN/x` or `/api/admin` while
//!   `/api/admin/` exists, `/api/pay/` while `/api/pay` exists): a case-insensitive backend, or
//!   one that ignores a trailing slash (Express's default), would hand it to the stricter
//!   route's handler.
//!
//! So whatever a backend undoes (one or two rounds of percent-decoding, dot segments, path
//! parameters, fullwidth forms, case), its reading falls to the route the gateway matched, never
//! to a stricter one; `routes/readings.rs` checks this over every path built from tricky pieces.

/// How a route matches a request path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathMatch {
    /// `path`: this path only.
    Exact(String),
    /// `path_prefix`: every path that starts with it.
    Prefix(String),
}

/// Compiled matcher over the routes of one snapshot; yields route indexes.
#[derive(Debug, Default)]
pub(crate) struct Router {
    exact: Vec<(Box<str>, usize)>,
    /// Longest first, so the first hit is the longest prefix.
    prefixes: Vec<Prefix>,
    /// Every byte of every route's path: none of them may arrive percent-encoded, or a decoding
    /// backend would see a route the gateway did not match.
    pattern_bytes: AsciiSet,
}

/// One `path_prefix` route.
#[derive(Debug)]
struct Prefix {
    pattern: Box<str>,
    route: usize,
    /// The more specific routes (longer prefixes, exact paths) that start with `pattern` when
    /// compared ignoring ASCII case: a path that matches one of them that way is refused.
    shadows: Box<[PathMatch]>,
}

impl Router {
    /// Builds the matcher; `paths[i]` belongs to route `i`.
    pub(crate) fn new<'a>(paths: impl IntoIterator<Item = &'a PathMatch>) -> Router {
        let paths: Vec<&PathMatch> = paths.into_iter().collect();
        let mut router = Router::default();
        for (index, path) in paths.iter().enumerate() {
            match path {
                PathMatch::Exact(p) => router.exact.push((p.as_str().into(), index)),
                PathMatch::Prefix(p) => router.prefixes.push(Prefix {
                    pattern: p.as_str().into(),
                    route: index,
                    shadows: shadows(p, &paths),
                }),
            }
            let (PathMatch::Exact(p) | PathMatch::Prefix(p)) = path;
            p.bytes().for_each(|b| router.pattern_bytes.insert(b));
        }
        router
            .prefixes
            .sort_by_key(|prefix| std::cmp::Reverse(prefix.pattern.len()));
        router
    }

    /// The route for `path`, if any. `path` is the request path without the query, exactly as
    /// it will be forwarded. Allocation-free.
    pub(crate) fn find(&self, path: &str) -> Option<usize> {
        if !is_acceptable(path, self.pattern_bytes) {
            return None;
        }
        if let Some((_, index)) = self.exact.iter().find(|(p, _)| **p == *path) {
            return Some(*index);
        }
        let prefix = self
            .prefixes
            .iter()
            .find(|prefix| path.starts_with(&*prefix.pattern))?;
        if prefix
            .shadows
            .iter()
            .any(|shadow| matches_ignoring_case(shadow, path))
        {
            return None;
        }
        Some(prefix.route)
    }
}

/// A path in normal form whose percent escapes decode to nothing routing depends on (see the
/// module documentation); what `Router::find` requires before it looks at routes, apart from
/// the bytes of the routes' own paths, which only a [`Router`] knows.
pub(crate) fn is_normal_path(path: &str) -> bool {
    is_acceptable(path, AsciiSet::EMPTY)
}

/// Whether a lenient backend would hand `path` to `pattern`'s handler: ASCII case ignored, and
/// one trailing slash either way (Express, Rails and Spring route `/admin` and `/admin/`
/// alike), so the prefix `/api/admin/` also covers `/api/admin`, and the exact `/api/pay` also
/// covers `/api/pay/`.
fn matches_ignoring_case(pattern: &PathMatch, path: &str) -> bool {
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    match pattern {
        PathMatch::Exact(p) => {
            same(path, p) || path.strip_suffix('/').is_some_and(|stem| same(stem, p))
        }
        PathMatch::Prefix(p) => {
            path.as_bytes()
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes()))
                || p.strip_suffix('/').is_some_and(|stem| same(path, stem))
        }
    }
}

/// The routes in `paths` more specific than the prefix `pattern` that a path under `pattern`
/// could match when case is ignored.
fn shadows(pattern: &str, paths: &[&PathMatch]) -> Box<[PathMatch]> {
    let own = PathMatch::Prefix(pattern.to_string());
    paths
        .iter()
        .filter(|other| match other {
            PathMatch::Exact(p) => matches_ignoring_case(&own, p),
            PathMatch::Prefix(p) => p.len() > pattern.len() && matches_ignoring_case(&own, p),
        })
        .map(|other| (*other).clone())
        .collect()
}

/// Whether `path` is one routing may look at: it starts with `/`; every raw byte and every
/// `%XX` escape passes [`escape_ends`]'s checks; no segment is empty (but the last), and none
/// ends in `.` (which covers `.` and `..`) or `%20`, as Windows (IIS, Kestrel on Windows) drops
/// trailing dots and spaces from a segment: `/api/admin./x` and `/api/admin%20/x` reach
/// `/api/admin/x` there. One pass over the bytes.
fn is_acceptable(path: &str, pattern_bytes: AsciiSet) -> bool {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return false;
    }
    let mut at = 1usize;
    let mut segment_start = 1usize;
    loop {
        // One segment: up to the next `/` or the end.
        while let Some(&byte) = bytes.get(at) {
            match byte {
                b'/' => break,
                b'%' => match escape_ends(bytes, at, pattern_bytes) {
                    Some(next) => at = next,
                    None => return false,
                },
                _ if byte >= 0x80 || REFUSED_RAW.contains(byte) => return false,
                _ => at = at.saturating_add(1),
            }
        }
        let segment = bytes.get(segment_start..at).unwrap_or_default();
        let last = at >= bytes.len();
        // A trailing slash (`/api/`) leaves one empty last segment, which is fine.
        if (segment.is_empty() && !last) || segment.ends_with(b".") || segment.ends_with(b"%20") {
            return false;
        }
        if last {
            return true;
        }
        at = at.saturating_add(1);
        segment_start = at;
    }
}

/// The escape `%XX` at `at` (where the `%` is): `None` if it is malformed, decodes to a byte
/// paths may not hold encoded (or one of `pattern_bytes`), or decodes to `%` followed by two
/// hex digits (decoding twice would make a new escape: `%2561` → `%61` → `a`); otherwise where
/// the path goes on after it.
fn escape_ends(bytes: &[u8], at: usize, pattern_bytes: AsciiSet) -> Option<usize> {
    let after = at.checked_add(3)?;
    let decoded = hex_pair(bytes.get(at.checked_add(1)?..after)?)?;
    if decoded >= 0x80 || REFUSED_ENCODED.contains(decoded) || pattern_bytes.contains(decoded) {
        return None;
    }
    let twice = bytes
        .get(after..after.saturating_add(2))
        .and_then(hex_pair)
        .is_some();
    if decoded == b'%' && twice {
        return None;
    }
    Some(after)
}

/// The two-pass reading [`is_acceptable`] replaced, kept to check that the two agree.
#[cfg(test)]
fn is_acceptable_reference(path: &str, pattern_bytes: AsciiSet) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    if !escapes_are_acceptable(path.as_bytes(), pattern_bytes) {
        return false;
    }
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if (segment.is_empty() && !last) || segment == "." || segment == ".." {
            return false;
        }
        if segment.ends_with('.') || segment.ends_with("%20") {
            return false;
        }
    }
    true
}

/// Checks every raw byte and every `%XX` escape of a path.
#[cfg(test)]
fn escapes_are_acceptable(bytes: &[u8], pattern_bytes: AsciiSet) -> bool {
    let mut rest = bytes;
    while let Some((&first, tail)) = rest.split_first() {
        rest = tail;
        if first != b'%' {
            if first >= 0x80 || REFUSED_RAW.contains(first) {
                return false;
            }
            continue;
        }
        let Some(decoded) = tail.get(..2).and_then(hex_pair) else {
            return false;
        };
        rest = &tail[2..];
        if decoded >= 0x80 || REFUSED_ENCODED.contains(decoded) || pattern_bytes.contains(decoded) {
            return false;
        }
        // `%25` then two hex digits: decoding twice yields a new escape (`%2561` → `%61` → `a`).
        if decoded == b'%' && rest.get(..2).and_then(hex_pair).is_some() {
            return false;
        }
    }
    true
}

fn hex_pair(pair: &[u8]) -> Option<u8> {
    let digit = |b: u8| char::from(b).to_digit(16);
    match pair {
        [high, low] => Some((digit(*high)? * 16 + digit(*low)?) as u8),
        _ => None,
    }
}

/// Raw bytes no request path may hold: controls, space, `\`, `;`, `?`, `#`.
const REFUSED_RAW: AsciiSet = AsciiSet::EMPTY
    .with_range(0x00, 0x20)
    .with_range(0x7f, 0x7f)
    .with_bytes(b"\\;?#");

/// Bytes no request path may hold percent-encoded: the unreserved characters (RFC 3986 §2.3),
/// the separators `/`, `\`, `;` and control characters.
const REFUSED_ENCODED: AsciiSet = AsciiSet::EMPTY
    .with_range(b'A', b'Z')
    .with_range(b'a', b'z')
    .with_range(b'0', b'9')
    .with_bytes(b"-._~/\\;")
    .with_range(0x00, 0x1f)
    .with_range(0x7f, 0x7f);

/// A set of ASCII bytes.
#[derive(Debug, Default, Clone, Copy)]
struct AsciiSet(u128);

impl AsciiSet {
    const EMPTY: AsciiSet = AsciiSet(0);

    const fn with_range(self, first: u8, last: u8) -> AsciiSet {
        let mut bits = self.0;
        let mut byte = first;
        while byte <= last {
            bits |= 1 << byte;
            byte += 1;
        }
        AsciiSet(bits)
    }

    const fn with_bytes(self, bytes: &[u8]) -> AsciiSet {
        let mut set = self;
        let mut index = 0;
        while index < bytes.len() {
            set = set.with_range(bytes[index], bytes[index]);
            index += 1;
        }
        set
    }

    fn insert(&mut self, byte: u8) {
        if byte < 0x80 {
            self.0 |= 1 << byte;
        }
    }

    fn contains(self, byte: u8) -> bool {
        byte < 0x80 && (self.0 >> byte) & 1 == 1
    }
}

#[cfg(test)]
mod readings;
#[cfg(test)]
mod tests;
