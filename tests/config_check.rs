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
    assert!(
        !text.contains("warning"),
        "the example a new user starts from has nothing to warn about: {text}"
    );
}

#[test]
fn check_names_the_credential_fields_each_venue_needs() {
    let dir = common::config_dir(&[
        (
            "engine.json",
            r#"{"accounts": [
                {"name": "a", "venue": "sim"},
                {"name": "b", "venue": "bybit", "credentials": "bybit_main"},
                {"name": "f", "venue": "blofin", "credentials": "blofin_main", "enabled": false}],
              "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}]}"#,
        ),
        ("signal_weights.json", WEIGHTS),
        (
            "credentials.json",
            r#"{"bybit_main": {"api_key": "k", "api_secret": "s"}}"#,
        ),
    ]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(ok, "{text}");
    assert!(text.contains("sim: built-in simulated venue"), "{text}");
    assert!(text.contains("credentials: none"), "{text}");
    assert!(text.contains("bybit: Bybit v5"), "{text}");
    assert!(
        text.contains("credentials: api_key, api_secret\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "blofin: BloFin USDT perpetuals; credentials: api_key, api_secret, api_passphrase\n"
        ),
        "{text}"
    );
}

#[test]
fn a_missing_passphrase_is_found_by_check() {
    let dir = common::config_dir(&[
        (
            "engine.json",
            r#"{"accounts": [{"name": "f", "venue": "kucoin", "credentials": "ku"}],
              "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}]}"#,
        ),
        ("signal_weights.json", WEIGHTS),
        (
            "credentials.json",
            r#"{"ku": {"api_key": "k", "api_secret": "s"}}"#,
        ),
    ]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok, "{text}");
    assert!(text.contains("ku.api_passphrase"), "{text}");
    assert!(
        text.contains("account \"f\" (kucoin) needs api_passphrase"),
        "{text}"
    );
    assert!(
        text.contains("TRADE_ENGINE_CREDENTIALS__KU__API_PASSPHRASE"),
        "{text}"
    );
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
        text.contains(
            r#"account "main" names a credentials entry that credentials.json does not have"#
        ),
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

const SIGNAL_ENGINE: &str = r#"{"accounts": [{"name": "a", "venue": "sim"}],
  "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}],
  "risk": {"max_leverage": 5}}"#;

#[test]
fn unknown_fields_in_weights_are_refused() {
    // "source" for "sources": today the symbol would have no source and be closed.
    let dir = common::config_dir(&[
        ("engine.json", ENGINE),
        (
            "signal_weights.json",
            r#"[{"symbol": "BTCUSDT", "leverage": 3, "source": [{"source": "manual", "weight": 0.5}]}]"#,
        ),
    ]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok, "{text}");
    assert!(text.contains("signal_weights.json"), "{text}");
    assert!(text.contains("unknown field `source`"), "{text}");
    let dir = common::config_dir(&[
        ("engine.json", ENGINE),
        (
            "signal_weights.json",
            r#"[{"symbol": "BTCUSDT", "leverage": 3, "sources": [{"source": "manual", "wieght": 0.5}]}]"#,
        ),
    ]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok, "{text}");
    assert!(text.contains("[0].sources[0]"), "{text}");
    assert!(text.contains("unknown field `wieght`"), "{text}");
}

#[test]
fn wrong_shapes_in_asset_mapping_are_refused() {
    for mapping in [
        r#"{"manual": ["BTCUSDT"]}"#,
        r#"{"manual": {"BTCUSDT": {"to": "BTCUSDT"}}}"#,
        r#"{"manual": "BTCUSDT"}"#,
        r#"{"manual": {"BTCUSDT": "BTCUSDT", "btcusdt": "ETHUSDT"}}"#,
    ] {
        let dir = common::config_dir(&[
            ("engine.json", ENGINE),
            ("signal_weights.json", WEIGHTS),
            ("asset_mapping.json", mapping),
        ]);
        let (ok, text) = check(dir.path(), &[]);
        assert!(!ok, "{mapping}: {text}");
        assert!(text.contains("asset_mapping.json"), "{text}");
    }
    // A section for a source engine.json does not define is probably a typo: a warning.
    let dir = common::config_dir(&[
        ("engine.json", ENGINE),
        ("signal_weights.json", WEIGHTS),
        (
            "asset_mapping.json",
            r#"{"manaul": {"BTCUSDT": "BTCUSDT"}}"#,
        ),
    ]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(ok, "{text}");
    assert!(
        text.contains(r#"section "manaul" names no source of engine.json"#),
        "{text}"
    );
}

#[test]
fn unknown_credentials_fields_are_refused_and_python_fields_accepted() {
    let engine = r#"{"accounts": [{"name": "main", "venue": "bybit", "credentials": "bybit"}]}"#;
    let write_creds = |dir: &std::path::Path, text: &str| {
        common::write(dir, "credentials.json", text);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                dir.join("credentials.json"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
        }
    };
    let dir = common::config_dir(&[("engine.json", engine), ("signal_weights.json", WEIGHTS)]);
    write_creds(
        dir.path(),
        r#"{"bybit": {"api_key": "k", "api_secert": "s"}}"#,
    );
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("credentials.json: at bybit.api_secert"),
        "{text}"
    );
    assert!(
        text.contains(
            r#"entry "bybit" has an unknown field "api_secert"; did you mean "api_secret"?"#
        ),
        "{text}"
    );
    // The Python tool's file, as it is.
    write_creds(
        dir.path(),
        r#"{
  "bittensor_sn8": { "api_key": "k", "endpoint": "https://v/miner-positions" },
  "bybit":  { "api_key": "k", "api_secret": "s", "leverage_override": 0, "min_order_notional_usd": 5.0 },
  "blofin": { "api_key": "k", "api_secret": "s", "api_passphrase": "p", "leverage_override": 0,
              "copy_trading": false, "min_order_notional_usd": 0.0 },
  "ccxt": { "ccxt_list": [ { "exchange_name": "hyperliquid", "account_name": "x", "api_key": "0x",
      "api_secret": "0x", "api_passphrase": "0x", "leverage_override": 0,
      "min_order_notional_usd": 10.0, "enabled": true, "copy_trading": false } ] }
}"#,
    );
    let (ok, text) = check(dir.path(), &[]);
    assert!(ok, "{text}");
    assert!(
        text.contains(
            "fields ccxt_list, copy_trading, leverage_override, min_order_notional_usd are ignored"
        ),
        "{text}"
    );
}

#[test]
fn check_parses_the_signal_files() {
    let weights = r#"[{"symbol": "BTCUSDT", "leverage": 3, "sources": [{"source": "manual", "weight": 0.5}]}]"#;
    let dir = common::config_dir(&[
        ("engine.json", SIGNAL_ENGINE),
        ("signal_weights.json", weights),
        (
            "signals/manual.json",
            r#"{"BTCUSDT": {"depth": 0.5}, "ETHUSDT": {"depth": -0.1, "leverage": 5}}"#,
        ),
    ]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(ok, "{text}");
    assert!(text.contains("manual.json): 2 symbols"), "{text}");
    for (bad, why) in [
        (
            r#"{"BTCUSDT": {"depth": 0.5}, "btcusdt": {"depth": 0.1}}"#,
            "listed twice",
        ),
        (r#"{"BTCUSDT": {"depht": 0.5}}"#, "unknown field `depht`"),
        (
            r#"{"BTCUSDT": {"depth": 0.5, "leverage": 6}}"#,
            "leverage 6 is above risk.max_leverage 5",
        ),
        (r#"{"BTCUSDT": {"depth": 1.5}}"#, "outside [-1, 1]"),
    ] {
        common::write(dir.path(), "signals/manual.json", bad);
        let (ok, text) = check(dir.path(), &[]);
        assert!(!ok, "{bad}: {text}");
        assert!(text.contains("manual.json"), "{text}");
        assert!(text.contains(why), "{bad}: {text}");
    }
    std::fs::remove_file(dir.path().join("signals/manual.json")).unwrap();
    let (ok, text) = check(dir.path(), &[]);
    assert!(ok, "{text}");
    assert!(text.contains("the file does not exist"), "{text}");
}

#[test]
fn oversized_inputs_are_refused_with_size_and_limit() {
    let dir = common::config_dir(&[
        ("engine.json", SIGNAL_ENGINE),
        ("signal_weights.json", WEIGHTS),
    ]);
    // Sparse files: 50 MB on paper, nothing on disk; refused before a byte is read.
    let big = |name: &str| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::File::create(&path)
            .unwrap()
            .set_len(50 * 1024 * 1024)
            .unwrap();
    };
    big("signals/manual.json");
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("manual.json: 52428800 bytes is over the limit of 1048576 bytes"),
        "{text}"
    );
    big("signal_weights.json");
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("signal_weights.json: 52428800 bytes is over the limit of 1048576 bytes"),
        "{text}"
    );
}

#[test]
fn bad_values_are_quoted_as_short_excerpts() {
    let long = "x".repeat(5000);
    let dir = common::config_dir(&[
        (
            "engine.json",
            &format!(r#"{{"accounts": [{{"name": "a", "venue": "{long}"}}]}}"#),
        ),
        ("signal_weights.json", WEIGHTS),
    ]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok);
    assert!(text.contains(&format!("{}…", "x".repeat(40))), "{text}");
    assert!(!text.contains(&"x".repeat(41)), "{text}");
    let dir = common::config_dir(&[
        ("engine.json", ENGINE),
        (
            "signal_weights.json",
            &format!(r#"[{{"symbol": "BTCUSDT", "leverage": "{long}"}}]"#),
        ),
    ]);
    let (ok, text) = check(dir.path(), &[]);
    assert!(!ok);
    assert!(!text.contains(&"x".repeat(41)), "{text}");
    assert!(text.len() < 1000, "{text}");
}
