//! The signing vectors: the fixtures in tests/fixtures/vectors/ must be byte-for-byte the
//! shared ones (`../shared/vectors/` next to the repository, where CI has them; or the folder
//! in `TRADE_ENGINE_SHARED_VECTORS`), and every loopback venue's own signature rule must
//! reproduce every vector. Without the shared folder the comparison says so and passes, so
//! that a checkout on its own still builds and tests.

mod common;

use common::loopback::hmac_sha256_hex;
use common::venues::{bitmex, blofin, bybit, kucoin, mexc};
use serde_json::Value;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vectors")
}

fn shared() -> PathBuf {
    std::env::var_os("TRADE_ENGINE_SHARED_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors"))
}

fn cases(venue: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fixtures().join(format!("{venue}.json"))).expect("fixture");
    let v: Value = serde_json::from_str(&text).expect("json");
    v["cases"].as_array().expect("cases").clone()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[test]
fn fixtures_match_the_shared_vectors() {
    let shared = shared();
    if !shared.is_dir() {
        println!(
            "no shared vectors at {}: comparison skipped",
            shared.display()
        );
        return;
    }
    let mut compared = 0;
    for entry in std::fs::read_dir(fixtures()).expect("fixtures").flatten() {
        let name = entry.file_name();
        let theirs = shared.join(&name);
        let ours = std::fs::read(entry.path()).expect("read fixture");
        let theirs = std::fs::read(&theirs).unwrap_or_else(|e| {
            panic!(
                "{} has no counterpart in {}: {e}",
                name.to_string_lossy(),
                shared.display()
            )
        });
        assert!(
            ours == theirs,
            "tests/fixtures/vectors/{} differs from {}: copy the shared file over it",
            name.to_string_lossy(),
            shared.display()
        );
        compared += 1;
    }
    assert!(compared >= 2, "compared {compared} files");
}

fn check_ws(c: &Value, message: String) {
    assert_eq!(message, text(&c["string_to_sign"]), "{}", c["name"]);
    let sig = hmac_sha256_hex(&text(&c["api_secret"]), &message);
    assert_eq!(sig, text(&c["expected_signature"]), "{}", c["name"]);
}

#[test]
fn the_bybit_loopback_rule_reproduces_every_vector() {
    for c in cases("bybit") {
        let (path, body) = (text(&c["path"]), text(&c["body"]));
        if path == "/realtime" {
            check_ws(&c, bybit::ws_string_to_sign(&text(&c["expires"])));
            continue;
        }
        let payload = if c["method"] == "GET" {
            path.split_once('?')
                .map(|(_, q)| q.to_string())
                .unwrap_or_default()
        } else {
            body
        };
        let message = bybit::string_to_sign(
            &text(&c["timestamp"]),
            &text(&c["api_key"]),
            &text(&c["recv_window"]),
            &payload,
        );
        assert_eq!(message, text(&c["string_to_sign"]), "{}", c["name"]);
        let sig = hmac_sha256_hex(&text(&c["api_secret"]), &message);
        assert_eq!(sig, text(&c["expected_signature"]), "{}", c["name"]);
    }
}

#[test]
fn the_bitmex_loopback_rule_reproduces_every_vector() {
    for c in cases("bitmex") {
        if c["path"] == "/realtime" {
            check_ws(&c, bitmex::ws_string_to_sign(&text(&c["expires"])));
            continue;
        }
        let message = bitmex::string_to_sign(
            &text(&c["method"]),
            &text(&c["path"]),
            &text(&c["expires"]),
            &text(&c["body"]),
        );
        assert_eq!(message, text(&c["string_to_sign"]), "{}", c["name"]);
        let sig = hmac_sha256_hex(&text(&c["api_secret"]), &message);
        assert_eq!(sig, text(&c["expected_signature"]), "{}", c["name"]);
    }
}

/// OANDA signs nothing: every request carries the token as `Authorization: Bearer …`. The
/// loopback accepts exactly the header the vectors show, and refuses anything else.
#[test]
fn the_oanda_loopback_rule_is_the_bearer_header_of_the_vectors() {
    let text = std::fs::read_to_string(fixtures().join("oanda.json")).expect("fixture");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        v["common_headers"]["Authorization"],
        "Bearer <personal-access-token>"
    );
    let mut headers = axum::http::HeaderMap::new();
    let bearer = format!("Bearer {}", common::venues::oanda::TOKEN);
    headers.insert("authorization", bearer.parse().unwrap());
    assert!(common::venues::oanda::authorized(&headers));
    headers.insert("authorization", "Bearer other".parse().unwrap());
    assert!(!common::venues::oanda::authorized(&headers));
    headers.insert(
        "authorization",
        common::venues::oanda::TOKEN.parse().unwrap(),
    );
    assert!(!common::venues::oanda::authorized(&headers), "no scheme");
}

#[test]
fn the_blofin_loopback_rule_reproduces_every_vector() {
    // BloFin's file is a list of cases (path with its query as sent, nonce, prehash).
    let raw = std::fs::read_to_string(fixtures().join("blofin.json")).expect("fixture");
    let cases: Vec<Value> = serde_json::from_str(&raw).expect("json");
    assert_eq!(cases.len(), 12);
    for c in cases {
        let message = blofin::prehash(
            &text(&c["path"]),
            &text(&c["method"]),
            &text(&c["timestamp"]),
            &text(&c["nonce"]),
            &text(&c["body"]),
        );
        assert_eq!(message, text(&c["prehash"]), "{}", c["name"]);
        let sig = blofin::sign(&text(&c["api_secret"]), &message);
        assert_eq!(sig, text(&c["expected_signature"]), "{}", c["name"]);
    }
}
#[test]
fn the_kucoin_loopback_rule_reproduces_every_vector() {
    // KuCoin's file is a plain array of cases.
    let text = std::fs::read_to_string(fixtures().join("kucoin.json")).expect("fixture");
    let cases: Vec<Value> = serde_json::from_str(&text).expect("json");
    assert_eq!(cases.len(), 14);
    for c in cases {
        let path = text_of(&c["path"]);
        let (path, query) = path.split_once('?').unwrap_or((path.as_str(), ""));
        let ts = text_of(&c["timestamp"]);
        let message = kucoin::prehash(
            &ts,
            &text_of(&c["method"]),
            path,
            query,
            &text_of(&c["body"]),
        );
        assert_eq!(message, text_of(&c["prehash"]), "{}", c["name"]);
        let sig = kucoin::sign(&text_of(&c["api_secret"]), &message);
        assert_eq!(sig, text_of(&c["expected_signature"]), "{}", c["name"]);
        if !c["passphrase"].is_null() {
            assert_eq!(
                kucoin::sign(&text_of(&c["api_secret"]), &text_of(&c["passphrase"])),
                text_of(&c["expected_headers"]["KC-API-PASSPHRASE"]),
                "{}",
                c["name"]
            );
        }
    }
}

fn text_of(v: &Value) -> String {
    text(v)
}
#[test]
fn the_mexc_loopback_rule_reproduces_every_vector() {
    let text_of = |v: &Value, k: &str| text(&v[k]);
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("mexc.json")).expect("fixture"),
    )
    .expect("json");
    let (key, secret) = (
        text(&file["inputs"]["api_key"]),
        text(&file["inputs"]["api_secret"]),
    );
    let time = text(&file["inputs"]["request_time_ms"]);
    for c in file["vectors"].as_array().expect("vectors") {
        // GET signs the query as sent, POST the raw body, the stream login nothing.
        let params = match c["method"].as_str() {
            Some("GET") => text_of(c, "param_string"),
            Some(_) => text_of(c, "body"),
            None => String::new(),
        };
        let message = mexc::string_to_sign(&key, &time, &params);
        assert_eq!(message, text_of(c, "string_to_sign"), "{}", c["name"]);
        let sig = hmac_sha256_hex(&secret, &message);
        assert_eq!(sig, text_of(c, "signature_independent"), "{}", c["name"]);
        assert_eq!(sig, text_of(c, "signature_openssl"), "{}", c["name"]);
    }
}
