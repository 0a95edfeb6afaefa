//! The operator's brake: `halt` works whatever state the config is in, refuses a directory that
//! is not a state directory, takes effect on a running daemon at once, and `flatten` checks its
//! account before touching anything.

mod common;

use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// Runs the CLI with `args` from `cwd`; the config and state directories come only from `args`.
fn cli_in(cwd: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trade-engine"))
        .args(args)
        .current_dir(cwd)
        .env_remove("TRADE_ENGINE_CONFIG_DIR")
        .env_remove("TRADE_ENGINE_STATE_DIR")
        .output()
        .expect("run cli");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn cli(cfg: &Path, state: &Path, args: &[&str]) -> (bool, String) {
    let mut all: Vec<&str> = args.to_vec();
    let (cfg, state) = (cfg.to_str().unwrap(), state.to_str().unwrap());
    all.extend(["--config-dir", cfg, "--state-dir", state]);
    cli_in(Path::new("/"), &all)
}

/// Every file under `dir` with its contents.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.insert(format!("{}/", path.display()), Vec::new());
                stack.push(path);
            } else {
                out.insert(path.display().to_string(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn position(status: &serde_json::Value, sym: &str) -> Decimal {
    symbol(status, "sim-a", sym)
        .map(|s| dec(&s["position_qty"]))
        .unwrap_or_default()
}

/// A state directory as a daemon leaves it.
fn state_dir() -> tempfile::TempDir {
    let state = tempfile::tempdir().unwrap();
    std::fs::create_dir(state.path().join("journal")).unwrap();
    state
}

#[test]
fn halt_works_with_a_broken_or_missing_engine_json() {
    let state = state_dir();
    let cfg = config_dir(&[("engine.json", "{ \"risk\": { \"kill_switch_file\": ")]);
    let (ok, text) = cli(cfg.path(), state.path(), &["halt"]);
    assert!(ok, "{text}");
    assert!(state.path().join("KILL").exists(), "{text}");
    assert!(text.contains("engine.json cannot be read"), "{text}");

    let state = state_dir();
    let empty = tempfile::tempdir().unwrap();
    let (ok, text) = cli(empty.path(), state.path(), &["halt"]);
    assert!(ok, "{text}");
    assert!(state.path().join("KILL").exists(), "{text}");

    // engine.json readable but the rest of the set broken: the configured name is used.
    let state = state_dir();
    let cfg = config_dir(&[(
        "engine.json",
        r#"{ "risk": { "kill_switch_file": "STOP" } }"#,
    )]);
    let (ok, text) = cli(cfg.path(), state.path(), &["halt"]);
    assert!(ok, "{text}");
    assert!(state.path().join("STOP").exists(), "{text}");
    // Lifting the brake needs the names, and works once engine.json is readable.
    let (ok, text) = cli(cfg.path(), state.path(), &["resume"]);
    assert!(ok, "{text}");
    assert!(!state.path().join("STOP").exists());
    write(cfg.path(), "engine.json", "not json");
    std::fs::write(state.path().join("KILL"), "").unwrap();
    let (ok, text) = cli(cfg.path(), state.path(), &["resume"]);
    assert!(!ok, "{text}");
    assert!(
        state.path().join("KILL").exists(),
        "resume refused, brake kept"
    );
}

#[test]
fn halt_on_a_running_daemon_whose_engine_json_broke_still_stops_it() {
    let engine = SIM_ENGINE.replace(
        r#""cycle": {"#,
        r#""risk": { "kill_switch_file": "STOP" }, "cycle": {"#,
    );
    let cfg = config_dir(&[
        ("engine.json", &engine),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.3}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    d.wait_until("open", WAIT, |s| position(s, "BTCUSDT") > Decimal::ZERO);
    // The daemon refuses the broken file and keeps "STOP"; halt cannot read the name and
    // writes the default, which the daemon honours too.
    write(cfg.path(), "engine.json", "{ broken");
    let (ok, text) = cli(cfg.path(), state.path(), &["halt"]);
    assert!(ok, "{text}");
    let s = d.wait_until("halted", WAIT, |s| {
        account(s, "sim-a").is_some_and(|a| a["state"] == "halted")
    });
    let reason = account(&s, "sim-a").unwrap()["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(reason.contains("KILL"), "{reason}");
}

#[test]
fn halt_refuses_a_directory_that_is_not_a_state_directory() {
    let cfg = config_dir(&[
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
    ]);
    let cwd = tempfile::tempdir().unwrap();
    // The default --state-dir is ./state: nothing there, nothing created.
    let (ok, text) = cli_in(
        cwd.path(),
        &["halt", "--config-dir", cfg.path().to_str().unwrap()],
    );
    assert!(!cwd.path().join("state").exists(), "created: {text}");
    assert!(!ok, "{text}");
    assert!(
        text.contains("not a trade-engine state directory"),
        "{text}"
    );

    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("notes.txt"), "mine").unwrap();
    let before = snapshot(elsewhere.path());
    for cmd in ["halt", "resume"] {
        let (ok, text) = cli(cfg.path(), elsewhere.path(), &[cmd]);
        assert!(!ok, "{cmd}: {text}");
    }
    let (ok, text) = cli(cfg.path(), elsewhere.path(), &["flatten"]);
    assert!(!ok, "{text}");
    assert_eq!(
        snapshot(elsewhere.path()),
        before,
        "nothing created or removed"
    );
}

#[test]
fn flatten_of_an_unknown_account_refuses_and_changes_nothing() {
    let cfg = config_dir(&[
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.3}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    d.wait_until("open", WAIT, |s| position(s, "BTCUSDT") > Decimal::ZERO);
    assert_eq!(d.stop().code(), Some(0));
    let before = snapshot(state.path());

    let (ok, text) = cli(cfg.path(), state.path(), &["flatten", "--account", "nope"]);
    assert!(!ok, "{text}");
    assert!(text.contains("no account named \"nope\""), "{text}");
    assert!(
        !state.path().join("KILL").exists(),
        "no kill switch engaged"
    );
    assert_eq!(snapshot(state.path()), before, "state untouched");
}

#[test]
fn halt_and_resume_take_effect_without_waiting_for_the_reconcile_timer() {
    let engine = SIM_ENGINE.replace(
        r#""reconcile_interval_secs": 2"#,
        r#""reconcile_interval_secs": 3600"#,
    );
    assert_ne!(engine, SIM_ENGINE);
    let cfg = config_dir(&[
        ("engine.json", &engine),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.3}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    let s = d.wait_until("open", WAIT, |s| position(s, "BTCUSDT") > dec!(0.09));
    assert_eq!(account(&s, "sim-a").unwrap()["state"], "ok");

    let (ok, text) = cli(cfg.path(), state.path(), &["halt"]);
    assert!(ok, "{text}");
    let s = d.wait_until("halted", WAIT, |s| {
        account(s, "sim-a").is_some_and(|a| a["state"] == "halted")
    });
    let reason = account(&s, "sim-a").unwrap()["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(reason.contains("kill switch engaged"), "{reason}");
    assert!(
        d.log_text().contains("kill switch engaged"),
        "{}",
        d.log_text()
    );

    let (ok, text) = cli(cfg.path(), state.path(), &["resume"]);
    assert!(ok, "{text}");
    d.wait_until("resumed", WAIT, |s| {
        account(s, "sim-a").is_some_and(|a| a["state"] == "ok" && a["reason"].is_null())
    });
    assert!(
        d.log_text().contains("kill switch removed"),
        "{}",
        d.log_text()
    );
}
