//! The HTTP dialect: quota headers, 401 codes and 429000 with and without the reset header,
//! and the documented limits stated exactly.

use super::*;
use reqwest::header::HeaderValue;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn quota_headers_are_read_in_milliseconds() {
    let h = headers(&[
        ("gw-ratelimit-limit", "2000"),
        ("gw-ratelimit-remaining", "1"),
        ("gw-ratelimit-reset", "12345"),
    ]);
    assert_eq!(
        KucoinDialect.rate_headers(&h),
        Some((1, Some(Duration::from_millis(12345))))
    );
    assert_eq!(KucoinDialect.rate_headers(&HeaderMap::new()), None);
}

#[test]
fn a_429000_waits_until_the_reset() {
    let body = r#"{"code":"429000","msg":"Too Many Requests"}"#;
    let h = headers(&[
        ("gw-ratelimit-remaining", "0"),
        ("gw-ratelimit-reset", "27000"),
    ]);
    match KucoinDialect.classify(429, &h, body) {
        Some(VenueError::RateLimited { retry_after }) => {
            assert_eq!(retry_after, Duration::from_millis(27000))
        }
        other => panic!("{other:?}"),
    }
    // Without headers: KuCoin's own overload, a short pause.
    match KucoinDialect.classify(429, &HeaderMap::new(), body) {
        Some(VenueError::RateLimited { retry_after }) => assert_eq!(retry_after, OVERLOAD_BACKOFF),
        other => panic!("{other:?}"),
    }
    // The same code inside an HTTP 200 opens the breaker too.
    assert!(matches!(
        KucoinDialect.classify(200, &h, body),
        Some(VenueError::RateLimited { .. })
    ));
    assert!(KucoinDialect
        .classify(200, &h, r#"{"code":"200000","data":{}}"#)
        .is_none());
}

#[test]
fn http_401_names_the_auth_code() {
    for (code, words) in [
        ("400001", "headers missing"),
        ("400002", "clock"),
        ("400003", "does not exist"),
        ("400004", "passphrase"),
        ("400005", "signature"),
    ] {
        let body = format!(r#"{{"code":"{code}","msg":"x"}}"#);
        match KucoinDialect.classify(401, &HeaderMap::new(), &body) {
            Some(VenueError::Auth(m)) => assert!(m.contains(code) && m.contains(words), "{m}"),
            other => panic!("{code}: {other:?}"),
        }
    }
}

#[test]
fn the_documented_pools_as_documented() {
    let p = limit_policy();
    assert_eq!(
        p.ip,
        Rate {
            count: 2000,
            period: Duration::from_secs(30)
        }
    );
    assert_eq!(
        p.buckets,
        vec![(
            "futures",
            Rate {
                count: 2000,
                period: Duration::from_secs(30)
            }
        )]
    );
}
