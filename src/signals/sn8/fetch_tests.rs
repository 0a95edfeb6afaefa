//! Fetching from a loopback validator built from the real fixtures: the three API key
//! forms, refusals, deadlines, size caps, bad JSON, and staleness of a running source.

use super::config::Sn8Config;
use super::dump::fixtures::{dump_json, CAL, DXQ, GHC};
use super::fetch::{client, fetch_dump, FetchError};
use super::Sn8Source;
use crate::config::{Credentials, SourceConfig};
use crate::signals::{SignalBook, SignalSource};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rust_decimal_macros::dec;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEY: &str = "sn8-test-key-0001";

#[derive(Clone)]
enum Serve {
    Dump,
    Status(u16),
    Slow(Duration),
    Body(String),
}

#[derive(Clone)]
struct Validator {
    serve: Arc<Mutex<Serve>>,
    /// How the key must arrive: "body", "bearer" or a header name.
    auth: &'static str,
    dump: Arc<String>,
    seen_encoding: Arc<Mutex<Option<String>>>,
}

async fn miner_positions(State(v): State<Validator>, headers: HeaderMap, body: String) -> Response {
    *v.seen_encoding.lock().unwrap() = headers
        .get("accept-encoding")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let given = match v.auth {
        "body" => serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|b| b["api_key"].as_str().map(str::to_string)),
        "bearer" => headers
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::to_string),
        name => headers
            .get(name)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string),
    };
    if given.as_deref() != Some(KEY) {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"error": "Unauthorized access"}"#,
        )
            .into_response();
    }
    let serve = v.serve.lock().unwrap().clone();
    match serve {
        Serve::Dump => v.dump.to_string().into_response(),
        Serve::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Serve::Slow(delay) => {
            tokio::time::sleep(delay).await;
            v.dump.to_string().into_response()
        }
        Serve::Body(text) => text.into_response(),
    }
}

async fn start(auth: &'static str) -> (SocketAddr, Validator) {
    let dump = dump_json(&[
        (CAL, json!({"all_time_returns": 0.998198})),
        (GHC, json!({"all_time_returns": 1.063256})),
        (DXQ, json!({"all_time_returns": 1.156432})),
    ]);
    let v = Validator {
        serve: Arc::new(Mutex::new(Serve::Dump)),
        auth,
        dump: Arc::new(dump),
        seen_encoding: Arc::default(),
    };
    let app = Router::new()
        .route("/miner-positions", get(miner_positions))
        .with_state(v.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, v)
}

fn config(addr: SocketAddr, extra: serde_json::Value, key: &str) -> Sn8Config {
    let mut source = json!({
        "name": "bittensor", "kind": "bittensor_sn8",
        "url": format!("http://{addr}/miner-positions"), "credentials": "sn8",
        "poll_secs": 1, "timeout_secs": 1, "max_staleness_secs": 2,
        "assets": ["BTCUSD"], "leverage_limits": {"BTCUSD": 0.5},
        "min_trades": 1, "min_profitable_rate": 0, "min_total_return": -1,
        "min_all_time_returns": 0, "min_thirty_day_returns": 0,
        "max_drawdown_threshold": -1, "max_trade_age_days": null
    });
    for (k, v) in extra.as_object().unwrap() {
        source[k] = v.clone();
    }
    let source: SourceConfig = serde_json::from_value(source).unwrap();
    let creds: Credentials = serde_json::from_value(json!({"sn8": {"api_key": key}})).unwrap();
    Sn8Config::from_params(&source, &creds).unwrap()
}

#[tokio::test]
async fn fetches_with_each_key_form() {
    for (auth, setting) in [
        ("body", "body"),
        ("bearer", "bearer"),
        (
            "x-taoshi-consumer-request-key",
            "header:x-taoshi-consumer-request-key",
        ),
    ] {
        let (addr, v) = start(auth).await;
        let cfg = config(addr, json!({"auth": setting}), KEY);
        let dump = fetch_dump(&client(&cfg).unwrap(), &cfg).await.unwrap();
        assert_eq!(dump.miners().count(), 3, "auth {setting}");
        let encoding = v.seen_encoding.lock().unwrap().clone().unwrap_or_default();
        assert!(encoding.contains("gzip"), "asked for {encoding:?}");
    }
}

#[tokio::test]
async fn a_refused_key_names_the_entry_but_never_the_key() {
    let (addr, _) = start("body").await;
    let cfg = config(addr, json!({}), "wrong-key-98765");
    let err = fetch_dump(&client(&cfg).unwrap(), &cfg).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Refused { status: 401, .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("\"sn8\""), "{text}");
    assert!(!text.contains("wrong-key-98765"), "{text}");
    assert!(!text.contains(KEY));
}

#[tokio::test]
async fn errors_deadline_size_cap_and_bad_json() {
    let (addr, v) = start("body").await;
    let cfg = config(addr, json!({}), KEY);
    let http = client(&cfg).unwrap();

    *v.serve.lock().unwrap() = Serve::Status(503);
    let err = fetch_dump(&http, &cfg).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 503, .. }),
        "{err}"
    );

    // The server answers after 5 s: only a kept 1 s deadline turns that into a Timeout (no
    // wall-clock assertion; the error says which deadline fired).
    *v.serve.lock().unwrap() = Serve::Slow(Duration::from_secs(5));
    let err = fetch_dump(&http, &cfg).await.unwrap_err();
    assert!(matches!(err, FetchError::Timeout { secs: 1, .. }), "{err}");

    // 2 MiB of whitespace inside a valid document, against a 1 MiB cap.
    *v.serve.lock().unwrap() = Serve::Body(format!("{{{}}}", " ".repeat(2 * 1024 * 1024)));
    let capped = config(addr, json!({"max_dump_mb": 1}), KEY);
    let err = fetch_dump(&http, &capped).await.unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");

    *v.serve.lock().unwrap() = Serve::Body("{\"5C\": {\"positions\": [}".into());
    let err = fetch_dump(&http, &cfg).await.unwrap_err();
    assert!(matches!(err, FetchError::Decode { .. }), "{err}");
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[test]
fn shown_urls_hide_keys() {
    let url = url::Url::parse("https://user:pw@v.example/miner-positions?api_key=s3cret").unwrap();
    let shown = super::fetch::shown_url(&url);
    assert_eq!(shown, "https://v.example/miner-positions?redacted");
}

#[tokio::test]
async fn unreachable_validator_is_a_request_error() {
    // Bind, learn the port, close: nothing listens there any more.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let cfg = config(addr, json!({}), KEY);
    let err = fetch_dump(&client(&cfg).unwrap(), &cfg).await.unwrap_err();
    assert!(matches!(err, FetchError::Request { .. }), "{err}");
}

fn btc_depth(book: &SignalBook) -> Option<rust_decimal::Decimal> {
    book.snapshot()
        .get("bittensor")
        .and_then(|m| m.get("BTCUSD"))
        .map(|s| s.depth)
}

async fn wait_for(what: &str, timeout: Duration, check: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_validator_keeps_signals_until_stale_then_zeroes_them() {
    let (addr, v) = start("body").await;
    let cfg = config(addr, json!({}), KEY);
    let dir = tempfile::tempdir().unwrap();
    let book = Arc::new(SignalBook::open(dir.path()).unwrap());
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let source: Box<dyn SignalSource> =
        Box::new(Sn8Source::new("bittensor".into(), cfg, Arc::default()));
    let task = tokio::spawn(source.run(book.clone(), stop_rx));

    // Same arithmetic as tests::only_open_positions_count: CAL ranks 3rd of 3 on BTCUSD.
    wait_for("the first dump", Duration::from_secs(5), || {
        btc_depth(&book) == Some(dec!(-0.16666667))
    })
    .await;

    *v.serve.lock().unwrap() = Serve::Status(500);
    let failing_since = Instant::now();
    // Polls fail from here on; within max_staleness (2 s) the last good signals stay.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(btc_depth(&book), Some(dec!(-0.16666667)));
    wait_for("stale signals to go", Duration::from_secs(6), || {
        book.snapshot()
            .get("bittensor")
            .is_some_and(|m| m.is_empty())
    })
    .await;
    // The last good dump was at most one poll (1 s) before the failures began.
    assert!(failing_since.elapsed() >= Duration::from_secs(1));

    *v.serve.lock().unwrap() = Serve::Dump;
    wait_for("signals back", Duration::from_secs(5), || {
        btc_depth(&book) == Some(dec!(-0.16666667))
    })
    .await;
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .expect("source stops when asked")
        .unwrap();
}

/// Log lines written while the guard lives, on this thread (a current-thread runtime runs
/// every task here).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).to_string()
    }
    fn errors_about_the_key(&self) -> usize {
        self.text()
            .lines()
            .filter(|l| l.contains("ERROR") && l.contains("API key refused"))
            .count()
    }
}

#[tokio::test]
async fn a_refused_key_is_counted_every_poll_and_logged_at_error_once_per_change() {
    let captured = Captured::default();
    let writer = captured.clone();
    let _logs = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish(),
    );
    let (addr, v) = start("body").await;
    *v.serve.lock().unwrap() = Serve::Status(401);
    let metrics = Arc::new(crate::execution::Metrics::default());
    let refusals = || {
        metrics
            .sn8_auth_refusals
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let dir = tempfile::tempdir().unwrap();
    let book = Arc::new(SignalBook::open(dir.path()).unwrap());
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let source: Box<dyn SignalSource> = Box::new(Sn8Source::new(
        "bittensor".into(),
        config(addr, json!({"max_staleness_secs": 60}), KEY),
        metrics.clone(),
    ));
    let task = tokio::spawn(source.run(book.clone(), stop_rx));

    wait_for("three refused polls", Duration::from_secs(10), || {
        refusals() >= 3
    })
    .await;
    assert_eq!(captured.errors_about_the_key(), 1, "{}", captured.text());
    assert!(captured
        .text()
        .contains("refused the API key of credentials entry \"sn8\" (HTTP 401)"));

    *v.serve.lock().unwrap() = Serve::Dump;
    wait_for("the key accepted again", Duration::from_secs(10), || {
        captured.text().contains("sn8 API key accepted again")
    })
    .await;
    let before = refusals();
    *v.serve.lock().unwrap() = Serve::Status(403);
    wait_for("a second refusal", Duration::from_secs(10), || {
        captured.errors_about_the_key() == 2
    })
    .await;
    assert!(refusals() > before);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .expect("source stops when asked")
        .unwrap();
    assert_eq!(captured.errors_about_the_key(), 2, "{}", captured.text());
    let rendered = metrics.render();
    assert!(rendered.contains("# TYPE trade_engine_sn8_auth_refusals counter\n"));
    assert!(rendered.contains(&format!(
        "\ntrade_engine_sn8_auth_refusals_total {}\n",
        refusals()
    )));
    assert!(!captured.text().contains(KEY));
}
