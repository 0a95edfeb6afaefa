//! `trade-engine targets`: what each account would hold right now, without trading.

use super::{absolute, Cli};
use crate::config::ConfigSet;
use crate::domain::Symbol;
use crate::signals::SignalBook;
use crate::venue;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Debug, Serialize)]
struct Row {
    account: String,
    venue: String,
    symbol: String,
    native_symbol: String,
    target_depth: Decimal,
    leverage: Decimal,
    account_value: Option<Decimal>,
    target_notional_usd: Option<Decimal>,
    target_qty: Option<Decimal>,
    error: Option<String>,
}

pub async fn print(cli: &Cli, json: bool) -> Result<(), String> {
    let config =
        ConfigSet::load(&absolute(&cli.config_dir)).map_err(|e| format!("config error: {e}"))?;
    let state_dir = absolute(&cli.state_dir);
    let book = SignalBook::open(&state_dir).map_err(|e| e.to_string())?;
    let targets = crate::targets::compute(&config, &book.snapshot(), &mut BTreeSet::new());
    let mut rows = Vec::new();
    for account in &config.engine.accounts {
        let credential = account
            .credentials
            .as_deref()
            .and_then(|c| config.credentials.get(c));
        let built = venue::build(account, credential, &state_dir);
        let value = match &built {
            Ok(v) => v
                .account_value()
                .await
                .map(|a| a.equity_usd)
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        for (symbol, target) in &targets {
            let leverage = account.leverage_override.unwrap_or(target.leverage);
            let depth = if account.enabled {
                target.depth
            } else {
                Decimal::ZERO
            };
            let mut row = Row {
                account: account.name.clone(),
                venue: account.venue.clone(),
                symbol: symbol.clone(),
                native_symbol: symbol.clone(),
                target_depth: depth,
                leverage,
                account_value: value.as_ref().ok().copied(),
                target_notional_usd: None,
                target_qty: None,
                error: value.as_ref().err().cloned(),
            };
            if let (Ok(v), Ok(equity)) = (&built, &value) {
                let native = venue::native_for(account, v.as_ref(), &Symbol::new(symbol));
                row.native_symbol = native.clone();
                let notional = *equity * depth * leverage;
                row.target_notional_usd = Some(notional.round_dp(2));
                match (v.instrument(&native).await, v.quote(&native).await) {
                    (Ok(inst), Ok(q)) => {
                        let per_unit = inst.usd_per_unit(q.mark, q.quote_to_usd);
                        if per_unit > Decimal::ZERO {
                            row.target_qty = Some(inst.round_to_lot(notional / per_unit));
                        }
                    }
                    (Err(e), _) | (_, Err(e)) => row.error = Some(e.to_string()),
                }
            }
            rows.push(row);
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    println!(
        "{:<14} {:<8} {:<10} {:<12} {:>8} {:>6} {:>14} {:>14}  NOTE",
        "ACCOUNT", "VENUE", "SYMBOL", "NATIVE", "DEPTH", "LEV", "NOTIONAL_USD", "QTY"
    );
    for r in rows {
        println!(
            "{:<14} {:<8} {:<10} {:<12} {:>8} {:>6} {:>14} {:>14}  {}",
            r.account,
            r.venue,
            r.symbol,
            r.native_symbol,
            r.target_depth.to_string(),
            r.leverage.to_string(),
            r.target_notional_usd
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into()),
            r.target_qty
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into()),
            r.error.unwrap_or_default()
        );
    }
    Ok(())
}
