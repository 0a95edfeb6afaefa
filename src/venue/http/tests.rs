use super::*;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use reqwest::Method;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Plain;
impl Dialect for Plain {
    fn rate_headers(&self, headers: &HeaderMap) -> Option<(u64, Option<Duration>)> {
        let remaining = header_u64(headers, "x-remaining")?;
        Some((
            remaining,
            header_u64(headers, "x-reset-ms").map(Duration::from_millis),
        ))
    }
}

async fn serve(app: Router) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Url::parse(&format!("http://{addr}")).unwrap()
}

fn client(base: Url, venue: &'static str, timeout_ms: u64) -> RestClient {
    RestClient::new(
        RestConfig {
            venue,
            base,
            timeout: Duration::from_millis(timeout_ms),
            policy: LimitPolicy::default(),
            read_retries: 2,
        },
        Arc::new(Plain),
    )
    .unwrap()
}

#[tokio::test]
async fn reads_retry_after_5xx() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new().route(
        "/x",
        get(move || {
            let h = h.clone();
            async move {
                if h.fetch_add(1, Ordering::SeqCst) == 0 {
                    (StatusCode::BAD_GATEWAY, "busy")
                } else {
                    (StatusCode::OK, "{\"ok\":true}")
                }
            }
        }),
    );
    let base = serve(app).await;
    let c = client(base.clone(), "t-retry", 2000);
    let req = PreparedRequest::new(Method::GET, &base, "/x", "", None).unwrap();
    let resp = c.send(req, "read", None).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn timeout_after_send_is_unknown_for_orders() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new().route(
        "/order",
        post(move || {
            let h = h.clone();
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(2)).await;
                "{}"
            }
        }),
    );
    let base = serve(app).await;
    let c = client(base.clone(), "t-unknown", 200);
    let req = PreparedRequest::new(Method::POST, &base, "/order", "", Some("{}".into())).unwrap();
    let err = c.send(req, "order", None).await.unwrap_err();
    assert!(matches!(err, VenueError::Unknown(_)), "{err:?}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "an order is never re-sent blindly"
    );
}

#[tokio::test]
async fn server_error_on_order_is_unknown_not_retried() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new().route(
        "/order",
        post(move || {
            let h = h.clone();
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                (StatusCode::SERVICE_UNAVAILABLE, "overloaded")
            }
        }),
    );
    let base = serve(app).await;
    let c = client(base.clone(), "t-5xx", 2000);
    let req = PreparedRequest::new(Method::POST, &base, "/order", "", Some("{}".into())).unwrap();
    assert!(matches!(
        c.send(req, "order", None).await,
        Err(VenueError::Unknown(_))
    ));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn rate_limit_opens_breaker_until_reset() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new().route(
        "/x",
        get(move || {
            let h = h.clone();
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("x-remaining", "0"), ("x-reset-ms", "3000")],
                    "slow down",
                )
            }
        }),
    );
    let base = serve(app).await;
    let c = client(base.clone(), "t-429", 2000);
    let req = PreparedRequest::new(Method::GET, &base, "/x", "", None).unwrap();
    match c.send(req.clone(), "read", None).await {
        Err(VenueError::RateLimited { retry_after }) => {
            assert!(retry_after >= Duration::from_secs(2))
        }
        other => panic!("{other:?}"),
    }
    // The next request is refused locally without reaching the venue.
    assert!(matches!(
        c.send(req, "read", None).await,
        Err(VenueError::CircuitOpen { .. })
    ));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn connection_refused_is_not_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let c = client(base.clone(), "t-refused", 500);
    let req = PreparedRequest::new(Method::POST, &base, "/order", "", Some("{}".into())).unwrap();
    assert!(matches!(
        c.send(req, "order", None).await,
        Err(VenueError::Transport(_))
    ));
}

struct HeaderSigner;
impl Signer for HeaderSigner {
    fn sign(&self, request: &mut PreparedRequest) -> Result<(), VenueError> {
        let payload = format!(
            "{}{}{}",
            request.method,
            request.path_and_query(),
            request.body_str()
        );
        request.set_header("x-sig", payload);
        Ok(())
    }
    fn key_id(&self) -> &str {
        "k1"
    }
}

#[tokio::test]
async fn signer_sees_exact_wire_bytes() {
    let app = Router::new().route(
        "/sig",
        post(
            |headers: axum::http::HeaderMap, uri: axum::http::Uri, body: String| async move {
                let expected = format!("POST{}{}", uri, body);
                let got = headers
                    .get("x-sig")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if got == expected {
                    (StatusCode::OK, "ok")
                } else {
                    (StatusCode::UNAUTHORIZED, "bad signature")
                }
            },
        ),
    );
    let base = serve(app).await;
    let c = client(base.clone(), "t-sig", 2000);
    let q = encode_query(&[("filter", "{\"a\": 1}")]);
    let req =
        PreparedRequest::new(Method::POST, &base, "/sig", &q, Some("{\"x\":1}".into())).unwrap();
    let resp = c.send(req, "order", Some(&HeaderSigner)).await.unwrap();
    assert_eq!(resp.status, 200, "{}", resp.body);
}

#[tokio::test]
async fn latency_rate_limit_refusals_and_the_open_breaker_show_in_metrics() {
    let app = Router::new().route(
        "/x",
        get(|| async {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("x-remaining", "0"), ("x-reset-ms", "3000")],
                "slow down",
            )
        }),
    );
    let base = serve(app).await;
    let c = client(base.clone(), "t-metrics", 2000);
    let req = PreparedRequest::new(Method::GET, &base, "/x", "", None).unwrap();
    assert!(c.send(req.clone(), "read", None).await.is_err());
    assert!(c.send(req, "read", None).await.is_err());
    let mut r = prometheus_client::registry::Registry::with_prefix("trade_engine");
    metrics::venue_metrics().register(&mut r);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
    let host = format!("127.0.0.1:{}", base.port().unwrap());
    for line in [
        "trade_engine_venue_request_duration_seconds_count{venue=\"t-metrics\",endpoint=\"/x\"} 1\n"
            .to_string(),
        "trade_engine_venue_rate_limited_total{venue=\"t-metrics\"} 1\n".to_string(),
        "trade_engine_circuit_breaker_refusals_total{venue=\"t-metrics\"} 1\n".to_string(),
        format!("trade_engine_circuit_breaker_open{{venue=\"t-metrics\",host=\"{host}\"}} 1\n"),
    ] {
        assert!(text.contains(&line), "{line} not in\n{text}");
    }
    assert!(text.contains("trade_engine_rate_limit_wait_seconds_total{venue=\"t-metrics\"}"));
    for family in metrics::FAMILIES {
        assert!(
            text.contains(&format!("# TYPE trade_engine_{family} ")),
            "{family} not declared"
        );
    }
}
