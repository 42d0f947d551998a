//! The file being converted ([`Ctx`]) and the value readers every section shares: durations,
//! bounded numbers, addresses, upstream URLs, labels. Each error names the file and the key.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use http::uri::Scheme;
use http::Uri;

use super::{ConfigError, UpstreamTarget};

/// Names the file being converted so every error can say where it comes from.
pub(super) struct Ctx<'a> {
    pub(super) file: &'a Path,
    pub(super) env: &'a dyn Fn(&str) -> Option<String>,
    pub(super) warnings: Vec<String>,
}

impl Ctx<'_> {
    pub(super) fn err(&self, key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            key: key.into(),
            reason: reason.into(),
        }
    }

    pub(super) fn duration(
        &self,
        key: &str,
        value: Option<&str>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let Some(text) = value else {
            return Ok(default);
        };
        humantime::parse_duration(text.trim()).map_err(|err| {
            self.err(
                key,
                format!("{text:?} is not a duration such as \"300s\" or \"2m\" ({err})"),
            )
        })
    }

    pub(super) fn positive_duration(
        &self,
        key: &str,
        value: Option<&str>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let duration = self.duration(key, value, default)?;
        if duration.is_zero() {
            return Err(self.err(key, "must be greater than zero"));
        }
        Ok(duration)
    }

    pub(super) fn socket_addr(
        &self,
        key: &str,
        value: Option<&str>,
        default: &str,
    ) -> Result<SocketAddr, ConfigError> {
        let text = value.unwrap_or(default);
        text.parse().map_err(|_| {
            self.err(
                key,
                format!("{text:?} is not an address such as \"0.0.0.0:8080\""),
            )
        })
    }

    pub(super) fn bounded(
        &self,
        key: &str,
        value: Option<u64>,
        default: usize,
        max: u64,
    ) -> Result<usize, ConfigError> {
        match value {
            None => Ok(default),
            Some(0) => Err(self.err(key, "must be greater than zero")),
            Some(n) if n > max => Err(self.err(key, format!("{n} is above the limit of {max}"))),
            Some(n) => usize::try_from(n).map_err(|_| self.err(key, "too large for this platform")),
        }
    }
}

pub(super) fn upstream_target(
    ctx: &Ctx<'_>,
    key: &str,
    text: &str,
) -> Result<UpstreamTarget, ConfigError> {
    if text == "builtin:echo" {
        return Ok(UpstreamTarget::Echo);
    }
    let bad = |why: &str| ctx.err(key, format!("{text:?} {why}"));
    let uri: Uri = text
        .parse()
        .map_err(|_| bad("is not a URL such as \"http://127.0.0.1:3000\" or builtin:echo"))?;
    let scheme = uri
        .scheme()
        .cloned()
        .ok_or_else(|| bad("needs a scheme (http://)"))?;
    if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
        return Err(bad(
            "uses a scheme the gateway cannot forward to: use http://, https:// or builtin:echo",
        ));
    }
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| bad("needs a host"))?;
    if scheme == Scheme::HTTPS && !crate::tls::client::is_server_name(authority.host()) {
        return Err(bad(
            "has a host that TLS cannot verify (not a DNS name or IP address)",
        ));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(bad(
            "must not have a path or query: requests keep their own path",
        ));
    }
    if authority.as_str().contains('@') {
        // Not quoted: the value holds credentials.
        return Err(ctx.err(
            key,
            "an upstream URL must not carry credentials (value not shown)",
        ));
    }
    Ok(UpstreamTarget::Http { scheme, authority })
}

/// Bounded label values: route ids, keyring names and secret ids end up in metric labels.
pub(super) fn is_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}
