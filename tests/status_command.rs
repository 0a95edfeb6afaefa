//! `trade-engine status`: the running daemon's `/status` as a table or JSON, and a clear error
//! when no daemon answers.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn status_cmd(config_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_trade-engine"))
        .arg("status")
        .arg("--config-dir")
        .arg(config_dir)
        .args(args)
        .env_remove("TRADE_ENGINE__SERVER__LISTEN")
        .output()
        .expect("run trade-engine status")
}

#[test]
fn status_prints_accounts_and_symbols_from_the_running_daemon() {
    let cfg = config_dir(&[
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.3}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    d.wait_until("BTCUSDT in status", WAIT, |s| {
        symbol(s, "sim-a", "BTCUSDT").is_some()
    });
    let url = d.url("");

    let out = status_cmd(cfg.path(), &["--url", &url]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(table.contains("DRIFT_LOTS"), "{table}");
    let account_row = table
        .lines()
        .find(|l| l.starts_with("sim-a") && l.contains(" sim "))
        .unwrap_or_else(|| panic!("no account row:\n{table}"));
    assert!(
        account_row.contains("ok") || account_row.contains("halted"),
        "{account_row}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("sim-a") && l.contains("BTCUSDT")),
        "{table}"
    );

    let out = status_cmd(cfg.path(), &["--json", "--url", &url]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    assert!(symbol(&v, "sim-a", "BTCUSDT").is_some(), "{v}");
}

#[test]
fn status_finds_the_daemon_from_server_listen() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let engine = SIM_ENGINE.replacen(
        "\"cycle\"",
        &format!("\"server\": {{ \"listen\": \"127.0.0.1:{port}\" }},\n  \"cycle\""),
        1,
    );
    let cfg = config_dir(&[
        ("engine.json", &engine),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.3}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let _d = Daemon::start_with_env(
        cfg.path(),
        state.path(),
        &[("TRADE_ENGINE__SERVER__LISTEN", listen.as_str())],
    );
    let out = status_cmd(cfg.path(), &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(account(&v, "sim-a").is_some(), "{v}");
}

#[test]
fn status_without_a_daemon_says_so_and_exits_1() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = config_dir(&[("engine.json", SIM_ENGINE)]);
    let out = status_cmd(cfg.path(), &["--url", &format!("http://127.0.0.1:{port}")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not answer") && err.contains("is it running"),
        "{err}"
    );
}

/// A daemon listening beyond loopback warns that its status page is open to whoever reaches
/// the port; one on loopback does not.
#[test]
fn a_non_loopback_listen_address_is_warned_about() {
    let files = [
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
    ];
    let cfg = config_dir(&files);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start_with_env(
        cfg.path(),
        state.path(),
        &[("TRADE_ENGINE__SERVER__LISTEN", "0.0.0.0:0")],
    );
    d.wait_until("a finished cycle", WAIT, |s| {
        s["cycle"]["last_completed"].as_u64().is_some()
    });
    let log = d.log_text();
    let warning = log
        .lines()
        .find(|l| l.contains("server.listen is not a loopback address"))
        .unwrap_or_else(|| panic!("no exposure warning:\n{log}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("/webhook/"), "{warning}");
    drop(d);

    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    d.wait_until("a finished cycle", WAIT, |s| {
        s["cycle"]["last_completed"].as_u64().is_some()
    });
    assert!(
        !d.log_text().contains("not a loopback address"),
        "{}",
        d.log_text()
    );
}
