//! Fetching the `/miner-positions` dump: the API key sent the way the validator wants it, a
//! deadline on the whole exchange, gzip, a size cap, and decoding while the body streams in
//! (the dump is many MB; only the fields the ranking reads are kept).

use super::config::{AuthMode, Sn8Config};
use super::dump::Dump;
use bytes::Bytes;
use std::io::Read;
use thiserror::Error;
use tokio::sync::mpsc;

#[derive(Debug, Error)]
pub enum FetchError {
    #[error("request to {url} failed: {message}")]
    Request { url: String, message: String },
    #[error("{url} refused the API key of credentials entry \"{credentials}\" (HTTP {status}); check the key and the \"auth\" form")]
    Refused {
        url: String,
        credentials: String,
        status: u16,
    },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} did not deliver the dump within timeout_secs ({secs} s)")]
    Timeout { url: String, secs: u64 },
    #[error("the dump from {url} is larger than max_dump_mb ({limit} bytes)")]
    TooLarge { url: String, limit: u64 },
    #[error("the dump from {url} is not valid JSON: {message}")]
    Decode { url: String, message: String },
}

pub fn client(cfg: &Sn8Config) -> Result<reqwest::Client, FetchError> {
    reqwest::Client::builder()
        .connect_timeout(cfg.timeout)
        .timeout(cfg.timeout)
        .gzip(true)
        .user_agent(concat!("trade-engine/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| FetchError::Request {
            url: shown_url(&cfg.url),
            message: e.to_string(),
        })
}

/// The URL as errors and logs show it: without user info or query, where a key could hide.
pub fn shown_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    if shown.query().is_some() {
        shown.set_query(Some("redacted"));
    }
    shown.to_string()
}

/// One fetch, bounded by `cfg.timeout` from the first byte sent to the last byte decoded.
pub async fn fetch_dump(client: &reqwest::Client, cfg: &Sn8Config) -> Result<Dump, FetchError> {
    let url = shown_url(&cfg.url);
    match tokio::time::timeout(cfg.timeout, fetch_inner(client, cfg)).await {
        Ok(result) => result,
        Err(_) => Err(FetchError::Timeout {
            url,
            secs: cfg.timeout.as_secs(),
        }),
    }
}

async fn fetch_inner(client: &reqwest::Client, cfg: &Sn8Config) -> Result<Dump, FetchError> {
    let url = shown_url(&cfg.url);
    let request_error = |e: reqwest::Error| {
        if e.is_timeout() {
            FetchError::Timeout {
                url: url.clone(),
                secs: cfg.timeout.as_secs(),
            }
        } else {
            // Without the URL: reqwest's text repeats it, and ours is already in front.
            FetchError::Request {
                url: url.clone(),
                message: e.without_url().to_string(),
            }
        }
    };
    let mut request = client
        .get(cfg.url.clone())
        .header(http::header::ACCEPT, "application/json");
    request = match &cfg.auth {
        AuthMode::Body => request
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(serde_json::json!({ "api_key": cfg.api_key.expose() }).to_string()),
        AuthMode::Bearer => request.bearer_auth(cfg.api_key.expose()),
        AuthMode::Header(name) => request.header(name.clone(), cfg.api_key.expose()),
    };
    let mut response = request.send().await.map_err(request_error)?;
    let status = response.status();
    if status == http::StatusCode::UNAUTHORIZED || status == http::StatusCode::FORBIDDEN {
        return Err(FetchError::Refused {
            url,
            credentials: cfg.credentials.clone(),
            status: status.as_u16(),
        });
    }
    if !status.is_success() {
        return Err(FetchError::Status {
            url,
            status: status.as_u16(),
        });
    }
    if response
        .content_length()
        .is_some_and(|len| len > cfg.max_dump_bytes)
    {
        return Err(FetchError::TooLarge {
            url,
            limit: cfg.max_dump_bytes,
        });
    }
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let decoder = tokio::task::spawn_blocking(move || {
        let reader = std::io::BufReader::with_capacity(
            64 * 1024,
            ChannelReader {
                rx,
                chunk: Bytes::new(),
            },
        );
        serde_json::from_reader::<_, Dump>(reader)
    });
    let mut received: u64 = 0;
    let mut pumped = Ok(());
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                received += chunk.len() as u64;
                if received > cfg.max_dump_bytes {
                    pumped = Err(FetchError::TooLarge {
                        url: url.clone(),
                        limit: cfg.max_dump_bytes,
                    });
                    break;
                }
                if tx.send(chunk).await.is_err() {
                    // The decoder stopped early: its error says why.
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                pumped = Err(request_error(e));
                break;
            }
        }
    }
    drop(tx);
    let decoded = decoder.await.map_err(|e| FetchError::Decode {
        url: url.clone(),
        message: e.to_string(),
    })?;
    pumped?;
    decoded.map_err(|e| FetchError::Decode {
        url,
        message: e.to_string(),
    })
}

/// `Read` over the chunks the async side receives; EOF when the sender is dropped.
struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    chunk: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(next) => self.chunk = next,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}
