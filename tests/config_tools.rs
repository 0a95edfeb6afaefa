//! `trade-engine config …` as a user runs it: the built binary on temporary config dirs.

mod common;

use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const ENGINE: &str = r#"{
  "accounts": [{"name": "main", "venue": "bybit", "credentials": "bybit-main"}],
  "sources": [
    {"name": "tradingview", "kind": "file", "path": "signals/tv.json"},
    {"name": "bittensor", "kind": "file", "path": "signals/sn8.json"}
  ],
  "risk": {"max_leverage": 5}
}"#;

const WEIGHTS: &str = r#"[
  {"symbol": "ETHUSDT", "leverage": 2, "sources": [{"source": "tradingview", "weight": 0.5}]}
]"#;

const CREDENTIALS: &str = r#"{"bybit-main": {"api_key": "old-key", "api_secret": "old-secret"}}"#;

fn config() -> tempfile::TempDir {
    let dir = common::config_dir(&[
        ("engine.json", ENGINE),
        ("signal_weights.json", WEIGHTS),
        ("credentials.json", CREDENTIALS),
    ]);
    set_mode(&dir.path().join("credentials.json"), 0o600);
    dir
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Runs `trade-engine --config-dir DIR config ARGS` with `stdin` piped in (not a terminal).
fn run(dir: &Path, args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trade-engine"))
        .arg("--config-dir")
        .arg(dir)
        .arg("config")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run trade-engine");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out: Output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn read(dir: &Path, name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
}

fn no_temp_files_left(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn weights_set_adds_a_symbol_keeps_the_others_and_says_how_it_takes_effect() {
    let dir = config();
    let (ok, text) = run(
        dir.path(),
        &[
            "weights",
            "set",
            "BTCUSDT",
            "--leverage",
            "3",
            "--source",
            "tradingview=0.1",
            "--source",
            "bittensor=0.15",
        ],
        "",
    );
    assert!(ok, "{text}");
    assert!(text.contains("hot reload"), "{text}");
    assert_eq!(
        read(dir.path(), "signal_weights.json"),
        json!([
            {"symbol": "ETHUSDT", "leverage": 2, "sources": [{"source": "tradingview", "weight": 0.5}]},
            {"symbol": "BTCUSDT", "leverage": 3, "sources": [
                {"source": "tradingview", "weight": 0.1}, {"source": "bittensor", "weight": 0.15}]}
        ])
    );
    // Changing one source keeps the other; a weight of 0 removes a source.
    let (ok, text) = run(
        dir.path(),
        &[
            "weights",
            "set",
            "btcusdt",
            "--source",
            "tradingview=0",
            "--source",
            "bittensor=0.2",
        ],
        "",
    );
    assert!(ok, "{text}");
    assert_eq!(
        read(dir.path(), "signal_weights.json")[1],
        json!({"symbol": "BTCUSDT", "leverage": 3, "sources": [{"source": "bittensor", "weight": 0.2}]})
    );
    let (ok, text) = run(dir.path(), &["weights", "remove", "ETHUSDT"], "");
    assert!(ok, "{text}");
    let weights = read(dir.path(), "signal_weights.json");
    assert_eq!(weights.as_array().unwrap().len(), 1, "{weights}");
    no_temp_files_left(dir.path());
}

#[test]
fn an_invalid_result_is_refused_and_nothing_is_written() {
    let dir = config();
    let before = std::fs::read(dir.path().join("signal_weights.json")).unwrap();
    for (args, expected) in [
        (
            vec!["weights", "set", "ETHUSDT", "--source", "bittensor=0.6"],
            "sum to 1.1 > 1",
        ),
        (
            vec!["weights", "set", "BTCUSDT", "--leverage", "10"],
            "above risk.max_leverage",
        ),
        (
            vec!["weights", "set", "BTCUSDT", "--source", "tradingview=0.1"],
            "needs --leverage",
        ),
    ] {
        let (ok, text) = run(dir.path(), &args, "");
        assert!(!ok, "{args:?} was accepted: {text}");
        assert!(text.contains(expected), "{args:?}: {text}");
        assert!(
            text.contains("nothing was written") || expected == "needs --leverage",
            "{text}"
        );
        assert_eq!(
            std::fs::read(dir.path().join("signal_weights.json")).unwrap(),
            before,
            "{args:?} changed the file"
        );
    }
    no_temp_files_left(dir.path());
}

#[test]
fn mapping_set_and_remove_keep_order_schema_key_and_an_emptied_section() {
    let dir = config();
    common::write(
        dir.path(),
        "asset_mapping.json",
        r#"{"$schema": "schema/asset_mapping.schema.json", "tradingview": {"ETHUSDT": "ETHUSDT"}, "bittensor": {"BTCUSD": "BTCUSDT"}}"#,
    );
    let (ok, text) = run(
        dir.path(),
        &["mapping", "set", "tradingview", "BTCUSDT", "BTCUSDT"],
        "",
    );
    assert!(ok, "{text}");
    assert!(text.contains("hot reload"), "{text}");
    let text_after = std::fs::read_to_string(dir.path().join("asset_mapping.json")).unwrap();
    let keys: Vec<String> = read(dir.path(), "asset_mapping.json")
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        keys,
        ["$schema", "tradingview", "bittensor"],
        "{text_after}"
    );
    assert_eq!(
        read(dir.path(), "asset_mapping.json")["tradingview"],
        json!({"ETHUSDT": "ETHUSDT", "BTCUSDT": "BTCUSDT"})
    );
    // Removing the last symbol keeps the section: an empty section maps nothing, a missing
    // one would pass every symbol through.
    let (ok, text) = run(
        dir.path(),
        &["mapping", "remove", "bittensor", "btcusd"],
        "",
    );
    assert!(ok, "{text}");
    assert!(text.contains("maps nothing"), "{text}");
    assert_eq!(
        read(dir.path(), "asset_mapping.json")["bittensor"],
        json!({})
    );
    let (ok, text) = run(
        dir.path(),
        &["mapping", "remove", "bittensor", "BTCUSD"],
        "",
    );
    assert!(!ok && text.contains("does not map"), "{text}");
}

#[test]
fn credentials_set_reads_secrets_from_stdin_writes_0600_and_never_prints_them() {
    let dir = config();
    let path = dir.path().join("credentials.json");
    set_mode(&path, 0o644);
    const KEY: &str = "K3y-7a1b2c3d4e5f";
    const SECRET: &str = "S3cr3t-9f8e7d6c5b4a";
    let (ok, text) = run(
        dir.path(),
        &["credentials", "set", "bybit-main"],
        &format!("{KEY}\n{SECRET}\n"),
    );
    assert!(ok, "{text}");
    assert!(!text.contains(KEY) && !text.contains(SECRET), "{text}");
    assert!(text.contains("hot reload"), "{text}");
    assert_eq!(mode(&path), 0o600);
    let file = read(dir.path(), "credentials.json");
    assert_eq!(
        file["bybit-main"],
        json!({"api_key": KEY, "api_secret": SECRET})
    );

    // A new entry with a passphrase; the file stays private.
    let (ok, text) = run(
        dir.path(),
        &["credentials", "set", "blofin-main", "--passphrase"],
        &format!("{KEY}\n{SECRET}\npass-phrase-123\n"),
    );
    assert!(ok, "{text}");
    assert!(!text.contains("pass-phrase-123"), "{text}");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(
        read(dir.path(), "credentials.json")["blofin-main"]["api_passphrase"],
        "pass-phrase-123"
    );
    no_temp_files_left(dir.path());
}

#[test]
fn credentials_set_refuses_missing_or_empty_secrets_and_writes_nothing() {
    let dir = config();
    let path = dir.path().join("credentials.json");
    let before = std::fs::read(&path).unwrap();
    for stdin in ["only-a-key\n", "\nsecret\n", ""] {
        let (ok, text) = run(dir.path(), &["credentials", "set", "bybit-main"], stdin);
        assert!(!ok, "{stdin:?} was accepted: {text}");
        assert!(text.contains("nothing was written"), "{text}");
        assert!(!text.contains("only-a-key"), "{text}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}

/// The Python tool's files, in the formats of its section 7 and 8.
fn python_tool() -> tempfile::TempDir {
    common::config_dir(&[
        (
            "signal_weight_config.json",
            r#"[ { "symbol": "BTCUSDT", "leverage": 3,
    "sources": [ { "source": "tradingview", "weight": 0.1 }, { "source": "bittensor", "weight": 0.15 } ] },
  { "symbol": "SOLUSDT", "leverage": 2,
    "sources": [ { "source": "tradingview", "weight": 0.2 }, { "source": "bittensor", "weight": 0 } ] } ]"#,
        ),
        (
            "asset_mapping_config.json",
            r#"{ "tradingview": { "BTCUSDT": "BTCUSDT", "ETHUSDT": "ETHUSDT" },
  "bittensor":   { "BTCUSD": "BTCUSDT", "ETHUSD": "ETHUSDT" } }"#,
        ),
        (
            "credentials.json",
            r#"{
  "bittensor_sn8": { "api_key": "sn8-key-0123456789", "endpoint": "https://validator.example/miner-positions" },
  "bybit-main":  { "api_key": "bybit-key-0123456789", "api_secret": "bybit-secret-0123456789", "leverage_override": 0, "min_order_notional_usd": 5.0 },
  "blofin": { "api_key": "blofin-key-0123456789", "api_secret": "blofin-secret-0123456789", "api_passphrase": "blofin-pass-0123456789", "leverage_override": 0,
              "copy_trading": false, "min_order_notional_usd": 0.0 },
  "ccxt": { "ccxt_list": [
      { "exchange_name": "hyperliquid", "account_name": "sirouk",
        "api_key": "0xMAINWALLET0123456789", "api_secret": "0xAGENT0123456789", "api_passphrase": "0xAGENTWALLET0123456789",
        "leverage_override": 0, "min_order_notional_usd": 10.0, "enabled": true, "copy_trading": false } ] }
}"#,
        ),
        ("account_asset_depths.json", "{}"),
    ])
}

#[test]
fn migrate_imports_the_python_tool_and_reports_what_it_could_not_carry() {
    let python = python_tool();
    let dir = common::config_dir(&[("engine.json", ENGINE), ("signal_weights.json", "[]")]);
    let (ok, text) = run(
        dir.path(),
        &["migrate", python.path().to_str().unwrap()],
        "",
    );
    assert!(ok, "{text}");
    assert_eq!(
        read(dir.path(), "signal_weights.json"),
        json!([
            {"symbol": "BTCUSDT", "leverage": 3, "sources": [
                {"source": "tradingview", "weight": 0.1}, {"source": "bittensor", "weight": 0.15}]},
            {"symbol": "SOLUSDT", "leverage": 2, "sources": [{"source": "tradingview", "weight": 0.2}]}
        ])
    );
    // The Python tool passed unlisted TradingView symbols through; SOLUSDT keeps working.
    assert_eq!(
        read(dir.path(), "asset_mapping.json"),
        json!({"tradingview": {"BTCUSDT": "BTCUSDT", "ETHUSDT": "ETHUSDT", "SOLUSDT": "SOLUSDT"},
               "bittensor": {"BTCUSD": "BTCUSDT", "ETHUSD": "ETHUSDT"}})
    );
    let creds = read(dir.path(), "credentials.json");
    assert_eq!(
        creds["bybit-main"],
        json!({"api_key": "bybit-key-0123456789", "api_secret": "bybit-secret-0123456789"})
    );
    assert_eq!(creds["blofin"]["api_passphrase"], "blofin-pass-0123456789");
    assert_eq!(
        creds["bittensor_sn8"]["endpoint"],
        "https://validator.example/miner-positions"
    );
    assert!(creds.get("ccxt").is_none(), "{creds}");
    assert_eq!(mode(&dir.path().join("credentials.json")), 0o600);
    for expected in [
        "SOLUSDT: source bittensor has weight 0; dropped",
        "SOLUSDT were added to the tradingview section",
        "entry \"bybit-main\": min_order_notional_usd = 5.0 not imported",
        "entry \"blofin\": copy_trading = false not imported",
        "ccxt accounts are not supported and were not imported: \"sirouk\" (\"hyperliquid\")",
        "account_asset_depths.json: not imported",
        "accounts are not created",
        "hot reload",
    ] {
        assert!(text.contains(expected), "{expected:?} missing in:\n{text}");
    }
    assert!(
        !text.contains("0123456789"),
        "a secret was printed:\n{text}"
    );
}

#[test]
fn migrate_does_not_replace_existing_weights_without_force() {
    let python = python_tool();
    let dir = config();
    let before = std::fs::read(dir.path().join("signal_weights.json")).unwrap();
    let (ok, text) = run(
        dir.path(),
        &["migrate", python.path().to_str().unwrap()],
        "",
    );
    assert!(!ok, "{text}");
    assert!(text.contains("--force"), "{text}");
    assert_eq!(
        std::fs::read(dir.path().join("signal_weights.json")).unwrap(),
        before
    );
    assert!(!dir.path().join("asset_mapping.json").exists());
    let (ok, text) = run(
        dir.path(),
        &[
            "migrate",
            "--dry-run",
            "--force",
            python.path().to_str().unwrap(),
        ],
        "",
    );
    assert!(ok && text.contains("dry run"), "{text}");
    assert_eq!(
        std::fs::read(dir.path().join("signal_weights.json")).unwrap(),
        before
    );
    let (ok, text) = run(
        dir.path(),
        &["migrate", "--force", python.path().to_str().unwrap()],
        "",
    );
    assert!(ok, "{text}");
    assert_eq!(
        read(dir.path(), "signal_weights.json")[0]["symbol"],
        "BTCUSDT"
    );
}

/// A file edited as root keeps its owner, so the daemon's user can still read it (0600).
/// Only meaningful as root; elsewhere a process cannot give a file away.
#[test]
fn an_edit_keeps_the_files_owner() {
    use std::os::unix::fs::MetadataExt;
    let dir = config();
    let path = dir.path().join("credentials.json");
    if std::fs::metadata(&path).unwrap().uid() != 0 {
        return;
    }
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    let (ok, text) = run(
        dir.path(),
        &["credentials", "set", "bybit-main"],
        "k-1\ns-1\n",
    );
    assert!(ok, "{text}");
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    assert_eq!(mode(&path), 0o600);
}

/// Two tools at once would each write their own result and lose the other's change.
#[test]
fn a_tool_refuses_while_another_holds_the_config_directory() {
    let dir = config();
    let held = std::fs::File::open(dir.path()).unwrap();
    held.try_lock().unwrap();
    let before = std::fs::read(dir.path().join("signal_weights.json")).unwrap();
    let (ok, text) = run(dir.path(), &["weights", "remove", "ETHUSDT"], "");
    assert!(!ok, "{text}");
    assert!(
        text.contains("another `trade-engine config` command"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("signal_weights.json")).unwrap(),
        before
    );
    drop(held);
    let (ok, text) = run(dir.path(), &["weights", "remove", "ETHUSDT"], "");
    assert!(ok, "{text}");
}
