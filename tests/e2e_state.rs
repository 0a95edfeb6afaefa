//! The state directory end to end: client ids that never repeat an old order, one daemon per
//! state directory, and start-up with corrupt state (rebuilt where it can be, refused where not).

mod common;

use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

fn position(status: &Value, sym: &str) -> Decimal {
    symbol(status, "sim-a", sym)
        .map(|s| dec(&s["position_qty"]))
        .unwrap_or_default()
}

fn sim_config(depth: &str) -> tempfile::TempDir {
    config_dir(&[
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
        (
            "signals/manual.json",
            &format!(r#"{{"BTCUSDT": {{"depth": {depth}}}}}"#),
        ),
    ])
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
}

/// Runs `trade-engine run` expecting it to exit by itself; returns (exit code, output).
fn run_expecting_exit(cfg: &Path, state: &Path) -> (Option<i32>, String) {
    let out = state.join(format!("exit-{}-{}.log", std::process::id(), unique()));
    let file = std::fs::File::create(&out).expect("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_trade-engine"))
        .arg("run")
        .arg("--config-dir")
        .arg(cfg)
        .arg("--state-dir")
        .arg(state)
        .arg("--log-format")
        .arg("json")
        .env("TRADE_ENGINE__SERVER__LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("clone"))
        .stderr(file)
        .spawn()
        .expect("spawn");
    // A generous bound only so that a regression fails instead of hanging the suite.
    let deadline = Instant::now() + Duration::from_secs(60);
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the daemon kept running\n{}",
                std::fs::read_to_string(&out).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (code, std::fs::read_to_string(&out).unwrap_or_default())
}

/// Issue 8, item 1: run, stop, remove the journal, start, change a depth. The new plan
/// numbers repeat the old ones; the ids must not, or the venue's old order is taken for a fill.
#[test]
fn a_removed_journal_never_turns_an_old_order_into_a_fill() {
    let cfg = sim_config("0.3");
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    let s = d.wait_until("open", WAIT, |s| position(s, "BTCUSDT") > dec!(0.09));
    let opened = position(&s, "BTCUSDT");
    let old_cid = symbol(&s, "sim-a", "BTCUSDT").unwrap()["last_order"]["client_order_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(d.stop().code(), Some(0));

    std::fs::remove_dir_all(state.path().join("journal")).unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    write(
        cfg.path(),
        "signals/manual.json",
        r#"{"BTCUSDT": {"depth": 0.1}}"#,
    );
    d.wait_until("reduced", WAIT, |s| {
        let p = position(s, "BTCUSDT");
        p > Decimal::ZERO && p < opened
    });
    assert_eq!(d.stop().code(), Some(0));

    // Every order the journal calls filled is an order the venue executed as journaled.
    let sim = read_json(&state.path().join("sim/sim-a.json"));
    let journal = read_json(&state.path().join("journal/sim-a.json"));
    let entries = journal["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    for e in entries {
        let cid = e["client_order_id"].as_str().unwrap();
        if e["status"] == "filled" {
            let order = &sim["book"]["orders"][cid];
            assert_eq!(order["request"]["side"], e["side"], "phantom fill: {e}");
            assert_eq!(
                dec(&order["request"]["qty"]),
                dec(&e["qty"]),
                "phantom fill: {e}"
            );
        }
        assert_ne!(cid, old_cid, "an id of the first run was re-issued: {e}");
    }
    // And the position the venue holds is what the daemon reported.
    let venue_qty = dec(&sim["book"]["positions"]["BTCUSDT"]["qty"]);
    assert!(
        venue_qty > Decimal::ZERO && venue_qty < opened,
        "{venue_qty}"
    );
}

#[test]
fn state_id_is_created_once_and_a_malformed_one_stops_start_up() {
    let cfg = sim_config("0");
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    let id_file = state.path().join("state-id");
    let id = std::fs::read_to_string(&id_file).expect("created on first start");
    assert_eq!(id.trim().len(), 16);
    assert_eq!(d.stop().code(), Some(0));
    let d = Daemon::start(cfg.path(), state.path());
    assert_eq!(std::fs::read_to_string(&id_file).unwrap(), id, "kept");
    assert_eq!(d.stop().code(), Some(0));

    std::fs::write(&id_file, "garbage\n").unwrap();
    let (code, text) = run_expecting_exit(cfg.path(), state.path());
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains("state-id"), "{text}");
    assert!(text.contains("delete the file"), "{text}");
}

/// Issue 8, item 2.
#[test]
fn a_second_daemon_on_one_state_dir_exits_naming_the_first() {
    let cfg = sim_config("0");
    let state = tempfile::tempdir().unwrap();
    let first = Daemon::start(cfg.path(), state.path());
    let pid = first.child.id();
    let (code, text) = run_expecting_exit(cfg.path(), state.path());
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains(&format!("pid {pid}")), "{text}");
    assert!(first.status().is_some(), "the first daemon runs on");

    // kill -9 leaves the lock file behind; it must not block the next start.
    first.kill9();
    let lock = state.path().join("trade-engine.lock");
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap().trim(),
        pid.to_string()
    );
    let next = Daemon::start(cfg.path(), state.path());
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap().trim(),
        next.child.id().to_string()
    );
    assert_eq!(next.stop().code(), Some(0));
}

/// Issue 8, item 3: what can be rebuilt is moved aside and rebuilt, the daemon trades.
#[test]
fn corrupt_cache_and_signals_are_moved_aside_and_rebuilt() {
    let cfg = sim_config("0.3");
    let state = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(state.path().join("cache")).unwrap();
    std::fs::write(state.path().join("cache/sim-a.json"), "{\"venue\": \"si").unwrap();
    std::fs::write(state.path().join("signals.json"), "\0\0\0garbage").unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    d.wait_until("trades", WAIT, |s| position(s, "BTCUSDT") > dec!(0.09));
    let log = d.log_text();
    assert!(log.contains("execution cache unreadable"), "{log}");
    assert!(log.contains("signals.json unreadable"), "{log}");
    assert_eq!(d.stop().code(), Some(0));
    let names: Vec<String> = std::fs::read_dir(state.path())
        .unwrap()
        .chain(std::fs::read_dir(state.path().join("cache")).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("signals.json.corrupt-")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("sim-a.json.corrupt-")),
        "{names:?}"
    );
    read_json(&state.path().join("signals.json"));
    read_json(&state.path().join("cache/sim-a.json"));
}

/// Issue 8, item 3: the order journal cannot be rebuilt: start-up is refused with what to do.
#[test]
fn a_corrupt_journal_refuses_start_up_with_what_to_do() {
    let cfg = sim_config("0.3");
    let state = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(state.path().join("journal")).unwrap();
    let journal = state.path().join("journal/sim-a.json");
    std::fs::write(&journal, "{\"next_plan\": {\"BTCUSDT\": 3}, \"entr").unwrap();
    let (code, text) = run_expecting_exit(cfg.path(), state.path());
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains(&journal.display().to_string()), "{text}");
    assert!(text.contains("order journal"), "{text}");
    assert!(text.contains("restore it from a backup"), "{text}");
    assert!(journal.exists(), "left in place");
    assert!(
        !state.path().join("sim/sim-a.json").exists(),
        "nothing was traded"
    );
}
