//! Closing one account's positions: shared by `trade-engine flatten` and
//! `POST /control/flatten`. The caller engages the kill switch first, so the daemon does not
//! reopen what is closed here. Closes are reduce-only market orders: repeating can never
//! overshoot.

use crate::config::{AccountConfig, Credential};
use crate::domain::{OrderKind, OrderRequest, Side};
use crate::venue::{self, RejectKind};
use sha2::{Digest, Sha256};
use std::path::Path;

/// What happened, line by line: `done` for the operator, `failed` for what must be retried.
#[derive(Debug, Default)]
pub struct FlattenReport {
    pub done: Vec<String>,
    pub failed: Vec<String>,
}

pub async fn close_account(
    account: &AccountConfig,
    credential: Option<&Credential>,
    state_dir: &Path,
) -> FlattenReport {
    let mut report = FlattenReport::default();
    let venue = match venue::build(account, credential, state_dir) {
        Ok(v) => v,
        Err(e) => {
            report.failed.push(format!(
                "{}: cannot reach {}: {e}",
                account.name, account.venue
            ));
            return report;
        }
    };
    match venue.cancel_all(None).await {
        Ok(n) => report
            .done
            .push(format!("{}: cancelled {n} open orders", account.name)),
        Err(e) => report.failed.push(format!(
            "{}: cancelling open orders failed: {e}",
            account.name
        )),
    }
    let positions = match venue.positions().await {
        Ok(p) => p,
        Err(e) => {
            report
                .failed
                .push(format!("{}: cannot read positions: {e}", account.name));
            return report;
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
            leverage: None,
            margin_mode: None,
        };
        match venue.place_order(&request).await {
            Ok(ack) => report.done.push(format!(
                "{}: closed {} {} ({}, filled {})",
                account.name, position.native, position.qty, ack.status, ack.filled_qty
            )),
            Err(e) if e.reject_kind() == Some(RejectKind::ReduceOnly) => report.done.push(format!(
                "{}: {} already flat",
                account.name, position.native
            )),
            Err(e) => report.failed.push(format!(
                "{}: closing {} failed: {e}",
                account.name, position.native
            )),
        }
    }
    report
}
