//! Every case of the shared signing vectors (tests/fixtures/vectors/bybit.json, computed by
//! ccxt and an independent HMAC) reproduced byte for byte: string to sign, headers, signature.

use super::*;
use serde_json::Value;
use url::Url;

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/vectors/bybit.json"
));

fn cases() -> Vec<Value> {
    let file: Value = serde_json::from_str(VECTORS).unwrap();
    file["cases"].as_array().unwrap().clone()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

/// The request a case describes, built the way the adapter builds requests.
fn prepared(case: &Value) -> PreparedRequest {
    let base = Url::parse("https://api.bybit.com").unwrap();
    let (path, query) = s(&case["path"])
        .split_once('?')
        .unwrap_or((s(&case["path"]), ""));
    let method = Method::from_bytes(s(&case["method"]).as_bytes()).unwrap();
    let body = Some(s(&case["body"]).to_string()).filter(|b| !b.is_empty());
    PreparedRequest::new(method, &base, path, query, body).unwrap()
}

fn header<'a>(req: &'a PreparedRequest, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn rest_vectors_reproduced() {
    let mut checked = 0;
    for case in cases().iter().filter(|c| c.get("expires").is_none()) {
        let name = s(&case["name"]);
        let req = prepared(case);
        // The bytes on the wire are the bytes of the vector.
        assert_eq!(req.path_and_query(), s(&case["path"]), "{name}: path");
        assert_eq!(req.body_str(), s(&case["body"]), "{name}: body");

        let ts = case["timestamp"].as_i64().unwrap();
        let payload = if req.method == Method::GET {
            req.query()
        } else {
            req.body_str()
        };
        let sts = string_to_sign(
            &ts.to_string(),
            s(&case["api_key"]),
            &case["recv_window"].as_u64().unwrap().to_string(),
            payload,
        );
        assert_eq!(sts, s(&case["string_to_sign"]), "{name}: string to sign");
        assert_eq!(
            hmac_hex(s(&case["api_secret"]), &sts),
            s(&case["expected_signature"]),
            "{name}: signature"
        );

        let signer = BybitSigner::new(
            Secret::new(s(&case["api_key"])),
            Secret::new(s(&case["api_secret"])),
        );
        let mut signed = req.clone();
        signer.sign_at(&mut signed, ts);
        for (k, v) in case["expected_headers"].as_object().unwrap() {
            assert_eq!(header(&signed, k), Some(s(v)), "{name}: header {k}");
        }
        checked += 1;
    }
    assert_eq!(checked, cases().len() - 1, "all REST cases checked");
}

#[test]
fn whitespace_in_the_body_changes_the_signature() {
    let case = cases()
        .into_iter()
        .find(|c| c["name"] == "pitfall_body_whitespace_changes_signature")
        .unwrap();
    let signer = BybitSigner::new(
        Secret::new(s(&case["api_key"])),
        Secret::new(s(&case["api_secret"])),
    );
    let ts = case["timestamp"].as_i64().unwrap();
    let mut spaced = prepared(&case);
    signer.sign_at(&mut spaced, ts);
    assert_eq!(
        header(&spaced, "X-BAPI-SIGN"),
        Some(s(&case["expected_signature"]))
    );
    let compact_body =
        serde_json::to_string(&serde_json::from_str::<Value>(s(&case["body"])).unwrap()).unwrap();
    let mut compact = PreparedRequest::new(
        Method::POST,
        &Url::parse("https://api.bybit.com").unwrap(),
        s(&case["path"]),
        "",
        Some(compact_body),
    )
    .unwrap();
    signer.sign_at(&mut compact, ts);
    assert_eq!(
        header(&compact, "X-BAPI-SIGN"),
        Some(s(&case["compact_body_signature_for_contrast"]))
    );
}

#[test]
fn ws_auth_vector_reproduced() {
    let case = cases()
        .into_iter()
        .find(|c| c["name"] == "ws_private_auth")
        .unwrap();
    let expires = case["expires"].as_i64().unwrap();
    assert_eq!(ws_string_to_sign(expires), s(&case["string_to_sign"]));
    let signer = BybitSigner::new(
        Secret::new(s(&case["api_key"])),
        Secret::new(s(&case["api_secret"])),
    );
    let frame: Value = serde_json::from_str(&signer.ws_auth_frame(expires)).unwrap();
    let expected = &case["expected_ws_message"];
    assert_eq!(frame["op"], expected["op"]);
    assert_eq!(frame["args"], expected["args"]);
    assert_eq!(frame["args"][2], case["expected_signature"]);
}

#[test]
fn signer_debug_and_key_id_hide_the_credentials() {
    let signer = BybitSigner::new(Secret::new("MYKEY123"), Secret::new("hunter2"));
    let shown = format!("{signer:?} {}", signer.key_id());
    assert!(
        !shown.contains("MYKEY123") && !shown.contains("hunter2"),
        "{shown}"
    );
}
