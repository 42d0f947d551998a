//! Raw TOML structs → validated domain types. Every rule of SPEC §3 is checked here, once:
//! the top-level sections here, keyrings in `keyring.rs`, routes in `route.rs`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use http::HeaderName;
use ipnet::IpNet;

use super::context::{upstream_target, Ctx};
use super::raw::{RawAdmin, RawConfig, RawKeyring, RawLog, RawReload, RawServer, RawUpstream};
use super::*;
use crate::tls::server::Offer;

/// Converts the parsed file; `path` is only used for error messages and relative secret files.
pub(super) fn convert(
    raw: RawConfig,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let mut ctx = Ctx {
        file: path,
        env,
        warnings: Vec::new(),
    };
    let server = server(&ctx, &raw.server)?;
    let admin = admin(&ctx, &raw.admin)?;
    if let Some(warning) = exposed_admin(&ctx, admin.listen) {
        ctx.warnings.push(warning);
    }
    let upstream = upstream(&ctx, &raw.upstream)?;
    let identity = identity(&ctx, raw.identity.header_prefix.as_deref())?;
    let tolerance_secs = tolerance_secs(&ctx, raw.signature.tolerance.as_deref())?;
    let log = log(&ctx, &raw.log)?;
    let reload = reload(&ctx, &raw.reload)?;
    let keyrings = keyrings(&mut ctx, raw.keyrings)?;
    let routes = super::route::routes(&ctx, raw.routes, &keyrings)?;
    if routes.is_empty() {
        ctx.warnings
            .push("no [[routes]]: every request will be answered 404".into());
    }
    Ok(Config {
        path: path.to_path_buf(),
        server,
        admin,
        upstream,
        identity,
        tolerance_secs,
        log,
        reload,
        keyrings,
        routes,
        warnings: ctx.warnings,
    })
}

/// `[admin]`.
fn admin(ctx: &Ctx<'_>, raw: &RawAdmin) -> Result<AdminConfig, ConfigError> {
    Ok(AdminConfig {
        listen: ctx.socket_addr("admin.listen", raw.listen.as_deref(), "127.0.0.1:9090")?,
        tls: super::tls::listener(ctx, "admin.tls", raw.tls.as_ref(), Offer::Http1)?,
    })
}

/// The admin endpoints have no authentication yet: say so when others can reach them.
fn exposed_admin(ctx: &Ctx<'_>, listen: SocketAddr) -> Option<String> {
    if listen.ip().to_canonical().is_loopback() {
        return None;
    }
    Some(format!(
        "{}: admin.listen = \"{listen}\" is not a loopback address: /metrics and POST /reload \
         are reachable, without authentication, by anyone who can reach that address; listen on \
         127.0.0.1 or restrict who can reach it (firewall, network policy)",
        ctx.file.display()
    ))
}

/// `[server]`. Keys are read in this order, so the first bad one is the one reported.
fn server(ctx: &Ctx<'_>, raw: &RawServer) -> Result<ServerConfig, ConfigError> {
    let (max_body_bytes, max_buffered_bytes) = body_budget(ctx, raw)?;
    let max_header_bytes = max_header_bytes(ctx, raw.max_header_bytes)?;
    let trusted_proxies = trusted_proxies(ctx, raw.trusted_proxies.as_deref())?;
    let listen = ctx.socket_addr("server.listen", raw.listen.as_deref(), "0.0.0.0:8080")?;
    let tls = super::tls::listener(ctx, "server.tls", raw.tls.as_ref(), Offer::Http2AndHttp1)?;
    let timeouts = server_timeouts(ctx, raw)?;
    Ok(ServerConfig {
        listen,
        tls,
        max_body_bytes,
        max_buffered_bytes,
        max_header_bytes,
        header_read_timeout: timeouts.header_read,
        body_read_timeout: timeouts.body_read,
        idle_timeout: timeouts.idle,
        send_timeout: timeouts.send,
        http2_keepalive_interval: timeouts.http2_keepalive_interval,
        trusted_proxies,
        shutdown_delay: timeouts.shutdown_delay,
        shutdown_grace: timeouts.shutdown_grace,
        max_in_flight: ctx.bounded(
            "server.max_in_flight",
            raw.max_in_flight,
            10_000,
            10_000_000,
        )?,
        max_connections: ctx.bounded(
            "server.max_connections",
            raw.max_connections,
            10_000,
            1_000_000,
        )?,
        workers: workers(ctx, raw.workers)?,
    })
}

/// `server.max_body_bytes` and `server.max_buffered_bytes`, the budget that must hold one body.
fn body_budget(ctx: &Ctx<'_>, raw: &RawServer) -> Result<(usize, usize), ConfigError> {
    let max_body_bytes = ctx.bounded(
        "server.max_body_bytes",
        raw.max_body_bytes,
        1 << 20,
        1 << 30,
    )?;
    let max_buffered_bytes = ctx.bounded(
        "server.max_buffered_bytes",
        raw.max_buffered_bytes,
        // A config that raised max_body_bytes past the default budget keeps loading.
        max_body_bytes.max(64 << 20),
        1 << 40,
    )?;
    if max_buffered_bytes < max_body_bytes {
        return Err(ctx.err(
            "server.max_buffered_bytes",
            format!(
                "{max_buffered_bytes} is below server.max_body_bytes ({max_body_bytes}): \
                 the budget of all buffered bodies must hold at least one"
            ),
        ));
    }
    Ok((max_body_bytes, max_buffered_bytes))
}

/// `server.max_header_bytes`: at least 8192.
fn max_header_bytes(ctx: &Ctx<'_>, raw: Option<u64>) -> Result<usize, ConfigError> {
    let max_header_bytes = ctx.bounded("server.max_header_bytes", raw, 64 << 10, 1 << 20)?;
    if max_header_bytes < 8192 {
        return Err(ctx.err("server.max_header_bytes", "must be at least 8192"));
    }
    Ok(max_header_bytes)
}

/// `server.trusted_proxies`: IP addresses and CIDRs.
fn trusted_proxies(ctx: &Ctx<'_>, raw: Option<&[String]>) -> Result<Vec<IpNet>, ConfigError> {
    let mut trusted_proxies = Vec::new();
    for (index, text) in raw.into_iter().flatten().enumerate() {
        let key = format!("server.trusted_proxies[{index}]");
        let net = text
            .parse::<IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
            .map_err(|_| {
                ctx.err(
                    key,
                    format!("{text:?} is not an IP address or CIDR such as \"10.0.0.0/8\""),
                )
            })?;
        trusted_proxies.push(net);
    }
    Ok(trusted_proxies)
}

/// The durations of `[server]`.
struct ServerTimeouts {
    header_read: Duration,
    body_read: Duration,
    idle: Duration,
    send: Duration,
    http2_keepalive_interval: Duration,
    shutdown_delay: Duration,
    shutdown_grace: Duration,
}

/// The durations of `[server]`, in the order they are checked.
fn server_timeouts(ctx: &Ctx<'_>, raw: &RawServer) -> Result<ServerTimeouts, ConfigError> {
    Ok(ServerTimeouts {
        header_read: ctx.positive_duration(
            "server.header_read_timeout",
            raw.header_read_timeout.as_deref(),
            Duration::from_secs(10),
        )?,
        body_read: ctx.positive_duration(
            "server.body_read_timeout",
            raw.body_read_timeout.as_deref(),
            Duration::from_secs(10),
        )?,
        idle: ctx.positive_duration(
            "server.idle_timeout",
            raw.idle_timeout.as_deref(),
            Duration::from_secs(60),
        )?,
        send: ctx.positive_duration(
            "server.send_timeout",
            raw.send_timeout.as_deref(),
            Duration::from_secs(60),
        )?,
        http2_keepalive_interval: ctx.positive_duration(
            "server.http2_keepalive_interval",
            raw.http2_keepalive_interval.as_deref(),
            Duration::from_secs(60),
        )?,
        shutdown_delay: ctx.duration(
            "server.shutdown_delay",
            raw.shutdown_delay.as_deref(),
            Duration::from_secs(5),
        )?,
        shutdown_grace: ctx.duration(
            "server.shutdown_grace",
            raw.shutdown_grace.as_deref(),
            Duration::from_secs(30),
        )?,
    })
}

/// `server.workers`: 0 (one per CPU) unless set, at most 1024.
fn workers(ctx: &Ctx<'_>, raw: Option<u64>) -> Result<usize, ConfigError> {
    match raw {
        None => Ok(0),
        Some(n) if n <= 1024 => Ok(n as usize),
        Some(n) => Err(ctx.err("server.workers", format!("{n} is above the limit of 1024"))),
    }
}

fn upstream(ctx: &Ctx<'_>, raw: &RawUpstream) -> Result<UpstreamConfig, ConfigError> {
    Ok(UpstreamConfig {
        target: upstream_target(ctx, "upstream.url", &raw.url)?,
        connect_timeout: ctx.positive_duration(
            "upstream.connect_timeout",
            raw.connect_timeout.as_deref(),
            Duration::from_secs(2),
        )?,
        timeout: ctx.positive_duration(
            "upstream.timeout",
            raw.timeout.as_deref(),
            Duration::from_secs(30),
        )?,
        webhook_timeout: ctx.positive_duration(
            "upstream.webhook_timeout",
            raw.webhook_timeout.as_deref(),
            Duration::from_secs(8),
        )?,
        pool_idle_timeout: ctx.positive_duration(
            "upstream.pool_idle_timeout",
            raw.pool_idle_timeout.as_deref(),
            Duration::from_secs(90),
        )?,
        // 0 turns keep-alive to the upstream off: a new connection per request.
        pool_max_idle_per_host: match raw.pool_max_idle_per_host {
            Some(0) => 0,
            other => ctx.bounded("upstream.pool_max_idle_per_host", other, 256, 65_536)?,
        },
        tls: super::tls::upstream(ctx, raw)?,
    })
}

fn identity(ctx: &Ctx<'_>, prefix: Option<&str>) -> Result<IdentityConfig, ConfigError> {
    let prefix = prefix.unwrap_or("X-Stripe-App-");
    let key = "identity.header_prefix";
    if HeaderName::from_bytes(prefix.as_bytes()).is_err() {
        return Err(ctx.err(key, format!("{prefix:?} is not a valid header name prefix")));
    }
    if !prefix.ends_with('-') || prefix.len() < 4 {
        return Err(ctx.err(
            key,
            format!("{prefix:?} must end with '-' and have at least 3 characters before it"),
        ));
    }
    let lower = prefix.to_ascii_lowercase().replace('_', "-");
    for reserved in [
        "x-forwarded-",
        "x-request-id",
        "stripe-signature",
        "content-",
        "host",
    ] {
        if reserved.starts_with(&lower) || lower.starts_with(reserved) {
            return Err(ctx.err(
                key,
                format!("{prefix:?} would strip or shadow the {reserved} headers"),
            ));
        }
    }
    Ok(IdentityConfig {
        header_prefix: prefix.to_string(),
    })
}

fn log(ctx: &Ctx<'_>, raw: &RawLog) -> Result<LogConfig, ConfigError> {
    let format = match raw.format.as_deref().unwrap_or("text") {
        "json" => LogFormat::Json,
        "text" => LogFormat::Text,
        other => {
            return Err(ctx.err(
                "log.format",
                format!("{other:?} is not one of \"json\", \"text\""),
            ))
        }
    };
    let level = raw.level.clone().unwrap_or_else(|| "info".into());
    if tracing_subscriber::EnvFilter::try_new(&level).is_err() {
        return Err(ctx.err(
            "log.level",
            format!(
                "{level:?} is not a level such as \"info\" or a filter such as \"info,hyper=warn\""
            ),
        ));
    }
    Ok(LogConfig { format, level })
}

/// `signature.tolerance` in whole seconds: at least one.
fn tolerance_secs(ctx: &Ctx<'_>, text: Option<&str>) -> Result<i64, ConfigError> {
    let tolerance = ctx.duration("signature.tolerance", text, Duration::from_secs(300))?;
    if tolerance.as_secs() == 0 {
        return Err(ctx.err(
            "signature.tolerance",
            "must be at least 1s (a tolerance of 0 would disable the recency check)",
        ));
    }
    Ok(i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX))
}

/// `[reload]`.
fn reload(ctx: &Ctx<'_>, raw: &RawReload) -> Result<ReloadConfig, ConfigError> {
    Ok(ReloadConfig {
        poll_interval: ctx.duration(
            "reload.poll_interval",
            raw.poll_interval.as_deref(),
            Duration::from_secs(30),
        )?,
        watch: raw.watch.unwrap_or(true),
    })
}

/// `[keyrings.NAME]`, each with its secrets loaded.
fn keyrings(
    ctx: &mut Ctx<'_>,
    raw: BTreeMap<String, RawKeyring>,
) -> Result<BTreeMap<String, KeyringConfig>, ConfigError> {
    let mut keyrings = BTreeMap::new();
    for (name, keyring) in raw {
        let converted = super::keyring::keyring(ctx, &name, keyring)?;
        keyrings.insert(name, converted);
    }
    Ok(keyrings)
}
