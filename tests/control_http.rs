//! Control over HTTP: off (404) without a control token, 403 with a wrong one, and halt then
//! resume with the right one.

mod common;

use common::reqwest::blocking_post;
use common::*;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "0123456789abcdef-control";

fn engine_with_control() -> String {
    SIM_ENGINE.replacen(
        "\"cycle\"",
        "\"server\": { \"control_token\": \"ops\" },\n  \"cycle\"",
        1,
    )
}

fn credentials() -> String {
    format!(r#"{{ "ops": {{ "api_key": "{TOKEN}" }} }}"#)
}

#[test]
fn control_is_404_when_no_token_is_configured() {
    let cfg = config_dir(&[
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    let s = d.status().expect("status");
    assert_eq!(s["control"], false, "{s}");
    for action in ["halt", "resume"] {
        let (code, _) = blocking_post(
            &d.url(&format!("/control/{action}")),
            "",
            &[("X-Control-Token", TOKEN)],
        )
        .expect("answer");
        assert_eq!(code, 404, "{action}");
    }
    assert!(!state.path().join("KILL").exists());
}

#[test]
fn control_halts_and_resumes_with_the_right_token_only() {
    let engine = engine_with_control();
    let creds = credentials();
    let cfg = config_dir(&[
        ("engine.json", &engine),
        ("signal_weights.json", SIM_WEIGHTS),
        ("credentials.json", &creds),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.3}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    let s = d.wait_until("ok", WAIT, |s| {
        account(s, "sim-a").is_some_and(|a| a["state"] == "ok")
    });
    assert_eq!(s["control"], true, "{s}");

    for headers in [
        vec![],
        vec![("X-Control-Token", "0123456789abcdef-wrong!!")],
    ] {
        let (code, _) = blocking_post(&d.url("/control/halt"), "", &headers).expect("answer");
        assert_eq!(code, 403, "{headers:?}");
    }
    d.wait_for_fresh_cycle(WAIT);
    let s = d.status().expect("status");
    assert_eq!(account(&s, "sim-a").unwrap()["state"], "ok", "{s}");

    let (code, body) =
        blocking_post(&d.url("/control/halt"), "", &[("X-Control-Token", TOKEN)]).expect("answer");
    assert_eq!(code, 200, "{body}");
    d.wait_until("halted", WAIT, |s| {
        account(s, "sim-a").is_some_and(|a| a["state"] == "halted")
    });
    let (code, body) = blocking_post(&d.url("/control/resume"), "", &[("X-Control-Token", TOKEN)])
        .expect("answer");
    assert_eq!(code, 200, "{body}");
    d.wait_until("ok again", WAIT, |s| {
        account(s, "sim-a").is_some_and(|a| a["state"] == "ok")
    });
    let log = d.log_text();
    assert!(log.contains("\"action\":\"halt\""), "{log}");
    assert!(!log.contains(TOKEN), "the token leaked into the log");
}

#[test]
fn a_short_or_missing_control_token_entry_is_refused_by_check() {
    let engine = engine_with_control();
    for creds in [
        r#"{ "ops": { "api_key": "short" } }"#,
        r#"{ "other": { "api_key": "0123456789abcdef0123" } }"#,
    ] {
        let cfg = config_dir(&[
            ("engine.json", &engine),
            ("signal_weights.json", SIM_WEIGHTS),
            ("credentials.json", creds),
        ]);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_trade-engine"))
            .arg("check")
            .arg("--config-dir")
            .arg(cfg.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("server.control_token"), "{err}");
    }
}

#[test]
fn control_flatten_closes_the_accounts_sim_position() {
    let engine = engine_with_control();
    let creds = credentials();
    let cfg = config_dir(&[
        ("engine.json", &engine),
        ("signal_weights.json", SIM_WEIGHTS),
        ("credentials.json", &creds),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.3}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    let position = |s: &serde_json::Value| {
        symbol(s, "sim-a", "BTCUSDT")
            .map(|v| dec(&v["position_qty"]))
            .unwrap_or_default()
    };
    d.wait_until("a position", WAIT, |s| {
        position(s) > rust_decimal::Decimal::ZERO
    });

    let (code, _) =
        blocking_post(&d.url("/control/flatten?account=sim-a"), "", &[]).expect("answer");
    assert_eq!(code, 403);
    let (code, _) = blocking_post(
        &d.url("/control/flatten?account=nope"),
        "",
        &[("X-Control-Token", TOKEN)],
    )
    .expect("answer");
    assert_eq!(code, 404);
    assert!(!state.path().join("KILL").exists(), "nothing changed");

    let (code, body) = blocking_post(
        &d.url("/control/flatten?account=sim-a"),
        "",
        &[("X-Control-Token", TOKEN)],
    )
    .expect("answer");
    assert_eq!(code, 200, "{body}");
    d.wait_until("flat and halted", WAIT, |s| {
        position(s).is_zero() && account(s, "sim-a").is_some_and(|a| a["state"] == "halted")
    });
    d.wait_for_fresh_cycle(WAIT);
    assert!(position(&d.status().expect("status")).is_zero(), "reopened");
    let log = d.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("\"action\":\"flatten\"") && l.contains("sim-a")),
        "{log}"
    );
}
