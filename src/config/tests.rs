use std::path::Path;

use super::*;

pub(super) const APP_SECRET: &str = "absec_test_0123456789abcdef";
const WEBHOOK_SECRET: &str = "whsec_test_0123456789abcdef";

pub(super) fn base() -> String {
    format!(
        r#"
[upstream]
url = "http://127.0.0.1:3000"

[keyrings.app]
kind = "app"
secrets = [{{ id = "current", value = "{APP_SECRET}" }}]

[keyrings.hooks]
kind = "webhook"
secrets = [{{ id = "live", value = "{WEBHOOK_SECRET}" }}]

[[routes]]
id = "ui"
path_prefix = "/api/"
methods = ["POST"]
auth = "app"
keyring = "app"
cors = true
"#
    )
}

pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(Path::new("test.toml"), text, &|name| {
        (name == "PREVIOUS").then(|| format!("{APP_SECRET}_old\n"))
    })
}

pub(super) fn error(text: &str) -> ConfigError {
    parse(text).expect_err("config should be rejected")
}

#[test]
fn a_minimal_config_gets_the_documented_defaults() {
    let config = parse(&base()).expect("valid");
    assert_eq!(config.server.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(config.admin.listen.to_string(), "127.0.0.1:9090");
    assert_eq!(config.server.max_body_bytes, 1 << 20);
    assert_eq!(config.server.max_buffered_bytes, 64 << 20);
    assert_eq!(config.tolerance_secs, 300);
    assert_eq!(config.identity.header_prefix, "X-Stripe-App-");
    let RouteAuth::App(app) = &config.routes[0].auth else {
        panic!("app route")
    };
    assert_eq!(app.mode, AppMode::RawBodyOrDefault);
    assert!(!app.replay_reject);
}

#[test]
fn idle_timeout_and_http2_keepalive_interval_are_separate_keys() {
    let config = parse(&base()).expect("valid");
    assert_eq!(config.server.idle_timeout, Duration::from_secs(60));
    assert_eq!(
        config.server.http2_keepalive_interval,
        Duration::from_secs(60)
    );
    let config = parse(&format!(
        "[server]\nidle_timeout = \"5s\"\nhttp2_keepalive_interval = \"20s\"\n{}",
        base()
    ))
    .expect("valid");
    assert_eq!(config.server.idle_timeout, Duration::from_secs(5));
    assert_eq!(
        config.server.http2_keepalive_interval,
        Duration::from_secs(20)
    );
    let err = error(&format!(
        "[server]\nhttp2_keepalive_interval = \"0s\"\n{}",
        base()
    ));
    assert_eq!(err.key, "server.http2_keepalive_interval");
}

#[test]
fn send_timeout_defaults_to_a_minute_and_must_be_positive() {
    let config = parse(&base()).expect("valid");
    assert_eq!(config.server.send_timeout, Duration::from_secs(60));
    let config = parse(&format!("[server]\nsend_timeout = \"500ms\"\n{}", base())).expect("valid");
    assert_eq!(config.server.send_timeout, Duration::from_millis(500));
    let err = error(&format!("[server]\nsend_timeout = \"0s\"\n{}", base()));
    assert_eq!(err.key, "server.send_timeout");
    assert!(err.reason.contains("greater than zero"), "{err}");
}

#[test]
fn the_shipped_configs_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in ["config/gateway.toml", "config/example.toml"] {
        let path = root.join(name);
        let text = std::fs::read_to_string(&path).expect("shipped config");
        // Secrets named by file are relative to the project root, as when run from there.
        let text = text.replace(
            "file = \"config/",
            &format!("file = \"{}/config/", root.display()),
        );
        let env = |name: &str| {
            name.starts_with("STRIPE_")
                .then(|| "absec_example_previous".to_string())
        };
        Config::from_toml(&path, &text, &env).unwrap_or_else(|err| panic!("{name}: {err}"));
    }
}

#[test]
fn unknown_keys_name_their_path() {
    let err = error(&base().replace("cors = true", "cors = true\ncolour = \"red\""));
    assert_eq!(err.key, "routes[0].colour");
    assert!(err.reason.contains("unknown field"), "{}", err.reason);
    assert_eq!(err.file, Path::new("test.toml"));
    let err = error(&format!("{}\n[server]\nlisten_on = \"x\"\n", base()));
    assert!(err.reason.contains("listen_on"), "{err}");
}

#[test]
fn bad_durations_are_rejected() {
    let err = error(&format!(
        "{}\n[signature]\ntolerance = \"five minutes\"\n",
        base()
    ));
    assert_eq!(err.key, "signature.tolerance");
    let err = error(&format!("{}\n[signature]\ntolerance = \"0s\"\n", base()));
    assert_eq!(err.key, "signature.tolerance");
    let err = error(&base().replace(
        "url = \"http://127.0.0.1:3000\"",
        "url = \"http://127.0.0.1:3000\"\ntimeout = \"0s\"",
    ));
    assert_eq!(err.key, "upstream.timeout");
}

#[test]
fn the_buffered_budget_must_hold_one_body() {
    let server = |keys: &str| format!("[server]\n{keys}\n{}", base());
    let config = parse(&server("max_body_bytes = 1024\nmax_buffered_bytes = 1024")).expect("valid");
    assert_eq!(config.server.max_buffered_bytes, 1024);
    let err = error(&server("max_body_bytes = 2048\nmax_buffered_bytes = 1024"));
    assert_eq!(err.key, "server.max_buffered_bytes");
    assert!(err.reason.contains("max_body_bytes"), "{}", err.reason);
    let config = parse(&server("max_body_bytes = 134217728")).expect("valid");
    assert_eq!(
        config.server.max_buffered_bytes, 134_217_728,
        "the default grows to hold one body"
    );
    let err = error(&server("max_buffered_bytes = 0"));
    assert_eq!(err.key, "server.max_buffered_bytes");
}

#[test]
fn missing_keyrings_and_wrong_kinds_are_rejected() {
    let err = error(&base().replace("keyring = \"app\"", "keyring = \"nope\""));
    assert_eq!(err.key, "routes[0].keyring");
    let err = error(&base().replace("keyring = \"app\"", "keyring = \"hooks\""));
    assert!(err.reason.contains("whsec_"), "{err}");
}

#[test]
fn route_rules() {
    let err = error(&format!(
        "{}\n[[routes]]\nid = \"ui\"\npath = \"/x\"\nauth = \"none\"\n",
        base()
    ));
    assert!(err.reason.contains("duplicate route id"), "{err}");
    let err = error(&format!(
        "{}\n[[routes]]\nid = \"again\"\npath_prefix = \"/api/\"\nauth = \"none\"\n",
        base()
    ));
    assert!(err.reason.contains("duplicate path_prefix"), "{err}");
    let err = error(&format!(
        "{}\n[[routes]]\nid = \"open\"\npath = \"/open\"\nauth = \"none\"\ncors = true\n",
        base()
    ));
    assert_eq!(err.key, "routes[1].cors");
    let err = error(&base().replace(
        "cors = true",
        "cors = true\napp_signature = \"default\"\nrequire_roles_any = [\"admin\"]",
    ));
    assert_eq!(err.key, "routes[0].app_signature");
    let ok = parse(&base().replace(
        "cors = true",
        "cors = true\napp_signature = \"raw_body_or_default\"\nrequire_roles_any = [\"admin\"]",
    ));
    assert!(
        ok.is_ok(),
        "roles with raw_body_or_default are allowed (mode B requests are denied)"
    );
    let err = error(&base().replace("cors = true", "cors = true\nevents = [\"invoice.paid\"]"));
    assert_eq!(err.key, "routes[0].events");
    let err = error(&base().replace("path_prefix = \"/api/\"", "path_prefix = \"/api/../x/\""));
    assert_eq!(err.key, "routes[0].path_prefix");
    let err = error(&base().replace("methods = [\"POST\"]", "methods = [\"post\"]"));
    assert_eq!(err.key, "routes[0].methods[0]");
}

#[test]
fn webhook_routes() {
    let text = format!(
        "{}\n[[routes]]\nid = \"hooks\"\npath = \"/webhook\"\nauth = \"webhook\"\nkeyring = \"hooks\"\nevents = [\"account.application.*\", \"invoice.paid\"]\nlivemode = \"test\"\ndedupe = true\n",
        base()
    );
    let config = parse(&text).expect("valid");
    let RouteAuth::Webhook(hook) = &config.routes[1].auth else {
        panic!("webhook route")
    };
    assert!(hook
        .events
        .iter()
        .any(|p| p.matches("account.application.authorized")));
    assert!(hook.events.iter().any(|p| p.matches("invoice.paid")));
    assert!(!hook
        .events
        .iter()
        .any(|p| p.matches("invoice.paid.extra") || p.matches("account.applications")));
    assert_eq!(hook.livemode, LivemodeFilter::Test);
    assert_eq!(hook.dedupe_window, Duration::from_secs(72 * 3600));
    let err = error(&text.replace("livemode = \"test\"", "livemode = \"prod\""));
    assert_eq!(err.key, "routes[1].livemode");
    let err = error(&text.replace("\"invoice.paid\"]", "\"Invoice Paid\"]"));
    assert_eq!(err.key, "routes[1].events[1]");
}

#[test]
fn upstream_urls() {
    assert!(matches!(
        parse(&base().replace("http://127.0.0.1:3000", "builtin:echo"))
            .expect("echo")
            .upstream
            .target,
        UpstreamTarget::Echo
    ));
    let err = error(&base().replace("http://127.0.0.1:3000", "ftp://x"));
    assert_eq!(err.key, "upstream.url");
    let err = error(&base().replace("http://127.0.0.1:3000", "http://127.0.0.1:3000/base"));
    assert!(err.reason.contains("path"), "{err}");
}

#[test]
fn identity_prefix_must_not_shadow_forwarding_headers() {
    let err = error(&format!("{}\n[identity]\nheader_prefix = \"X-\"\n", base()));
    assert_eq!(err.key, "identity.header_prefix");
    let err = error(&format!(
        "{}\n[identity]\nheader_prefix = \"X-Forwarded-\"\n",
        base()
    ));
    assert_eq!(err.key, "identity.header_prefix");
    assert!(parse(&format!(
        "{}\n[identity]\nheader_prefix = \"X-Acme-\"\n",
        base()
    ))
    .is_ok());
}

#[test]
fn values_in_parser_messages_are_blanked_and_syntax_errors_located() {
    let err = error(&base().replace(
        &format!("secrets = [{{ id = \"current\", value = \"{APP_SECRET}\" }}]"),
        &format!("secrets = [\"{APP_SECRET}\"]"),
    ));
    assert_eq!(err.key, "keyrings.app.secrets[0]");
    assert!(!err.to_string().contains(APP_SECRET), "{err}");
    assert!(err.reason.contains("invalid type"), "{err}");
    let broken = base().replace("cors = true", "cors = { true");
    let line = broken
        .lines()
        .position(|l| l.starts_with("cors = {"))
        .expect("line")
        + 1;
    let err = error(&broken);
    assert!(
        err.reason.contains(&format!("line {line}, column")),
        "{err}"
    );
}

#[test]
fn route_paths_hold_no_escapes_parameters_or_case_duplicates() {
    for bad in ["/api/a%20b/", "/api;v=1/", "/caf\u{e9}/", "/api/a b/"] {
        let err =
            error(&base().replace("path_prefix = \"/api/\"", &format!("path_prefix = {bad:?}")));
        assert_eq!(err.key, "routes[0].path_prefix", "{bad}");
    }
    let twin = "\n[[routes]]\nid = \"twin\"\npath_prefix = \"/API/\"\nauth = \"none\"\n";
    let err = error(&format!("{}{twin}", base()));
    assert_eq!(err.key, "routes[1]");
    assert!(err.reason.contains("ignoring ASCII case"), "{err}");
    // An exact path and a prefix of the same text are different routes.
    let exact = "\n[[routes]]\nid = \"exact\"\npath = \"/API/\"\nauth = \"none\"\n";
    assert!(parse(&format!("{}{exact}", base())).is_ok());
}

#[test]
fn an_admin_listener_others_can_reach_is_warned_about() {
    for listen in ["0.0.0.0:9090", "10.0.0.5:9090", "[::]:9090"] {
        let config =
            parse(&format!("{}\n[admin]\nlisten = \"{listen}\"\n", base())).expect("valid");
        let warning = config.warnings.join("\n");
        assert!(
            warning.contains(&format!("admin.listen = \"{listen}\"")),
            "{warning}"
        );
        assert!(warning.contains("/metrics and POST /reload"), "{warning}");
        assert!(warning.starts_with("test.toml: "), "{warning}");
    }
    for listen in ["127.0.0.1:9090", "[::1]:9090", "[::ffff:127.0.0.1]:9090"] {
        let config =
            parse(&format!("{}\n[admin]\nlisten = \"{listen}\"\n", base())).expect("valid");
        assert!(
            config.warnings.is_empty(),
            "{listen}: {:?}",
            config.warnings
        );
    }
}
