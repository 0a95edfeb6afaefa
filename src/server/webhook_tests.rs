//! The webhook endpoint served on loopback, with the real config set, signal book, target
//! book and intake behind it.

use super::router;
use crate::config::ConfigSet;
use crate::execution::Engine;
use crate::signals::tradingview::WebhookSources;
use crate::signals::SignalBook;
use crate::state::{ExecutionCache, Journal};
use crate::targets::TargetBook;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const TOKEN: &str = "tv-secret-0123456789";

type Headers<'a> = Vec<(&'a str, &'a str)>;

struct Harness {
    addr: SocketAddr,
    config_dir: tempfile::TempDir,
    state_dir: tempfile::TempDir,
    config_tx: watch::Sender<Arc<ConfigSet>>,
    book: Arc<SignalBook>,
    targets: watch::Receiver<Arc<TargetBook>>,
}

fn engine_json(tv_extra: &str) -> String {
    format!(
        r#"{{ "accounts": [ {{ "name": "sim-a", "venue": "sim" }} ],
             "sources": [ {{ "name": "tradingview", "kind": "tradingview", "token": "{TOKEN}" {tv_extra} }} ] }}"#
    )
}

fn load(dir: &std::path::Path, engine: &str) -> Arc<ConfigSet> {
    std::fs::write(dir.join("engine.json"), engine).unwrap();
    std::fs::write(
        dir.join("signal_weights.json"),
        r#"[{"symbol": "BTCUSDT", "leverage": 2, "sources": [{"source": "tradingview", "weight": 0.5}]},
            {"symbol": "ETHUSDT", "leverage": 2, "sources": [{"source": "tradingview", "weight": 0.5}]},
            {"symbol": "SOLUSDT", "leverage": 2, "sources": [{"source": "tradingview", "weight": 0.5}]},
            {"symbol": "XRPUSDT", "leverage": 2, "sources": [{"source": "tradingview", "weight": 0.5}]}]"#,
    )
    .unwrap();
    Arc::new(ConfigSet::load_with_env(dir, vec![]).expect("valid test config"))
}

async fn harness(tv_extra: &str) -> Harness {
    let config_dir = tempfile::tempdir().unwrap();
    let state_dir = tempfile::tempdir().unwrap();
    let config = load(config_dir.path(), &engine_json(tv_extra));
    let (config_tx, config_rx) = watch::channel(config.clone());
    let book = Arc::new(SignalBook::open(state_dir.path()).unwrap());
    let targets = crate::targets::spawn_target_book(config_rx.clone(), book.clone());
    let engine = Engine::new(
        state_dir.path().to_path_buf(),
        config_rx,
        targets.clone(),
        Arc::new(ExecutionCache::open(state_dir.path()).unwrap()),
        Arc::new(Journal::open(state_dir.path()).unwrap()),
    );
    let webhooks = Arc::new(WebhookSources::new(state_dir.path(), book.clone()));
    webhooks.sync(&config);
    let app = router(engine.handles(), webhooks);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    Harness {
        addr,
        config_dir,
        state_dir,
        config_tx,
        book,
        targets,
    }
}

impl Harness {
    async fn post(
        &self,
        path: &str,
        body: impl Into<String>,
        headers: &[(&str, &str)],
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let client = reqwest::Client::new();
        let mut req = client
            .post(format!("http://{}{path}", self.addr))
            .header("content-type", "application/json")
            .body(body.into());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value, headers)
    }

    fn tv_depth(&self, symbol: &str) -> Option<Decimal> {
        self.book
            .snapshot()
            .get("tradingview")
            .and_then(|m| m.get(symbol))
            .map(|s| s.depth)
    }
}

#[tokio::test]
async fn a_webhook_lands_in_the_book_and_moves_the_target() {
    let h = harness("").await;
    let mut targets = h.targets.clone();
    let before = targets.borrow_and_update().revision;
    let (status, body, _) = h
        .post(
            "/webhook/tradingview",
            r#"{"symbol": "BTCUSDT", "direction": "long", "action": "buy", "size": "50/100", "leverage": "3"}"#,
            &[("X-Webhook-Token", TOKEN)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "applied");
    assert_eq!(body["depth"], "0.5");
    // 200 means it is already in the book and in the fsynced journal.
    assert_eq!(h.tv_depth("BTCUSDT"), Some(dec!(0.5)));
    let journal =
        std::fs::read_to_string(h.state_dir.path().join("webhooks/tradingview.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), 1);
    assert!(!journal.contains(TOKEN));
    // The target book follows at once: weight 0.5 × depth 0.5, with the alert's leverage 3.
    tokio::time::timeout(Duration::from_secs(2), targets.changed())
        .await
        .expect("target book reacts to the webhook")
        .unwrap();
    let t = targets.borrow().clone();
    assert!(t.revision > before);
    assert_eq!(t.targets["BTCUSDT"].depth, dec!(0.25));
    assert_eq!(t.targets["BTCUSDT"].leverage, dec!(3));

    // The token may travel in the body instead (TradingView cannot set headers).
    let (status, body, _) = h
        .post(
            "/webhook/tradingview",
            format!(r#"{{"token": "{TOKEN}", "symbol": "BTCUSDT", "depth": -0.2}}"#),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(h.tv_depth("BTCUSDT"), Some(dec!(-0.2)));
}

#[tokio::test]
async fn refusals_are_clear_and_change_nothing() {
    let h = harness("").await;
    let good = r#"{"symbol": "BTCUSDT", "depth": 0.3}"#;
    let cases: Vec<(u16, String, Headers, &str)> = vec![
        (
            401,
            good.into(),
            vec![("X-Webhook-Token", "tv-secret-0123456780")],
            "missing or wrong token",
        ),
        (401, good.into(), vec![], "missing or wrong token"),
        (
            401,
            r#"{"token": "nope-nope-nope-nope", "symbol": "BTCUSDT", "depth": 0.3}"#.into(),
            vec![],
            "missing or wrong token",
        ),
        (
            400,
            r#"{"symbol": "BTCUSDT", "depth": 0.3"#.into(),
            vec![("X-Webhook-Token", TOKEN)],
            "malformed JSON at line 1, column 34",
        ),
        (
            413,
            format!(
                r#"{{"symbol": "BTCUSDT", "depth": 0.3, "pad": "{}"}}"#,
                "x".repeat(17 * 1024)
            ),
            vec![("X-Webhook-Token", TOKEN)],
            "larger than 16384 bytes",
        ),
        (
            422,
            r#"{"symbol": "BTCUSDT", "depth": 1.5}"#.into(),
            vec![("X-Webhook-Token", TOKEN)],
            "depth 1.5 is outside [-1, 1]",
        ),
        (
            422,
            r#"{"symbol": "BTCUSDT", "direction": "long", "size": "150/100"}"#.into(),
            vec![("X-Webhook-Token", TOKEN)],
            "depth 1.5 is outside [-1, 1]",
        ),
    ];
    for (want, body, headers, message) in cases {
        let (status, answer, _) = h.post("/webhook/tradingview", body, &headers).await;
        assert_eq!(status, want, "{answer}");
        let text = answer["error"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{want}: {text:?} lacks {message:?}");
        assert!(!text.contains(TOKEN));
    }
    let (status, answer, _) = h
        .post("/webhook/nosuch", good, &[("X-Webhook-Token", TOKEN)])
        .await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(h.tv_depth("BTCUSDT"), None);
    let journal = h.state_dir.path().join("webhooks/tradingview.jsonl");
    assert_eq!(std::fs::read_to_string(journal).unwrap_or_default(), "");
}

#[tokio::test]
async fn rate_limit_allow_list_and_trusted_proxy() {
    let h = harness(r#", "rate_limit_per_minute": 1, "rate_limit_burst": 2"#).await;
    let body = r#"{"symbol": "BTCUSDT", "depth": 0.1}"#;
    let auth = [("X-Webhook-Token", TOKEN)];
    assert_eq!(h.post("/webhook/tradingview", body, &auth).await.0, 200);
    assert_eq!(h.post("/webhook/tradingview", body, &auth).await.0, 200);
    let (status, answer, headers) = h.post("/webhook/tradingview", body, &auth).await;
    assert_eq!(status, 429, "{answer}");
    // One token a minute: the next one is 60 s away.
    assert_eq!(headers["retry-after"], "60");

    let h = harness(r#", "allow_ips": ["10.0.0.0/8"]"#).await;
    let (status, answer, _) = h.post("/webhook/tradingview", body, &auth).await;
    assert_eq!(status, 403, "{answer}");
    // Without trust_proxy a forwarded address is just a header anyone can write.
    let spoofed = [("X-Webhook-Token", TOKEN), ("X-Forwarded-For", "10.1.2.3")];
    assert_eq!(h.post("/webhook/tradingview", body, &spoofed).await.0, 403);
    let h = harness(r#", "allow_ips": ["10.0.0.0/8"], "trust_proxy": true"#).await;
    assert_eq!(h.post("/webhook/tradingview", body, &spoofed).await.0, 200);
    // The proxy appends the real client last; earlier entries are the client's own words.
    let appended = [
        ("X-Webhook-Token", TOKEN),
        ("X-Forwarded-For", "10.1.2.3, 192.0.2.7"),
    ];
    assert_eq!(h.post("/webhook/tradingview", body, &appended).await.0, 403);
}

#[tokio::test]
async fn a_reloaded_token_applies_to_the_next_request() {
    let h = harness("").await;
    let body = r#"{"symbol": "BTCUSDT", "depth": 0.1}"#;
    assert_eq!(
        h.post("/webhook/tradingview", body, &[("X-Webhook-Token", TOKEN)])
            .await
            .0,
        200
    );
    let rotated = engine_json("").replace(TOKEN, "rotated-token-abcdefgh");
    h.config_tx
        .send(load(h.config_dir.path(), &rotated))
        .unwrap();
    assert_eq!(
        h.post("/webhook/tradingview", body, &[("X-Webhook-Token", TOKEN)])
            .await
            .0,
        401
    );
    let (status, _, _) = h
        .post(
            "/webhook/tradingview",
            r#"{"symbol": "BTCUSDT", "depth": 0.2}"#,
            &[("X-Webhook-Token", "rotated-token-abcdefgh")],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(h.tv_depth("BTCUSDT"), Some(dec!(0.2)));
}

#[tokio::test]
async fn the_pinned_races_over_http() {
    let h = harness("").await;
    let auth = [("X-Webhook-Token", TOKEN)];
    let post = |body: &'static str| h.post("/webhook/tradingview", body, &auth);
    // (b) nothing open: a flat then a long a few ms later were one trade opened and closed.
    post(
        r#"{"symbol": "ETHUSDT", "direction": "flat", "action": "sell", "size": "Exit @ 3263.55"}"#,
    )
    .await;
    let (_, b, _) =
        post(r#"{"symbol": "ETHUSDT", "direction": "long", "action": "buy", "size": "1/1"}"#).await;
    assert_eq!(
        (b["outcome"].as_str(), b["basis"].as_str()),
        (Some("superseded"), Some("open_then_close"))
    );
    assert_eq!(h.tv_depth("ETHUSDT"), Some(dec!(0)));
    // (c) explicit sequence, delivered backwards: seq 2 (flat) then seq 1 (long): flat.
    post(r#"{"symbol": "SOLUSDT", "direction": "flat", "size": "0/100", "signal_seq": 2}"#).await;
    let (_, c, _) =
        post(r#"{"symbol": "SOLUSDT", "direction": "long", "size": "1/1", "signal_seq": "1"}"#)
            .await;
    assert_eq!(c["basis"], "explicit_sequence");
    assert_eq!(h.tv_depth("SOLUSDT"), Some(dec!(0)));
    // (a) a position open (XRP at 0.5), then a long and a flat together: the flat closed
    // the old position, the long stands. (0.5 then 1.0 is not a flat/entry pair.)
    let (_, open, _) = post(r#"{"symbol": "XRPUSDT", "depth": 0.5}"#).await;
    assert_eq!(open["outcome"], "applied");
    post(r#"{"symbol": "XRPUSDT", "direction": "long", "size": "1/1"}"#).await;
    let (_, a, _) =
        post(r#"{"symbol": "XRPUSDT", "direction": "flat", "size": "Exit @ 0.6"}"#).await;
    assert_eq!(a["basis"], "close_then_open");
    assert_eq!(h.tv_depth("XRPUSDT"), Some(dec!(1)));
}

#[tokio::test]
async fn leverage_above_the_cap_is_refused_not_capped() {
    let h = harness("").await;
    let auth = [("X-Webhook-Token", TOKEN)];
    // risk.max_leverage defaults to 20.
    let (status, body, _) = h
        .post(
            "/webhook/tradingview",
            r#"{"symbol": "BTCUSDT", "depth": 0.5, "leverage": 25}"#,
            &auth,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("\"leverage\" 25 is above risk.max_leverage 20"),
        "{body}"
    );
    assert_eq!(h.tv_depth("BTCUSDT"), None, "nothing stored");
    let (status, _, _) = h
        .post(
            "/webhook/tradingview",
            r#"{"symbol": "BTCUSDT", "depth": 0.5, "leverage": 20}"#,
            &auth,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(h.tv_depth("BTCUSDT"), Some(dec!(0.5)));
}

#[tokio::test]
async fn a_symbol_the_config_does_not_use_is_refused_and_not_stored() {
    let h = harness("").await;
    let auth = [("X-Webhook-Token", TOKEN)];
    let (status, body, _) = h
        .post(
            "/webhook/tradingview",
            r#"{"symbol": "DOGEUSDT", "direction": "long", "size": "10/100"}"#,
            &auth,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains(
            "no entry of signal_weights.json gives source \"tradingview\" a weight for DOGEUSDT"
        ),
        "{body}"
    );
    assert_eq!(h.tv_depth("DOGEUSDT"), None);
    let stored =
        std::fs::read_to_string(h.state_dir.path().join("signals.json")).unwrap_or_default();
    assert!(!stored.contains("DOGEUSDT"), "{stored}");
    let journal = h.state_dir.path().join("webhooks/tradingview.jsonl");
    let journaled = std::fs::read_to_string(journal).unwrap_or_default();
    assert!(!journaled.contains("DOGEUSDT"), "{journaled}");
}

#[tokio::test]
async fn a_stored_signal_is_logged_with_the_api_spelling() {
    let logs = crate::test_logs::Logs::default();
    let _guard = logs.capture();
    let h = harness("").await;
    let (status, body, _) = h
        .post(
            "/webhook/tradingview",
            r#"{"symbol": "BTCUSDT", "depth": 0.3}"#,
            &[("X-Webhook-Token", TOKEN)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let line = logs.line("webhook signal stored");
    for field in ["outcome", "basis"] {
        assert_eq!(line["fields"][field], body[field], "{field}: {line}");
    }
}

#[tokio::test]
async fn webhook_requests_are_counted_by_source_and_status_in_metrics() {
    let h = harness("").await;
    let good = r#"{"symbol": "BTCUSDT", "depth": 0.3}"#;
    let (status, _, _) = h
        .post("/webhook/tradingview", good, &[("X-Webhook-Token", TOKEN)])
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = h.post("/webhook/tradingview", good, &[]).await;
    assert_eq!(status, 401);
    // Names that are no source share one label, so random paths cannot grow the metric.
    for name in ["nope-1", "nope-2"] {
        let (status, _, _) = h.post(&format!("/webhook/{name}"), good, &[]).await;
        assert_eq!(status, 404);
    }
    let text = reqwest::get(format!("http://{}/metrics", h.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "trade_engine_webhook_requests_total{source=\"tradingview\",status=\"200\"} 1\n",
        "trade_engine_webhook_requests_total{source=\"tradingview\",status=\"401\"} 1\n",
        "trade_engine_webhook_requests_total{source=\"unknown\",status=\"404\"} 2\n",
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
    assert!(!text.contains("nope-1"));
}
