//! `/healthz` and `/status` tell the truth about whether the daemon can trade.

mod common;

use common::*;
use rust_decimal::Decimal;
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// Status code and JSON body of a GET.
fn get(url: &str) -> Option<(u16, Value)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let client = ::reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .ok()?;
        let resp = client.get(url).send().await.ok()?;
        let code = resp.status().as_u16();
        Some((code, serde_json::from_str(&resp.text().await.ok()?).ok()?))
    })
}

fn healthz(d: &Daemon) -> (u16, Value) {
    get(&d.url("/healthz")).expect("healthz answers JSON")
}

#[test]
fn kill_switch_makes_healthz_503_and_accounts_halted() {
    let cfg = config_dir(&[
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.3}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    d.wait_until("a cycle", WAIT, |s| {
        s["cycle"]["number"].as_u64().unwrap_or(0) >= 1 && symbol(s, "sim-a", "BTCUSDT").is_some()
    });
    let (code, body) = healthz(&d);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "ok");

    std::fs::write(state.path().join("KILL"), "").unwrap();
    let s = d.wait_until("halted", WAIT, |s| {
        account(s, "sim-a").is_some_and(|a| a["state"] == "halted")
    });
    let a = account(&s, "sim-a").unwrap();
    assert!(
        a["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("kill switch engaged"),
        "{a}"
    );
    let (code, body) = healthz(&d);
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert!(
        body["reasons"][0]
            .as_str()
            .unwrap_or_default()
            .contains("kill switch engaged"),
        "{body}"
    );

    std::fs::remove_file(state.path().join("KILL")).unwrap();
    d.wait_until("ok again", WAIT, |s| {
        account(s, "sim-a").is_some_and(|a| a["state"] == "ok")
    });
    assert_eq!(healthz(&d).0, 200);
}

#[test]
fn healthz_is_503_when_every_account_is_in_error() {
    let engine = r#"{
      "accounts": [ { "name": "k", "venue": "kucoin", "credentials": "k", "testnet": true } ],
      "sources": [ { "name": "manual", "kind": "file", "path": "signals/manual.json" } ],
      "cycle": { "reconcile_interval_secs": 2, "debounce_ms": 50 }
    }"#;
    let cfg = config_dir(&[
        ("engine.json", engine),
        ("signal_weights.json", SIM_WEIGHTS),
        (
            "credentials.json",
            r#"{"k": {"api_key": "test-key", "api_secret": "test-secret", "api_passphrase": "p"}}"#,
        ),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.3}}"#),
    ]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let creds = cfg.path().join("credentials.json");
        std::fs::set_permissions(creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    d.wait_until("account in error", WAIT, |s| {
        account(s, "k").is_some_and(|a| a["state"] == "error")
    });
    let (code, body) = healthz(&d);
    assert_eq!(code, 503, "{body}");
    assert!(
        body["reasons"][0]
            .as_str()
            .unwrap_or_default()
            .contains("every account is in error"),
        "{body}"
    );
    assert!(!body.to_string().contains("test-secret"));
}

#[test]
fn a_working_account_next_to_a_broken_one_keeps_healthz_200() {
    let engine = SIM_ENGINE.replace(
        r#"{ "name": "sim-a", "venue": "sim","#,
        r#"{ "name": "k", "venue": "kucoin", "credentials": "k", "testnet": true }, { "name": "sim-a", "venue": "sim","#,
    );
    let cfg = config_dir(&[
        ("engine.json", &engine),
        ("signal_weights.json", SIM_WEIGHTS),
        (
            "credentials.json",
            r#"{"k": {"api_key": "key", "api_secret": "s", "api_passphrase": "p"}}"#,
        ),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.3}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    d.wait_until("one in error, one trading", WAIT, |s| {
        account(s, "k").is_some_and(|a| a["state"] == "error")
            && symbol(s, "sim-a", "BTCUSDT")
                .is_some_and(|b| dec(&b["position_qty"]) > Decimal::ZERO)
    });
    assert_eq!(healthz(&d).0, 200);
}
