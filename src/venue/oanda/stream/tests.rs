//! The two stream handlers on the vectors' lines (the NDJSON framing itself, split and joined
//! chunks included, is the shared layer's and tested there).

use super::*;
use crate::config::Secret;
use crate::venue::oanda::auth::BearerSigner;
use crate::venue::oanda::rest::{account_path, limit_policy};
use rust_decimal_macros::dec;
use serde_json::Value;

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/vectors/oanda.json"
));

fn line(name: &str) -> String {
    let v: Value = serde_json::from_str(VECTORS).unwrap();
    v["stream_lines"][name].as_str().unwrap().trim().to_string()
}

#[test]
fn prices_become_marks_while_the_stream_is_heard() {
    let marks = Arc::new(Marks::default());
    let mut s = PricingStream::new(
        "https://stream-fxpractice.oanda.com",
        "/v3/accounts/1",
        &["EUR_USD".into()],
        vec![],
        marks.clone(),
    );
    assert!(marks.get("EUR_USD").is_none());
    assert_eq!(s.on_text(&line("pricing_price_line")).unwrap(), vec![]);
    let (mid, at) = marks.get("EUR_USD").unwrap();
    assert_eq!(mid, dec!(1.085));
    assert_eq!(at.timestamp(), 1714564802);
    // A heartbeat later: the same price, valid as of the heartbeat.
    s.on_text(&line("pricing_heartbeat_line")).unwrap();
    let (_, at) = marks.get("EUR_USD").unwrap();
    assert_eq!(at.timestamp(), 1714564805);
    assert!(marks.get("USD_JPY").is_none());
    assert!(s.on_text("not json").is_err());
    // A new connection starts from nothing (its snapshot refills the marks).
    futures::executor::block_on(s.prepare()).unwrap();
    assert!(marks.get("EUR_USD").is_none());
}

fn rest() -> Arc<Rest> {
    let signer = Arc::new(BearerSigner::new(Secret::new("t")));
    Arc::new(
        Rest::new(
            crate::venue::http::RestConfig {
                venue: "oanda-test",
                base: url::Url::parse("http://127.0.0.1:9").unwrap(),
                timeout: Duration::from_millis(200),
                policy: limit_policy(),
                read_retries: 0,
            },
            signer,
            "fx".into(),
            "1",
        )
        .unwrap(),
    )
}

#[tokio::test]
async fn transactions_track_the_last_id_and_skip_what_was_seen() {
    let events = broadcast::channel(16).0;
    let last: LastId = Arc::default();
    let mut s = TransactionStream::new(
        "https://stream-fxpractice.oanda.com/",
        &account_path("101-004-1234567-001"),
        vec![],
        last.clone(),
        rest(),
        events,
        "fx".into(),
    );
    let session = s.prepare().await.unwrap();
    let v: Value = serde_json::from_str(VECTORS).unwrap();
    assert_eq!(session.url, v["requests"]["transaction_stream"]["url"]);
    // The first heartbeat tells where the account is; nothing was missed yet.
    let hb = line("transaction_heartbeat_line");
    assert_eq!(s.on_text(&hb).unwrap(), vec![]);
    assert_eq!(*last.lock().unwrap(), Some(6369));
    // The fill 6369 was seen (through the heartbeat): not reported twice.
    assert_eq!(
        s.on_text(&line("transaction_line_order_fill")).unwrap(),
        vec![]
    );
    let next = r#"{"id":"6370","type":"ORDER_FILL","orderID":"6368","clientOrderID":"te-1","instrument":"EUR_USD","units":"-5","price":"1.1","time":"2024-05-01T12:00:00Z"}"#;
    assert_eq!(s.on_text(next).unwrap().len(), 2);
    assert_eq!(*last.lock().unwrap(), Some(6370));
    // A jump (6371 missing) is reported and read back in the background; the line itself
    // still counts.
    let jump = next.replace("6370", "6372");
    assert_eq!(s.on_text(&jump).unwrap().len(), 2);
    assert_eq!(*last.lock().unwrap(), Some(6372));
}
