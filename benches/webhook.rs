//! Webhook benchmark on the sim venue, against the real daemon binary over loopback.
//!
//! - webhook → first order: time from sending a webhook that moves the BTCUSDT target until
//!   the daemon's `orders_sent_total` counter moves (polled every millisecond, so figures are
//!   up to ~1 ms late), with `debounce_ms` 0 and the shipped 100;
//! - intake throughput: concurrent webhooks for symbols that no weight uses (so only the
//!   intake works: parse, order, journal fsync, signal book write), and their latency.
//!
//! `cargo bench --bench webhook` (optional args: latency samples, intake requests).

#[path = "../tests/common/mod.rs"]
mod common;

use common::Daemon;
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-token-0123456789abcdef";

fn engine(debounce_ms: u64) -> String {
    format!(
        r#"{{
  "accounts": [ {{ "name": "sim-a", "venue": "sim", "sim": {{ "seed": 7, "volatility_bps": 0 }} }} ],
  "sources": [ {{ "name": "tradingview", "kind": "tradingview", "token": "{TOKEN}",
                 "rate_limit_per_minute": 100000000, "rate_limit_burst": 100000 }},
               {{ "name": "bench", "kind": "tradingview", "token": "{TOKEN}",
                 "rate_limit_per_minute": 100000000, "rate_limit_burst": 100000 }} ],
  "cycle": {{ "reconcile_interval_secs": 3600, "debounce_ms": {debounce_ms} }},
  "logging": {{ "level": "warn" }}
}}"#
    )
}

/// The intake run posts to the `bench` source, whose 50 symbols map to BTCUSDT with weight 0:
/// every signal is stored (a webhook for a symbol the config does not use is refused) and
/// none moves a target.
const WEIGHTS: &str = r#"[
  { "symbol": "BTCUSDT", "leverage": 2, "sources": [ { "source": "tradingview", "weight": 1.0 },
                                                     { "source": "bench", "weight": 0 } ] }
]"#;

fn mapping() -> String {
    let symbols: Vec<String> = (0..50)
        .map(|i| format!(r#""BENCH{i}USDT": "BTCUSDT""#))
        .collect();
    format!(r#"{{ "bench": {{ {} }} }}"#, symbols.join(", "))
}

fn start(debounce_ms: u64) -> (Daemon, tempfile::TempDir, tempfile::TempDir) {
    let cfg = common::config_dir(&[
        ("engine.json", &engine(debounce_ms)),
        ("signal_weights.json", WEIGHTS),
        ("asset_mapping.json", &mapping()),
    ]);
    let state = tempfile::tempdir().expect("state dir");
    let d = Daemon::start_with_env(cfg.path(), state.path(), &[("RUST_LOG", "warn")]);
    (d, cfg, state)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    // Nearest-rank percentile.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn orders_sent(client: &reqwest::Client, base: &str) -> u64 {
    let text = match client.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => return 0,
    };
    text.lines()
        .find_map(|l| l.strip_prefix("trade_engine_orders_sent_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

async fn post(client: &reqwest::Client, base: &str, body: String) -> u16 {
    post_to(client, base, "tradingview", body).await
}

async fn post_to(client: &reqwest::Client, base: &str, source: &str, body: String) -> u16 {
    client
        .post(format!("{base}/webhook/{source}"))
        .header("x-webhook-token", TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

async fn latency(base: String, samples: usize) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let mut out = Vec::with_capacity(samples);
    for i in 0..samples {
        let before = orders_sent(&client, &base).await;
        // Alternate between two targets, each a whole number of lots away from the other.
        let depth = if i % 2 == 0 { "0.3" } else { "0.1" };
        let started = Instant::now();
        let status = post(
            &client,
            &base,
            format!(r#"{{"symbol": "BTCUSDT", "depth": {depth}}}"#),
        )
        .await;
        assert_eq!(status, 200, "webhook refused");
        loop {
            if orders_sent(&client, &base).await > before {
                out.push(started.elapsed());
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "no order");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Let the cycle finish before the next sample.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    out
}

async fn intake(base: String, requests: usize, concurrency: usize) -> (Duration, Vec<Duration>) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let client = client.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in (worker..requests).step_by(concurrency) {
                let depth = if i % 2 == 0 { "0.2" } else { "-0.2" };
                let body = format!(r#"{{"symbol": "BENCH{}USDT", "depth": {depth}}}"#, i % 50);
                let t = Instant::now();
                let status = post_to(&client, &base, "bench", body).await;
                assert_eq!(status, 200, "webhook refused");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("worker"));
    }
    (started.elapsed(), all)
}

fn report_latency(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "webhook -> first order ({label}): n={} median {} p99 {} min {} max {}",
        samples.len(),
        ms(percentile(&samples, 50.0)),
        ms(percentile(&samples, 99.0)),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
    );
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let samples = args.first().copied().unwrap_or(100);
    let requests = args.get(1).copied().unwrap_or(2000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    for debounce in [0u64, 100] {
        let (d, _cfg, _state) = start(debounce);
        let base = d.url("");
        let latencies = runtime.block_on(latency(base, samples));
        report_latency(&format!("debounce_ms {debounce}"), latencies);
        d.stop();
    }

    let (d, _cfg, _state) = start(100);
    let base = d.url("");
    for concurrency in [1usize, 8] {
        let (elapsed, mut latencies) =
            runtime.block_on(intake(base.clone(), requests, concurrency));
        latencies.sort();
        println!(
            "webhook intake ({concurrency} concurrent): {} requests in {:.2} s = {:.0} req/s; latency median {} p99 {}",
            latencies.len(),
            elapsed.as_secs_f64(),
            latencies.len() as f64 / elapsed.as_secs_f64(),
            ms(percentile(&latencies, 50.0)),
            ms(percentile(&latencies, 99.0)),
        );
    }
    d.stop();
}
