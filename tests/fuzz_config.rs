//! Config parsers under random input: never a panic, always either a valid set or an error
//! that names the file it is about.

use proptest::prelude::*;
use std::path::Path;
use trade_engine::config::ConfigSet;

const ENGINE: &str = include_str!("../config/engine.json");
const WEIGHTS: &str = include_str!("../config/signal_weights.json");
const MAPPING: &str = include_str!("../config/asset_mapping.json");

fn write_set(dir: &Path, engine: &str, weights: &str, mapping: &str, credentials: Option<&str>) {
    std::fs::write(dir.join("engine.json"), engine).unwrap();
    std::fs::write(dir.join("signal_weights.json"), weights).unwrap();
    std::fs::write(dir.join("asset_mapping.json"), mapping).unwrap();
    if let Some(c) = credentials {
        std::fs::write(dir.join("credentials.json"), c).unwrap();
    }
}

fn check(dir: &Path) {
    match ConfigSet::load_with_env(dir, Vec::new()) {
        Ok(set) => assert!(!set.engine.server.listen.is_empty()),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(".json") || msg.contains("environment"),
                "error names no file: {msg}"
            );
        }
    }
}

/// A JSON value of bounded size built from the shapes config files use.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        (-1e6f64..1e6).prop_map(|n| serde_json::json!(n)),
        "[a-zA-Z_0-9.:/ -]{0,12}".prop_map(serde_json::Value::String),
        prop_oneof![
            Just("sim"),
            Just("bybit"),
            Just("BTCUSDT"),
            Just("manual"),
            Just("file")
        ]
        .prop_map(|s| serde_json::Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("accounts".to_string()),
                    Just("name".to_string()),
                    Just("venue".to_string()),
                    Just("symbol".to_string()),
                    Just("leverage".to_string()),
                    Just("sources".to_string()),
                    Just("source".to_string()),
                    Just("weight".to_string()),
                    Just("kind".to_string()),
                    Just("path".to_string()),
                    Just("risk".to_string()),
                    Just("max_leverage".to_string()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_structures_never_panic(engine in json(), weights in json(), mapping in json(), creds in json()) {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), &engine.to_string(), &weights.to_string(), &mapping.to_string(), Some(&creds.to_string()));
        check(dir.path());
    }

    #[test]
    fn mutated_example_never_panics(which in 0usize..3, at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let mut files = [ENGINE.to_string(), WEIGHTS.to_string(), MAPPING.to_string()];
        let target = &mut files[which];
        let mut bytes = target.clone().into_bytes();
        let i = at.index(bytes.len());
        if cut {
            bytes.truncate(i);
        } else {
            bytes[i] = byte;
        }
        *target = String::from_utf8_lossy(&bytes).to_string();
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), &files[0], &files[1], &files[2], None);
        check(dir.path());
    }
}
