//! Engine benchmarks: planner cost, and the running daemon's cycle time and memory on the sim
//! venue. Figures are medians over repeated runs; nothing here is asserted.
//!
//! Run: `cargo bench --bench engine`

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::time::{Duration, Instant};
use trade_engine::domain::{ContractKind, Instrument, Symbol};
use trade_engine::execution::planner::{plan, Allowed, PlanInput};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

fn planner() {
    let inst = Instrument {
        symbol: Symbol::new("BTCUSDT"),
        native: "BTCUSDT".into(),
        kind: ContractKind::Linear,
        tick: dec!(0.1),
        lot: dec!(0.001),
        min_qty: dec!(0.001),
        max_qty: Some(dec!(100)),
        contract_value: Decimal::ONE,
        min_notional_usd: dec!(5),
        max_leverage: None,
    };
    let mut runs = Vec::new();
    let n = 200_000u32;
    for _ in 0..7 {
        let start = Instant::now();
        let mut intents = 0usize;
        for i in 0..n {
            let position = Decimal::new((i % 2001) as i64 - 1000, 3);
            let target = Decimal::new(((i * 7919) % 3001) as i64 - 1500, 3);
            let p = plan(&PlanInput {
                position,
                open_orders: &[],
                target,
                instrument: &inst,
                usd_per_unit: dec!(60000),
                min_notional_usd: dec!(5),
                allowed: Allowed::Any,
            });
            intents += p.intents.len();
        }
        std::hint::black_box(intents);
        runs.push(start.elapsed().as_nanos() as f64 / n as f64);
    }
    println!(
        "planner: median {:.0} ns per plan ({} plans × 7 runs)",
        median(runs),
        n
    );
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn get(url: &str) -> Option<serde_json::Value> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let body = reqwest::get(url).await.ok()?.text().await.ok()?;
        serde_json::from_str(&body).ok()
    })
}

fn daemon() {
    let binary =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/trade-engine");
    if !binary.exists() {
        println!("daemon: skipped (build it first: cargo build --release)");
        return;
    }
    let cfg = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        cfg.path().join("engine.json"),
        r#"{"accounts": [{"name": "a", "venue": "sim"}, {"name": "b", "venue": "sim"}],
            "sources": [{"name": "manual", "kind": "file", "path": "manual.json"}],
            "cycle": {"reconcile_interval_secs": 1, "debounce_ms": 10}}"#,
    )
    .expect("write");
    let symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT"];
    let weights: Vec<String> = symbols
        .iter()
        .map(|s| format!(r#"{{"symbol": "{s}", "leverage": 2, "sources": [{{"source": "manual", "weight": 1}}]}}"#))
        .collect();
    std::fs::write(
        cfg.path().join("signal_weights.json"),
        format!("[{}]", weights.join(",")),
    )
    .expect("write");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18787);
    let mut child = std::process::Command::new(&binary)
        .args(["run", "--log-format", "json", "--config-dir"])
        .arg(cfg.path())
        .arg("--state-dir")
        .arg(state.path())
        .env("TRADE_ENGINE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let status_url = format!("http://127.0.0.1:{port}/status");
    let mut durations = Vec::new();
    let mut last_cycle = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut flip = false;
    while Instant::now() < deadline && durations.len() < 12 {
        // Alternate the signals so that every cycle trades all symbols on both accounts.
        flip = !flip;
        let depth = if flip { "0.1" } else { "-0.1" };
        let body: Vec<String> = symbols
            .iter()
            .map(|s| format!(r#""{s}": {{"depth": {depth}}}"#))
            .collect();
        let _ = std::fs::write(
            cfg.path().join("manual.json"),
            format!("{{{}}}", body.join(",")),
        );
        std::thread::sleep(Duration::from_millis(700));
        if let Some(s) = get(&status_url) {
            let n = s["cycle"]["number"].as_u64().unwrap_or(0);
            if n > last_cycle && n > 2 {
                if let Some(ms) = s["cycle"]["last_duration_ms"].as_u64() {
                    durations.push(ms as f64);
                }
            }
            last_cycle = n;
        }
    }
    let rss = rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    if durations.is_empty() {
        println!("daemon: no cycles observed");
        return;
    }
    println!(
        "daemon (2 sim accounts × 5 symbols, every cycle trading): median cycle {} ms over {} cycles; RSS {} KiB",
        median(durations.clone()),
        durations.len(),
        rss.map(|r| r.to_string()).unwrap_or_else(|| "n/a".into())
    );
}

fn main() {
    planner();
    daemon();
}
