//! `trade-engine check` and config validation, as a user meets them: through the binary.

mod common;

use std::process::Command;

fn check(dir: &std::path::Path, env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trade-engine"));
    cmd.arg("check").arg("--config-dir").arg(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

const WEIGHTS: &str =
    r#"[{"symbol": "BTCUSDT", "leverage": 3, "sources": [{"source": "manual", "weight": 0.5}]}]"#;
const ENGINE: &str = r#"{"accounts": [{"name": "a", "venue": "sim"}],
  "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}]}"#;

#[test]
fn the_repository_example_is_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let (ok, text) = check(&dir, &[]);
    assert!(ok, "{text}");
    assert!(text.contains("config OK"));
    assert!(text.contains("sim-main on sim"));
}

#[test]
fn weights_over_one_are_refused_with_file_and_path() {
    let dir = common::config_dir(&[
        ("engine.json", ENGINE),
        (
            "signal_weights.json",
            r#"[{"symbol": "BTCUSDT", "leverage": 3, "sources": [{"source": "manual", "weight": 0.7}, {"source": "manual2", "weight": 0.5}]}]"#,
        ),
    ]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok);
    assert!(text.contains("signal_weights.json"), "{text}");
    assert!(text.contains("[0].sources"), "{text}");
    assert!(
        text.contains("weights for BTCUSDT sum to 1.2 > 1"),
        "{text}"
    );
}

#[test]
fn leverage_below_one_is_refused() {
    let dir = common::config_dir(&[
        ("engine.json", ENGINE),
        (
            "signal_weights.json",
            r#"[{"symbol": "ETHUSDT", "leverage": 0, "sources": []}]"#,
        ),
    ]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok);
    assert!(text.contains("leverage 0 for ETHUSDT is below 1"), "{text}");
    assert!(text.contains("[0].leverage"), "{text}");
}

#[test]
fn unknown_venue_is_named() {
    let dir = common::config_dir(&[
        (
            "engine.json",
            r#"{"accounts": [{"name": "x", "venue": "bybitt"}]}"#,
        ),
        ("signal_weights.json", WEIGHTS),
    ]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok);
    assert!(
        text.contains(r#"account "x" names unknown venue "bybitt""#),
        "{text}"
    );
    assert!(text.contains("accounts[0].venue"), "{text}");
    assert!(text.contains("one of bitmex, bybit"), "{text}");
}

#[test]
fn syntax_errors_have_line_and_column() {
    let dir = common::config_dir(&[
        (
            "engine.json",
            "{\n  \"accounts\": [\n    {\"name\": \"a\" \"venue\": \"sim\"}\n  ]\n}",
        ),
        ("signal_weights.json", WEIGHTS),
    ]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok);
    assert!(
        text.contains("engine.json: not valid JSON at line 3"),
        "{text}"
    );
}

#[test]
fn typos_in_fields_are_refused() {
    let dir = common::config_dir(&[
        (
            "engine.json",
            r#"{"accounts": [{"name": "a", "venue": "sim", "dry_rn": true}]}"#,
        ),
        ("signal_weights.json", WEIGHTS),
    ]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok);
    assert!(text.contains("dry_rn"), "{text}");
    assert!(text.contains("accounts[0]"), "{text}");
}

#[test]
fn missing_credentials_name_the_account() {
    let dir = common::config_dir(&[
        (
            "engine.json",
            r#"{"accounts": [{"name": "main", "venue": "bybit", "credentials": "bybit_main"}]}"#,
        ),
        ("signal_weights.json", WEIGHTS),
    ]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok);
    assert!(
        text.contains(r#"account "main" uses credentials "bybit_main""#),
        "{text}"
    );
    // The same credentials from the environment make the set valid, and are never printed.
    let (ok, text) = check(
        dir.path(),
        &[
            (
                "TRADE_ENGINE_CREDENTIALS__BYBIT_MAIN__API_KEY",
                "key-123456",
            ),
            (
                "TRADE_ENGINE_CREDENTIALS__BYBIT_MAIN__API_SECRET",
                "topsecret-98765",
            ),
        ],
    );
    assert!(ok, "{text}");
    assert!(!text.contains("topsecret-98765"));
}

#[test]
fn environment_overrides_engine_fields() {
    let dir = common::config_dir(&[("engine.json", ENGINE), ("signal_weights.json", WEIGHTS)]);
    let (ok, text) = check(dir.path(), &[("TRADE_ENGINE__RISK__MAX_LEVERAGE", "2")]);
    assert!(!ok, "leverage 3 is above an overridden max_leverage of 2");
    assert!(text.contains("above risk.max_leverage 2"), "{text}");
    let (ok, text) = check(
        dir.path(),
        &[("TRADE_ENGINE__SERVER__LISTEN", "not-an-address")],
    );
    assert!(!ok);
    assert!(text.contains("server.listen"), "{text}");
}

#[cfg(unix)]
#[test]
fn world_readable_credentials_warn() {
    use std::os::unix::fs::PermissionsExt;
    let dir = common::config_dir(&[
        ("engine.json", ENGINE),
        ("signal_weights.json", WEIGHTS),
        (
            "credentials.json",
            r#"{"x": {"api_key": "k", "api_secret": "s"}}"#,
        ),
    ]);
    let path = dir.path().join("credentials.json");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, text) = check(dir.path(), &[]);
    assert!(ok, "{text}");
    assert!(text.contains("readable by group or others"), "{text}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (_, text) = check(dir.path(), &[]);
    assert!(!text.contains("readable by group or others"), "{text}");
}

#[test]
fn venues_not_built_yet_are_flagged() {
    let dir = common::config_dir(&[
        (
            "engine.json",
            r#"{"accounts": [{"name": "k", "venue": "kucoin", "credentials": "ku"}]}"#,
        ),
        ("signal_weights.json", WEIGHTS),
        (
            "credentials.json",
            r#"{"ku": {"api_key": "k", "api_secret": "s", "api_passphrase": "p"}}"#,
        ),
    ]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.path().join("credentials.json"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let (ok, text) = check(dir.path(), &[]);
    assert!(ok, "{text}");
    assert!(
        text.contains(r#"venue "kucoin" is not implemented in this build yet"#),
        "{text}"
    );
}
