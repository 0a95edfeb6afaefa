//! No secret in error output: every way a config set can be broken around a secret is run
//! through `trade-engine check` (the binary), and its stdout and stderr are searched for the
//! secrets.

mod common;

use std::process::Command;

/// Test secrets; none may appear, whole or in part, in any output.
const SECRET: &str = "tEsT5ecr3t-94817265-qzvx";
const SECRET_PART: &str = "94817265";
const NUMBER_SECRET: &str = "98765432109876543210";

const WEIGHTS: &str =
    r#"[{"symbol": "BTCUSDT", "leverage": 3, "sources": [{"source": "tv", "weight": 0.5}]}]"#;
const BYBIT: &str =
    r#"{"accounts": [{"name": "main", "venue": "bybit", "credentials": "bybit_main"}]}"#;

fn tv(params: &str) -> String {
    format!(
        r#"{{"accounts": [{{"name": "a", "venue": "sim"}}], "sources": [{{"name": "tv", "kind": "tradingview", {params}}}]}}"#
    )
}

fn sn8(params: &str) -> String {
    format!(
        r#"{{"accounts": [{{"name": "a", "venue": "sim"}}], "sources": [{{"name": "tv", "kind": "bittensor_sn8", "url": "http://127.0.0.1:9/x", {params}}}]}}"#
    )
}

struct Case {
    what: &'static str,
    engine: String,
    credentials: Option<String>,
    env: Vec<(&'static str, String)>,
}

fn case(what: &'static str, engine: &str, credentials: Option<String>) -> Case {
    Case {
        what,
        engine: engine.to_string(),
        credentials,
        env: Vec::new(),
    }
}

fn cases() -> Vec<Case> {
    let s = SECRET;
    let n = NUMBER_SECRET;
    let creds = |text: String| Some(text);
    vec![
        case("an entry that is a string", BYBIT, creds(format!(r#"{{"bybit_main": "{s}"}}"#))),
        case("an entry that is a list", BYBIT, creds(format!(r#"{{"bybit_main": ["{s}"]}}"#))),
        case("a key that is a list", BYBIT, creds(format!(r#"{{"bybit_main": {{"api_key": ["{s}"]}}}}"#))),
        case("a key that is an object", BYBIT, creds(format!(r#"{{"bybit_main": {{"api_key": {{"k": "{s}"}}}}}}"#))),
        case("a secret that is a number", BYBIT, creds(format!(r#"{{"bybit_main": {{"api_key": "k", "api_secret": {n}}}}}"#))),
        case("a secret under a misspelt field", BYBIT, creds(format!(r#"{{"bybit_main": {{"api_key": "k", "apisecret": "{s}"}}}}"#))),
        case("a secret as a field name", BYBIT, creds(format!(r#"{{"bybit_main": {{"{s}": "x"}}}}"#))),
        case("a secret as an entry name", BYBIT, creds(format!(r#"{{"{s}": "x"}}"#))),
        case("a list of secrets", BYBIT, creds(format!(r#"["{s}"]"#))),
        case("a bare string", BYBIT, creds(format!(r#""{s}""#))),
        case("a syntax error after a secret", BYBIT, creds(format!(r#"{{"bybit_main": {{"api_key": "{s}" "api_secret": "x"}}}}"#))),
        case("a syntax error inside a secret", BYBIT, creds(format!("{{\"bybit_main\": {{\"api_key\": \"{s}\u{1}\"}}}}"))),
        case("an unterminated secret", BYBIT, creds(format!(r#"{{"bybit_main": {{"api_key": "{s}"#))),
        case("the account names a secret as its credentials", &BYBIT.replace("bybit_main", s), creds(r#"{"bybit_main": {"api_key": "k"}}"#.into())),
        case("a key inline in an account", &format!(r#"{{"accounts": [{{"name": "a", "venue": "sim", "api_key": "{s}"}}]}}"#), None),
        case("a token at the top level", &format!(r#"{{"accounts": [], "token": "{s}"}}"#), None),
        case("a webhook token that is a list", &tv(&format!(r#""token": ["{s}"]"#)), None),
        case("a webhook token that is a number", &tv(&format!(r#""token": {n}"#)), None),
        case("a webhook token in credentials", &tv(&format!(r#""credentials": "{s}""#)), None),
        case("a webhook token and credentials", &tv(&format!(r#""token": "{s}", "credentials": "x""#)), None),
        case("a webhook token under a misspelt field", &tv(&format!(r#""tokn": "{s}""#)), None),
        case("a webhook token in allow_ips", &tv(&format!(r#""token": "{s}", "allow_ips": [{n}]"#)), None),
        case("an SN8 key as credentials", &sn8(&format!(r#""credentials": "{s}""#)), creds(r#"{"sn8": {"api_key": "k"}}"#.into())),
        case("an SN8 key as auth", &sn8(&format!(r#""credentials": "sn8", "auth": "{s}""#)), creds(r#"{"sn8": {"api_key": "k"}}"#.into())),
        case("an SN8 key under a misspelt field", &sn8(&format!(r#""credentials": "sn8", "api_key": "{s}""#)), creds(r#"{"sn8": {"api_key": "k"}}"#.into())),
        Case {
            what: "credentials from the environment with a broken entry",
            engine: BYBIT.into(),
            credentials: creds(r#"{"bybit_main": {"api_key": 1}}"#.into()),
            env: vec![("TRADE_ENGINE_CREDENTIALS__BYBIT_MAIN__API_SECRET", s.into())],
        },
        Case {
            what: "credentials from the environment with a broken engine",
            engine: r#"{"accounts": [{"name": "main", "venue": "bybit", "credentials": "bybit_main", "dry_rn": true}]}"#.into(),
            credentials: None,
            env: vec![
                ("TRADE_ENGINE_CREDENTIALS__BYBIT_MAIN__API_KEY", s.into()),
                ("TRADE_ENGINE_CREDENTIALS__BYBIT_MAIN__API_SECRET", n.into()),
            ],
        },
    ]
}

#[test]
fn no_config_error_prints_a_secret() {
    let mut failures = Vec::new();
    for c in cases() {
        let dir =
            common::config_dir(&[("engine.json", &c.engine), ("signal_weights.json", WEIGHTS)]);
        if let Some(text) = &c.credentials {
            common::write(dir.path(), "credentials.json", text);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let path = dir.path().join("credentials.json");
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
        }
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trade-engine"));
        cmd.arg("check").arg("--config-dir").arg(dir.path());
        for (k, v) in &c.env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run check");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            failures.push(format!("{}: accepted:\n{text}", c.what));
        } else if text.contains(SECRET_PART) || text.contains("9876543210") || text.contains("qzvx")
        {
            failures.push(format!("{}: secret in the output:\n{text}", c.what));
        } else if !text.contains(".json") && !text.contains("environment") {
            failures.push(format!("{}: the error names no file:\n{text}", c.what));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
