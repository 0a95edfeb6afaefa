//! The shipped JSON Schemas stay in step with the types, and every file accepts the
//! `"$schema"` key that points an editor at them.

mod common;

use std::path::Path;
use std::process::Command;
use trade_engine::config::schema;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shipped_schemas_match_the_types() {
    let mut stale = Vec::new();
    for (name, text) in schema::all() {
        let path = repo().join(schema::SCHEMA_DIR).join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "the shipped JSON Schemas differ from the config types: {}; regenerate them with `{}` and commit the result",
        stale.join(", "),
        schema::REGENERATE
    );
}

#[test]
fn every_example_file_names_a_shipped_schema() {
    for (file, expected) in [
        ("config/engine.json", "engine.schema.json"),
        ("config/asset_mapping.json", "asset_mapping.schema.json"),
        ("config/credentials.example.json", "credentials.schema.json"),
        ("config/signals/manual.json", "signal_file.schema.json"),
    ] {
        let path = repo().join(file);
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let reference = value["$schema"]
            .as_str()
            .unwrap_or_else(|| panic!("{file} has no \"$schema\""));
        assert!(reference.ends_with(expected), "{file}: {reference}");
        let target = path.parent().unwrap().join(reference);
        assert!(
            target.is_file(),
            "{file}: {} does not exist",
            target.display()
        );
    }
}

/// Every object-shaped file, including those with strict unknown-field checks, with `$schema`.
#[test]
fn a_schema_key_is_accepted_in_every_file() {
    let dir = common::config_dir(&[
        (
            "engine.json",
            r#"{"$schema": "schema/engine.schema.json",
                "accounts": [{"name": "a", "venue": "bybit", "credentials": "bybit_main"}],
                "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}]}"#,
        ),
        (
            "signal_weights.json",
            r#"[{"symbol": "BTCUSDT", "leverage": 3, "sources": [{"source": "manual", "weight": 0.5}]}]"#,
        ),
        (
            "asset_mapping.json",
            r#"{"$schema": "schema/asset_mapping.schema.json", "manual": {"BTCUSDT": "BTCUSDT"}}"#,
        ),
        (
            "credentials.json",
            r#"{"$schema": "schema/credentials.schema.json", "bybit_main": {"api_key": "k", "api_secret": "s"}}"#,
        ),
        (
            "signals/manual.json",
            r#"{"$schema": "../schema/signal_file.schema.json", "BTCUSDT": {"depth": 0.25}}"#,
        ),
    ]);
    let out = Command::new(env!("CARGO_BIN_EXE_trade-engine"))
        .arg("check")
        .arg("--config-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("manual ("), "{text}");
    assert!(
        text.contains(": 1 symbol\n"),
        "the key is no symbol: {text}"
    );
    assert!(
        !text.contains("$schema"),
        "the key is no source or entry: {text}"
    );
}

#[test]
fn the_schema_command_reports_and_rewrites_stale_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let run = |write: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trade-engine"));
        cmd.args(["config", "schema", "--config-dir"])
            .arg(dir.path());
        if write {
            cmd.arg("--write");
        }
        cmd.output().unwrap()
    };
    let out = run(false);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("config schema --write"));
    assert!(run(true).status.success());
    assert!(run(false).status.success());
    for (name, text) in schema::all() {
        assert_eq!(
            std::fs::read_to_string(dir.path().join("schema").join(name)).unwrap(),
            text
        );
    }
}
