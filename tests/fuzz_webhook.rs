//! Webhook intake under random input: the payload parser never panics and never accepts a
//! depth outside [-1, 1]; and through the running daemon, garbage gets a 4xx and changes
//! nothing.

mod common;

use common::*;
use proptest::prelude::*;
use rust_decimal::Decimal;
use trade_engine::signals::tradingview::payload;

fn field_value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        (-1e9f64..1e9).prop_map(|n| serde_json::json!(n)),
        prop_oneof![
            Just("long"),
            Just("short"),
            Just("flat"),
            Just("buy"),
            Just("sell"),
            Just("14.08/100"),
            Just("-5/100"),
            Just("150/100"),
            Just("0/0"),
            Just("1/0"),
            Just("Exit @ 3263.55"),
            Just("exit"),
            Just("BTCUSDT"),
            Just(""),
            Just("NaN"),
            Just("1e400"),
            Just("-0"),
            Just("99999999999999999999999999999999"),
            Just("3"),
            Just("0.25"),
            Just("/"),
            Just("a/b"),
        ]
        .prop_map(|s| serde_json::Value::String(s.to_string())),
        "[ -~]{0,24}".prop_map(serde_json::Value::String),
    ]
}

fn body() -> impl Strategy<Value = serde_json::Value> {
    prop::collection::btree_map(
        prop_oneof![
            Just("symbol"), Just("direction"), Just("action"), Just("size"), Just("leverage"),
            Just("price"), Just("signal_seq"), Just("event_id"), Just("depth"), Just("token"),
            Just("extra"),
        ]
        .prop_map(str::to_string),
        prop_oneof![4 => field_value(), 1 => prop::collection::vec(field_value(), 0..3).prop_map(serde_json::Value::Array)],
        0..9,
    )
    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect()))
}

/// Any JSON, nested, with the payload's own keys at every level: wrong types, wrong values,
/// objects where strings belong.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    field_value().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    3 => prop_oneof![
                        Just("symbol"), Just("direction"), Just("action"), Just("size"),
                        Just("leverage"), Just("price"), Just("signal_seq"), Just("depth"),
                    ]
                    .prop_map(str::to_string),
                    1 => "[a-z_]{1,8}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid payload (plain or alert form) with up to three fields replaced by anything.
fn near_valid() -> impl Strategy<Value = serde_json::Value> {
    let base = prop_oneof![
        Just(serde_json::json!({"symbol": "BTCUSDT", "depth": "0.25"})),
        Just(
            serde_json::json!({"symbol": "ETHUSDT", "direction": "long", "size": "14.08/100", "leverage": 3})
        ),
        Just(
            serde_json::json!({"symbol": "BTCUSDT", "action": "sell", "direction": "short", "size": "5/100", "signal_seq": 7})
        ),
    ];
    let fields = prop_oneof![
        Just("symbol"),
        Just("direction"),
        Just("action"),
        Just("size"),
        Just("leverage"),
        Just("price"),
        Just("signal_seq"),
        Just("event_id"),
        Just("depth"),
    ];
    (base, prop::collection::vec((fields, json_value()), 0..3)).prop_map(|(mut b, changes)| {
        for (k, v) in changes {
            b[k] = v;
        }
        b
    })
}

/// Structured JSON reaches the parser's object paths: the same invariants hold, and the run
/// proves it got there (some payloads accepted, many different refusals), which random bytes
/// never do.
#[test]
fn structured_json_of_wrong_types_and_values_is_handled() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(4000));
    let accepted = std::cell::Cell::new(0usize);
    let reasons = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let strategy = prop_oneof![body(), json_value(), near_valid()];
    runner
        .run(&strategy, |v| {
            match payload::parse(&v) {
                Ok(incoming) => {
                    accepted.set(accepted.get() + 1);
                    prop_assert!(incoming.depth.abs() <= Decimal::ONE, "{v}");
                    prop_assert!(!incoming.symbol.is_empty());
                }
                Err(reason) => {
                    prop_assert!(!reason.is_empty());
                    // The reason's kind, without the quoted value.
                    let kind: String = reason.chars().take_while(|c| *c != ':').take(40).collect();
                    reasons.borrow_mut().insert(kind);
                }
            }
            Ok(())
        })
        .expect("structured fuzz");
    let distinct = reasons.borrow().len();
    assert!(
        accepted.get() > 0 && distinct >= 5,
        "the generator must reach the parser's object paths: {} accepted, {distinct} kinds of refusal",
        accepted.get()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    #[test]
    fn parser_never_panics_and_bounds_depth(b in body()) {
        match payload::parse(&b) {
            Ok(incoming) => {
                prop_assert!(incoming.depth >= Decimal::NEGATIVE_ONE && incoming.depth <= Decimal::ONE, "{b}");
                prop_assert!(!incoming.symbol.is_empty());
                if let Some(l) = incoming.leverage {
                    prop_assert!(l > Decimal::ZERO);
                }
            }
            Err(reason) => prop_assert!(!reason.is_empty()),
        }
    }

}

#[test]
fn garbage_through_the_daemon_gets_4xx_and_changes_nothing() {
    let engine = r#"{
      "accounts": [ { "name": "sim-a", "venue": "sim", "sim": { "volatility_bps": 0 } } ],
      "sources": [ { "name": "tradingview", "kind": "tradingview", "token": "fuzz-token-0123456789abcdef",
                     "rate_limit_per_minute": 100000, "rate_limit_burst": 100000 } ],
      "cycle": { "reconcile_interval_secs": 30, "debounce_ms": 20 }
    }"#;
    let weights = r#"[{"symbol": "BTCUSDT", "leverage": 1, "sources": [{"source": "tradingview", "weight": 1}]}]"#;
    let cfg = config_dir(&[("engine.json", engine), ("signal_weights.json", weights)]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    let revision = d.status().unwrap()["targets_revision"].clone();
    let url = d.url("/webhook/tradingview");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(300));
    let answered = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(
            &(body(), any::<bool>(), any::<Vec<u8>>()),
            |(mut b, raw, bytes)| {
                // Bodies carry the right token and an out-of-range depth, so that whatever else
                // the fuzzer puts in them, none may be accepted.
                if let Some(obj) = b.as_object_mut() {
                    obj.insert("depth".into(), serde_json::json!(7));
                    obj.remove("direction");
                    obj.remove("size");
                    obj.insert(
                        "token".into(),
                        serde_json::json!("fuzz-token-0123456789abcdef"),
                    );
                }
                let text = if raw {
                    String::from_utf8_lossy(&bytes).to_string()
                } else {
                    b.to_string()
                };
                if let Some((status, reply)) = reqwest::blocking_post(&url, &text, &[]) {
                    answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    prop_assert!(
                        (400..500).contains(&status),
                        "status {status} for {text}: {reply}"
                    );
                }
                Ok(())
            },
        )
        .expect("fuzz run");
    let answered = answered.into_inner();
    assert!(answered > 250, "the daemon answered ({answered})");
    let after = d.status().unwrap();
    assert_eq!(after["targets_revision"], revision, "no target changed");
    assert!(symbol(&after, "sim-a", "BTCUSDT").is_none_or(|s| dec(&s["position_qty"]).is_zero()));
    assert!(
        !d.log_text().contains("fuzz-token-0123456789abcdef"),
        "the token is never logged"
    );
}
