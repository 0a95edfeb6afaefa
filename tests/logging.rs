//! `logging.file`: the daemon also writes JSON lines to a rotating file, and refuses to start
//! when it cannot (an operator who asked for a log file must not find it empty).

mod common;

use common::*;
use std::time::Duration;

fn engine_with_log(file: &str) -> String {
    SIM_ENGINE.replacen(
        "\"cycle\"",
        &format!("\"logging\": {{ \"file\": {file:?}, \"keep_files\": 3 }},\n  \"cycle\""),
        1,
    )
}

#[test]
fn the_daemon_writes_json_lines_to_the_log_file() {
    let cfg = config_dir(&[
        ("engine.json", &engine_with_log("logs/engine.log")),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.3}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    d.wait_until("a cycle", Duration::from_secs(20), |s| {
        s["cycle"]["number"].as_u64().unwrap_or(0) >= 1
    });
    let logs = state.path().join("logs");
    let file = std::fs::read_dir(&logs)
        .expect("log directory under the state dir")
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .expect("a log file");
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "trade-engine starting"),
        "{text}"
    );
    // The same line still reaches stdout for journald.
    assert!(d.log_text().contains("trade-engine starting"));
}

#[test]
fn a_log_file_that_cannot_be_opened_stops_the_start() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("blocker"), "").unwrap();
    let cfg = config_dir(&[
        ("engine.json", &engine_with_log("blocker/engine.log")),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.3}}"#),
    ]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_trade-engine"))
        .arg("run")
        .arg("--config-dir")
        .arg(cfg.path())
        .arg("--state-dir")
        .arg(state.path())
        .env("TRADE_ENGINE__SERVER__LISTEN", "127.0.0.1:0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the daemon kept running without its log file");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("logging.file"), "{stderr}");
}
