//! `halt`, `resume` and `flatten`: the operator's brakes.

use super::{absolute, Cli};
use crate::config::ConfigSet;
use crate::domain::{OrderKind, OrderRequest, Side};
use crate::venue::{self, RejectKind};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

fn kill_switch(cli: &Cli) -> Result<(ConfigSet, PathBuf), String> {
    let config =
        ConfigSet::load(&absolute(&cli.config_dir)).map_err(|e| format!("config error: {e}"))?;
    let state_dir = absolute(&cli.state_dir);
    let path = state_dir.join(&config.engine.risk.kill_switch_file);
    Ok((config, path))
}

pub fn halt(cli: &Cli) -> Result<(), String> {
    let (_, path) = kill_switch(cli)?;
    let text = format!(
        "halted by `trade-engine halt` at {}\n",
        chrono::Utc::now().to_rfc3339()
    );
    crate::state::atomic_write(&path, text.as_bytes()).map_err(|e| e.to_string())?;
    println!(
        "kill switch engaged: {} (no new exposure; `trade-engine resume` to trade again)",
        path.display()
    );
    Ok(())
}

pub fn resume(cli: &Cli) -> Result<(), String> {
    let (_, path) = kill_switch(cli)?;
    match std::fs::remove_file(&path) {
        Ok(()) => println!("kill switch removed: {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("kill switch was not engaged")
        }
        Err(e) => return Err(format!("cannot remove {}: {e}", path.display())),
    }
    Ok(())
}

/// Engages the kill switch first, so a running daemon does not reopen what is closed here.
/// Closes are reduce-only market orders: repeating `flatten` can never overshoot.
pub async fn flatten(cli: &Cli, only: Option<&str>) -> Result<(), String> {
    halt(cli)?;
    let (config, _) = kill_switch(cli)?;
    let state_dir = absolute(&cli.state_dir);
    if let Some(name) = only {
        if config.account(name).is_none() {
            return Err(format!("no account named \"{name}\" in engine.json"));
        }
    }
    let mut failures = 0;
    for account in config
        .engine
        .accounts
        .iter()
        .filter(|a| only.is_none_or(|n| n == a.name))
    {
        let credential = account
            .credentials
            .as_deref()
            .and_then(|c| config.credentials.get(c));
        let venue = match venue::build(account, credential, &state_dir) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("{}: cannot reach {}: {e}", account.name, account.venue);
                failures += 1;
                continue;
            }
        };
        match venue.cancel_all(None).await {
            Ok(n) => println!("{}: cancelled {n} open orders", account.name),
            Err(e) => {
                eprintln!("{}: cancelling open orders failed: {e}", account.name);
                failures += 1;
            }
        }
        let positions = match venue.positions().await {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{}: cannot read positions: {e}", account.name);
                failures += 1;
                continue;
            }
        };
        for position in positions.into_iter().filter(|p| !p.qty.is_zero()) {
            let stamp = chrono::Utc::now().timestamp_millis();
            let digest = hex::encode(Sha256::digest(format!(
                "{}\0{}\0{stamp}",
                account.name, position.native
            )));
            let request = OrderRequest {
                client_order_id: format!("tf{}", &digest[..30]),
                native: position.native.clone(),
                side: Side::for_delta(-position.qty),
                qty: position.qty.abs(),
                kind: OrderKind::Market,
                price: None,
                reduce_only: true,
            };
            match venue.place_order(&request).await {
                Ok(ack) => println!(
                    "{}: closed {} {} ({}, filled {})",
                    account.name, position.native, position.qty, ack.status, ack.filled_qty
                ),
                Err(e) if e.reject_kind() == Some(RejectKind::ReduceOnly) => {
                    println!("{}: {} already flat", account.name, position.native)
                }
                Err(e) => {
                    eprintln!("{}: closing {} failed: {e}", account.name, position.native);
                    failures += 1;
                }
            }
        }
    }
    if failures > 0 {
        return Err(format!(
            "flatten finished with {failures} failures; run it again once the venue answers"
        ));
    }
    Ok(())
}
