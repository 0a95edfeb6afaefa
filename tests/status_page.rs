//! The status page at `/`: served from the binary, and driven in a real headless Chromium
//! (over the DevTools protocol) against a daemon on the sim venue.

mod common;

use common::*;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(30);

fn sim_daemon(signals: &str) -> (tempfile::TempDir, tempfile::TempDir, Daemon) {
    let cfg = config_dir(&[
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
        ("asset_mapping.json", "{}"),
        ("signals/manual.json", signals),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    (cfg, state, d)
}

fn get(url: &str) -> (u16, Vec<(String, String)>, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let resp = ::reqwest::get(url).await.expect("GET");
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        (status, headers, resp.text().await.unwrap())
    })
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

#[test]
fn page_and_assets_come_from_the_binary_and_load_nothing_from_elsewhere() {
    let (_cfg, _state, d) = sim_daemon("{}");
    for (path, kind) in [
        ("/", "text/html"),
        ("/page/app.js", "text/javascript"),
        ("/page/style.css", "text/css"),
    ] {
        let (status, headers, body) = get(&d.url(path));
        assert_eq!(status, 200, "{path}");
        assert!(header(&headers, "content-type").starts_with(kind), "{path}");
        assert!(
            header(&headers, "content-security-policy").contains("default-src 'none'"),
            "{path}: the page must not be able to load from elsewhere"
        );
        // An offline server has no CDN: the only absolute URL allowed is the SVG namespace.
        let body = body.replace("http://www.w3.org/2000/svg", "");
        for scheme in ["http:", "https:", "=\"//", "url("] {
            assert!(
                !body.contains(scheme),
                "{path} may load from elsewhere ({scheme})"
            );
        }
    }
    let (status, _, body) = get(&d.url("/history"));
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&body).unwrap().is_array());
}

#[test]
fn status_lists_each_source_with_its_age_and_symbols() {
    let (_cfg, _state, d) =
        sim_daemon(r#"{"BTCUSDT": {"depth": 0.5}, "ETHUSDT": {"depth": -0.4}}"#);
    let s = d.wait_until("the file source's two symbols", WAIT, |s| {
        s["sources"][0]["symbols"] == json!(2)
    });
    let sources = s["sources"].as_array().expect("sources array");
    assert_eq!(sources.len(), 1, "{s}");
    let manual = &sources[0];
    assert_eq!(manual["name"], "manual");
    assert_eq!(manual["kind"], "file");
    let last: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(manual["last_signal"].clone()).expect("last_signal is a time");
    let age = manual["age_secs"].as_f64().expect("age_secs is a number");
    // Sane, not timed: the signals were written when the test started, not at the epoch
    // and not in the future.
    assert!((0.0..3600.0).contains(&age), "age_secs {age}");
    assert!(
        last <= chrono::Utc::now(),
        "last_signal {last} is in the future"
    );
    // A file source has no notion of staleness.
    assert_eq!(manual["stale"], Value::Null);
    assert_eq!(manual["last_poll"], Value::Null);
}

/// A headless Chromium on a DevTools WebSocket, with every console error, uncaught exception
/// and failed load it reports.
struct Browser {
    child: Child,
    rt: tokio::runtime::Runtime,
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
    errors: Vec<Value>,
    _profile: tempfile::TempDir,
}

fn chromium() -> String {
    if let Ok(path) = std::env::var("TRADE_ENGINE_TEST_CHROMIUM") {
        return path;
    }
    for name in ["chromium-headless-shell", "chromium", "chromium-browser"] {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {name}"))
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if found {
            return name.to_string();
        }
    }
    panic!(
        "no Chromium for the status page test: `apt-get install chromium-headless-shell` \
         (.ci/run does) or set TRADE_ENGINE_TEST_CHROMIUM to a Chromium binary"
    );
}

impl Browser {
    fn open(url: &str) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        // Chromium says where its DevTools endpoint is on stderr.
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let browser_ws = loop {
            let line = lines
                .next()
                .expect("chromium exited before its DevTools endpoint was up")
                .unwrap();
            if let Some(at) = line.find("ws://") {
                break line[at..].trim().to_string();
            }
        };
        // Keep draining stderr so that chromium never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let http = browser_ws
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let page_ws = rt.block_on(async {
            let list: Value = ::reqwest::get(format!("http://{http}/json/list"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            list.as_array()
                .unwrap()
                .iter()
                .find(|t| t["type"] == "page")
                .expect("a page target")["webSocketDebuggerUrl"]
                .as_str()
                .unwrap()
                .to_string()
        });
        let (ws, _) = rt
            .block_on(tokio_tungstenite::connect_async(page_ws))
            .expect("DevTools WebSocket");
        let mut b = Browser {
            child,
            rt,
            ws,
            next_id: 0,
            errors: Vec::new(),
            _profile: profile,
        };
        b.call("Runtime.enable", json!({}));
        b.call("Log.enable", json!({}));
        b.call("Page.enable", json!({}));
        b.call("Page.navigate", json!({ "url": url }));
        b
    }

    /// Sends one DevTools command and returns its result; events read meanwhile are screened
    /// for errors.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({ "id": id, "method": method, "params": params }).to_string();
        let (ws, errors) = (&mut self.ws, &mut self.errors);
        self.rt.block_on(async {
            ws.send(Message::Text(msg)).await.expect("DevTools send");
            loop {
                let frame = tokio::time::timeout(WAIT, ws.next())
                    .await
                    .expect("DevTools answer")
                    .expect("DevTools open")
                    .expect("DevTools frame");
                let Message::Text(text) = frame else { continue };
                let v: Value = serde_json::from_str(&text).unwrap();
                if v["id"] == id {
                    assert!(v.get("error").is_none(), "{method}: {v}");
                    return v["result"].clone();
                }
                let is_error = match v["method"].as_str() {
                    Some("Runtime.exceptionThrown") => true,
                    Some("Runtime.consoleAPICalled") => v["params"]["type"] == "error",
                    Some("Log.entryAdded") => v["params"]["entry"]["level"] == "error",
                    _ => false,
                };
                if is_error {
                    errors.push(v["params"].clone());
                }
            }
        })
    }

    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        r["result"]["value"].clone()
    }

    /// Evaluates `expression` until it returns `want`.
    fn wait_for(&mut self, what: &str, expression: &str, want: &Value) {
        let deadline = Instant::now() + WAIT;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            last = self.eval(expression);
            if &last == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let html = self.eval("document.body.innerHTML");
        panic!(
            "page: timed out waiting for {what} ({expression} is {last}, want {want}); \
             errors: {:?}; page:\n{html}",
            self.errors
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn row_attr(account: &str, symbol: &str, attr: &str) -> String {
    format!(
        "(document.querySelector('tr[data-account=\"{account}\"][data-symbol=\"{symbol}\"]') \
         || {{dataset: {{}}}}).dataset.{attr} ?? null"
    )
}

#[test]
fn the_page_shows_accounts_and_symbols_and_follows_a_signal_change() {
    let (cfg, _state, d) = sim_daemon(r#"{"BTCUSDT": {"depth": 0.5}, "ETHUSDT": {"depth": -0.4}}"#);
    let s = d.wait_until("positions open", WAIT, |s| {
        symbol(s, "sim-a", "BTCUSDT").is_some_and(|b| b["position_qty"] != "0")
            && symbol(s, "sim-a", "ETHUSDT").is_some_and(|e| e["position_qty"] != "0")
            && symbol(s, "sim-a", "BTCUSDT").unwrap()["position_qty"]
                == symbol(s, "sim-a", "BTCUSDT").unwrap()["target_qty"]
    });
    let btc = symbol(&s, "sim-a", "BTCUSDT").unwrap()["position_qty"].clone();
    let eth = symbol(&s, "sim-a", "ETHUSDT").unwrap()["position_qty"].clone();

    let mut page = Browser::open(&d.url("/"));
    page.wait_for(
        "BTCUSDT's position",
        &row_attr("sim-a", "BTCUSDT", "position"),
        &btc,
    );
    page.wait_for(
        "ETHUSDT's position",
        &row_attr("sim-a", "ETHUSDT", "position"),
        &eth,
    );
    page.wait_for(
        "the account's state",
        "document.querySelector('.account[data-account=\"sim-a\"] [data-state]')?.dataset.state ?? null",
        &json!("ok"),
    );
    page.wait_for(
        "a chart per symbol",
        "document.querySelectorAll('.account[data-account=\"sim-a\"] svg.chart').length",
        &json!(2),
    );
    page.wait_for(
        "the file source in the sources table",
        "document.querySelector('#sources tr[data-source=\"manual\"] [data-symbols]')?.dataset.symbols ?? null",
        &json!("2"),
    );

    // The same page, not reloaded, follows the daemon.
    write(
        cfg.path(),
        "signals/manual.json",
        r#"{"BTCUSDT": {"depth": -0.25}}"#,
    );
    let s = d.wait_until("BTC flipped", WAIT, |s| {
        symbol(s, "sim-a", "BTCUSDT").is_some_and(|b| {
            b["position_qty"].as_str().unwrap_or("").starts_with('-')
                && b["position_qty"] == b["target_qty"]
        })
    });
    let btc = symbol(&s, "sim-a", "BTCUSDT").unwrap()["position_qty"].clone();
    page.wait_for(
        "BTCUSDT's new position without a reload",
        &row_attr("sim-a", "BTCUSDT", "position"),
        &btc,
    );

    assert_eq!(
        page.eval("document.body.dataset.scriptErrors ?? null"),
        Value::Null
    );
    assert!(
        page.errors.is_empty(),
        "the page logged errors: {:#?}",
        page.errors
    );
}
