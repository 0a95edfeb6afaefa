//! A loopback SN8 validator serving a `/miner-positions` dump built from the real miners in
//! tests/fixtures/bittensor, on its own runtime thread.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

pub const API_KEY: &str = "sn8-e2e-key-0001";

pub struct Validator {
    pub port: u16,
    /// 200 serves the dump; anything else is answered with that status.
    pub status: Arc<AtomicU16>,
    _runtime: tokio::runtime::Runtime,
}

impl Validator {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/miner-positions", self.port)
    }

    pub fn serve_status(&self, code: u16) {
        self.status.store(code, Ordering::SeqCst);
    }
}

pub fn dump() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bittensor");
    let mut out = serde_json::Map::new();
    for entry in std::fs::read_dir(dir).expect("fixtures") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(hotkey) = name.strip_suffix(".positions.json") else {
            continue;
        };
        let positions: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        let all_time_returns = compounded(&positions);
        out.insert(
            hotkey.to_string(),
            serde_json::json!({ "positions": positions, "all_time_returns": all_time_returns }),
        );
    }
    serde_json::Value::Object(out).to_string()
}

/// `all_time_returns` as the source sheet says to build it: Π of the positions' returns (at
/// close once closed, else now), as a decimal string.
fn compounded(positions: &serde_json::Value) -> String {
    let read = |v: &serde_json::Value| v.to_string().parse::<rust_decimal::Decimal>().ok();
    positions
        .as_array()
        .expect("positions array")
        .iter()
        .map(|p| {
            let field = if p["is_closed_position"] == true {
                "return_at_close"
            } else {
                "current_return"
            };
            read(&p[field]).expect("every fixture position has its return")
        })
        .product::<rust_decimal::Decimal>()
        .round_dp(6)
        .to_string()
}

pub fn start() -> Validator {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let status = Arc::new(AtomicU16::new(200));
    let body = Arc::new(dump());
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let served = status.clone();
    let app = axum::Router::new().route(
        "/miner-positions",
        axum::routing::get(move |request_body: String| {
            let served = served.clone();
            let body = body.clone();
            async move {
                let key_ok = serde_json::from_str::<serde_json::Value>(&request_body)
                    .ok()
                    .is_some_and(|v| v["api_key"] == API_KEY);
                let code = served.load(Ordering::SeqCst);
                if !key_ok {
                    (
                        axum::http::StatusCode::UNAUTHORIZED,
                        String::from(r#"{"error": "Unauthorized access"}"#),
                    )
                } else if code == 200 {
                    (axum::http::StatusCode::OK, body.to_string())
                } else {
                    (
                        axum::http::StatusCode::from_u16(code).expect("status"),
                        String::new(),
                    )
                }
            }
        }),
    );
    runtime.spawn(async move { axum::serve(listener, app).await });
    Validator {
        port,
        status,
        _runtime: runtime,
    }
}
