//! `/metrics` against the daemon on the sim venue: the exposition parses, the names an
//! operator alerts on are there, and the gauges follow trades and reloads.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// One sample: metric name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strict reader of the OpenMetrics text format as far as the daemon uses it: every sample
/// belongs to a family declared by `# TYPE` with a `# HELP`, label values are quoted and
/// escaped, values are numbers, and the text ends with `# EOF`.
fn parse(text: &str) -> Vec<Sample> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps: BTreeSet<String> = BTreeSet::new();
    let mut samples = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&"# EOF"),
        "exposition must end with # EOF"
    );
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name) = (parts.next().unwrap(), parts.next().expect("family name"));
            match kw {
                "TYPE" => {
                    let t = parts.next().expect("type").to_string();
                    assert!(
                        [
                            "counter",
                            "gauge",
                            "histogram",
                            "info",
                            "stateset",
                            "unknown"
                        ]
                        .contains(&t.as_str()),
                        "{line}"
                    );
                    assert!(types.insert(name.to_string(), t).is_none(), "twice: {line}");
                }
                "HELP" => {
                    helps.insert(name.to_string());
                }
                "UNIT" => {}
                _ => panic!("unexpected comment: {line}"),
            }
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("no value: {line}"),
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name: {line}"
        );
        let mut labels = BTreeMap::new();
        let mut rest = rest;
        if let Some(body) = rest.strip_prefix('{') {
            let mut pos = 0;
            loop {
                let eq = body[pos..].find('=').expect("label =") + pos;
                let key = body[pos..eq].to_string();
                assert_eq!(
                    body.get(eq + 1..eq + 2),
                    Some("\""),
                    "unquoted value: {line}"
                );
                let mut value = String::new();
                let mut it = body[eq + 2..].char_indices();
                let close = loop {
                    match it.next().expect("unterminated value") {
                        (i, '"') => break eq + 2 + i,
                        (_, '\\') => match it.next().expect("escape").1 {
                            'n' => value.push('\n'),
                            c => value.push(c),
                        },
                        (_, c) => value.push(c),
                    }
                };
                labels.insert(key, value);
                pos = close + 2;
                match body.get(close + 1..close + 2) {
                    Some(",") => {}
                    Some("}") => break,
                    other => panic!("after a label value {other:?}: {line}"),
                }
            }
            rest = &body[pos..];
        }
        let value: f64 = rest
            .trim()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|e| panic!("value of {line}: {e}"));
        let family = ["_total", "_bucket", "_sum", "_count", "_info", "_created"]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .find(|f| types.contains_key(*f))
            .unwrap_or(name);
        assert!(types.contains_key(family), "no # TYPE for {name}");
        assert!(helps.contains(family), "no # HELP for {name}");
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    samples
}

fn scrape(d: &Daemon) -> Vec<Sample> {
    parse(&reqwest::blocking_get(&d.url("/metrics")).expect("/metrics answers"))
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

fn wait_for_metric(d: &Daemon, what: &str, ok: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    let deadline = Instant::now() + WAIT;
    loop {
        let samples = scrape(d);
        if ok(&samples) {
            return samples;
        }
        assert!(Instant::now() < deadline, "{what}: {samples:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn metrics_parse_name_what_alerts_need_and_follow_trades_and_reloads() {
    let cfg = config_dir(&[
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.5}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    let btc = [("account", "sim-a"), ("symbol", "BTCUSDT")];
    let s = wait_for_metric(&d, "BTC long", |s| {
        value(s, "trade_engine_position", &btc).is_some_and(|v| v > 0.15)
    });
    for name in [
        "trade_engine_build_info",
        "trade_engine_kill_switch_engaged",
        "trade_engine_last_cycle_timestamp_seconds",
        "trade_engine_reconcile_interval_seconds",
        "trade_engine_cycle_duration_seconds_bucket",
        "trade_engine_cycle_duration_seconds_count",
        "trade_engine_account_value",
        "trade_engine_target",
        "trade_engine_drift_lots",
        "trade_engine_drift_cycles",
        "trade_engine_signal_age_seconds",
        "trade_engine_cycles_total",
        "trade_engine_orders_sent_total",
    ] {
        assert!(s.iter().any(|x| x.name == name), "{name} missing");
    }
    let ok = [("account", "sim-a"), ("venue", "sim"), ("state", "ok")];
    assert_eq!(value(&s, "trade_engine_account_state", &ok), Some(1.0));
    let halted = [("account", "sim-a"), ("state", "halted")];
    assert_eq!(value(&s, "trade_engine_account_state", &halted), Some(0.0));
    assert_eq!(
        value(&s, "trade_engine_kill_switch_engaged", &[]),
        Some(0.0)
    );
    let sent = [("venue", "sim"), ("outcome", "sent")];
    assert!(value(&s, "trade_engine_orders_total", &sent).is_some_and(|v| v >= 1.0));
    let filled = [("venue", "sim"), ("outcome", "filled")];
    assert!(value(&s, "trade_engine_orders_total", &filled).is_some_and(|v| v >= 1.0));
    assert!(value(&s, "trade_engine_last_cycle_timestamp_seconds", &[]).unwrap() > 1.7e9);
    assert!(value(&s, "trade_engine_cycle_duration_seconds_count", &[]).unwrap() >= 1.0);
    let source = [("source", "manual"), ("kind", "file")];
    assert!(value(&s, "trade_engine_signal_age_seconds", &source).is_some());

    // Every metric the shipped dashboard and alert rules use is one the daemon declares.
    let text = reqwest::blocking_get(&d.url("/metrics")).unwrap();
    let mut declared: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(String::from)
        .collect();
    // Venue request families appear once a venue is talked to (the sim venue is not); a
    // unit test in src/venue/http keeps this list in step with what they render.
    declared.extend(
        trade_engine::venue::http::metrics::FAMILIES
            .iter()
            .chain(&trade_engine::execution::metrics::LABELLED_FAMILIES)
            .map(|f| format!("trade_engine_{f}")),
    );
    for file in ["grafana-dashboard.json", "prometheus-alerts.yml"] {
        let path = format!("{}/contrib/{file}", env!("CARGO_MANIFEST_DIR"));
        let shipped = std::fs::read_to_string(&path).unwrap();
        if file.ends_with(".json") {
            serde_json::from_str::<serde_json::Value>(&shipped).expect("dashboard is JSON");
        }
        let mut rest = shipped.as_str();
        while let Some(i) = rest.find("trade_engine_") {
            rest = &rest[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..end];
            rest = &rest[end..];
            let known = std::iter::once(name)
                .chain(
                    ["_total", "_bucket", "_sum", "_count", "_info"]
                        .iter()
                        .filter_map(|x| name.strip_suffix(x)),
                )
                .any(|f| declared.contains(f));
            assert!(known, "{file} uses {name}, which /metrics does not declare");
        }
    }

    // A signal change moves the position gauge.
    write(
        cfg.path(),
        "signals/manual.json",
        r#"{"BTCUSDT": {"depth": -0.25}}"#,
    );
    wait_for_metric(&d, "BTC short", |s| {
        value(s, "trade_engine_position", &btc).is_some_and(|v| v < -0.07)
            && value(s, "trade_engine_target", &btc).is_some_and(|v| v < -0.07)
    });

    // A refused reload is counted; the good one before it too.
    write(cfg.path(), "engine.json", "{ not json");
    wait_for_metric(&d, "refused reload counted", |s| {
        value(
            s,
            "trade_engine_config_reloads_total",
            &[("outcome", "refused")],
        ) == Some(1.0)
    });
    assert_eq!(d.stop().code(), Some(0));
}

#[test]
fn the_reader_refuses_what_prometheus_would() {
    let ok = "# HELP a x\n# TYPE a counter\na_total{k=\"v\\\"w\",j=\"\"} 1\n# EOF";
    let s = parse(ok);
    assert_eq!(s[0].labels["k"], "v\"w");
    for bad in [
        "# TYPE a counter\na_total 1\n",
        "a 1\n# EOF",
        "# HELP a x\n# TYPE a gauge\na{k=v} 1\n# EOF",
        "# HELP a x\n# TYPE a gauge\na Some(1)\n# EOF",
    ] {
        assert!(std::panic::catch_unwind(|| parse(bad)).is_err(), "{bad}");
    }
}
