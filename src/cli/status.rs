//! `status`: the running daemon's `/status` as a table, so an operator on the box needs neither
//! curl nor jq.

use super::{absolute, Cli};
use crate::config::ConfigSet;
use rust_decimal::Decimal;
use serde_json::Value;
use std::fmt::Write as _;
use std::time::Duration;

/// The daemon's base URL: `--url`, else `server.listen` from engine.json. A wildcard listen
/// address is reached on loopback, since this command runs on the daemon's host.
fn base_url(cli: &Cli, url: Option<&str>) -> Result<String, String> {
    if let Some(url) = url {
        return Ok(url.trim_end_matches('/').to_string());
    }
    let engine = ConfigSet::load_engine_only(&absolute(&cli.config_dir))
        .map_err(|e| format!("config error: {e} (or pass --url)"))?;
    let listen = engine.server.listen;
    let addr: std::net::SocketAddr = listen
        .parse()
        .map_err(|e| format!("server.listen \"{listen}\" in engine.json is not ip:port: {e}"))?;
    let host = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
        ip if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        std::net::IpAddr::V4(ip) => ip.to_string(),
    };
    Ok(format!("http://{host}:{}", addr.port()))
}

async fn fetch(base: &str) -> Result<Value, String> {
    let url = format!("{base}/status");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let resp = client.get(&url).send().await.map_err(|e| {
        format!("the daemon does not answer at {url} (is it running? check `systemctl status trade-engine`, server.listen or --url): {e}")
    })?;
    let code = resp.status();
    if !code.is_success() {
        return Err(format!("{url} answered {code}"));
    }
    resp.json()
        .await
        .map_err(|e| format!("{url} did not answer a status document: {e}"))
}

pub async fn print(cli: &Cli, json: bool, url: Option<&str>) -> Result<(), String> {
    let base = base_url(cli, url)?;
    let status = fetch(&base).await?;
    if json {
        let text = serde_json::to_string_pretty(&status)
            .map_err(|e| format!("cannot print the status: {e}"))?;
        println!("{text}");
    } else {
        print!("{}", table(&status));
    }
    Ok(())
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn dec(v: &Value) -> Option<Decimal> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

/// Drift in whole lots, rounded toward zero like the orders that would close it.
fn drift_lots(symbol: &Value) -> String {
    match (
        dec(&symbol["target_qty"]),
        dec(&symbol["position_qty"]),
        dec(&symbol["lot"]),
    ) {
        (Some(t), Some(p), Some(lot)) if !lot.is_zero() => ((t - p) / lot).trunc().to_string(),
        _ => "-".to_string(),
    }
}

/// Renders the status document; missing fields show as `-` so an older daemon still prints.
pub fn table(status: &Value) -> String {
    let mut out = String::new();
    let cycle = &status["cycle"];
    let _ = writeln!(
        out,
        "cycle {} (last completed {})",
        text(&cycle["number"]),
        text(&cycle["last_completed"])
    );
    let empty = Vec::new();
    let accounts = status["accounts"].as_array().unwrap_or(&empty);
    let mut rows = vec![vec![
        "ACCOUNT".to_string(),
        "VENUE".into(),
        "STATE".into(),
        "VALUE".into(),
        "REASON".into(),
    ]];
    for a in accounts {
        rows.push(vec![
            text(&a["name"]),
            text(&a["venue"]),
            text(&a["state"]),
            text(&a["account_value"]),
            text(&a["reason"]),
        ]);
    }
    out.push_str(&render(&rows));
    let mut rows = vec![vec![
        "ACCOUNT".to_string(),
        "SYMBOL".into(),
        "TARGET".into(),
        "POSITION".into(),
        "DRIFT_LOTS".into(),
        "LAST_ERROR".into(),
    ]];
    for a in accounts {
        for s in a["symbols"].as_array().unwrap_or(&empty) {
            rows.push(vec![
                text(&a["name"]),
                text(&s["symbol"]),
                text(&s["target_qty"]),
                text(&s["position_qty"]),
                drift_lots(s),
                text(&s["last_error"]),
            ]);
        }
    }
    out.push('\n');
    out.push_str(&render(&rows));
    out
}

fn render(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_is_in_whole_lots_toward_zero() {
        let s = serde_json::json!({"target_qty": "0.035", "position_qty": "0.01", "lot": "0.01"});
        assert_eq!(drift_lots(&s), "2");
        let s = serde_json::json!({"target_qty": "0", "position_qty": "0.035", "lot": "0.01"});
        assert_eq!(drift_lots(&s), "-3");
    }
}
