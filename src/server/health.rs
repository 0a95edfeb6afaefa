//! `/healthz`: 200 while the daemon can trade, 503 with the reasons when it cannot trade at
//! all (kill switch engaged, state directory not writable, every account in error).

use crate::execution::{Conditions, EngineHandles};
use crate::state::cache::AccountHealth;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

#[derive(Debug, PartialEq, Serialize)]
pub struct HealthReport {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    pub reasons: Vec<String>,
}

/// Why nothing can be traded; empty when something can. `accounts` holds the health of every
/// configured account (a daemon without accounts trades nothing by choice, not by failure).
pub fn unavailable_reasons(
    conditions: &Conditions,
    accounts: &[(String, AccountHealth)],
) -> Vec<String> {
    let mut reasons = Vec::new();
    if let Some(file) = &conditions.kill_switch {
        reasons.push(format!(
            "kill switch engaged ({}): no new exposure",
            file.display()
        ));
    }
    if let Some(e) = &conditions.state_dir_error {
        reasons.push(e.clone());
    }
    if !accounts.is_empty() && accounts.iter().all(|(_, h)| *h == AccountHealth::Error) {
        let names: Vec<&str> = accounts.iter().map(|(n, _)| n.as_str()).collect();
        reasons.push(format!(
            "every account is in error ({}); see /status",
            names.join(", ")
        ));
    }
    reasons
}

pub async fn healthz(State(handles): State<EngineHandles>) -> (StatusCode, Json<HealthReport>) {
    let conditions = handles
        .conditions
        .read()
        .map(|c| c.clone())
        .unwrap_or_default();
    let config = handles.config.borrow().clone();
    let cache = handles.cache.all();
    let accounts: Vec<(String, AccountHealth)> = config
        .engine
        .accounts
        .iter()
        .map(|a| {
            let health = cache.get(&a.name).map(|s| s.health).unwrap_or_default();
            (a.name.clone(), health)
        })
        .collect();
    let reasons = unavailable_reasons(&conditions, &accounts);
    if reasons.is_empty() {
        (
            StatusCode::OK,
            Json(HealthReport {
                status: "ok",
                reasons,
            }),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(HealthReport {
                status: "unavailable",
                reasons,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts(h: &[AccountHealth]) -> Vec<(String, AccountHealth)> {
        h.iter()
            .enumerate()
            .map(|(i, h)| (format!("a{i}"), *h))
            .collect()
    }

    #[test]
    fn healthy_unless_nothing_can_trade() {
        let ok = Conditions::default();
        use AccountHealth::*;
        assert!(unavailable_reasons(&ok, &[]).is_empty());
        assert!(unavailable_reasons(&ok, &accounts(&[Error, Reducing])).is_empty());
        assert!(unavailable_reasons(&ok, &accounts(&[Halted, Ok])).is_empty());
        let all_err = unavailable_reasons(&ok, &accounts(&[Error, Error]));
        assert_eq!(all_err.len(), 1);
        assert!(all_err[0].contains("a0, a1"), "{all_err:?}");

        let halted = Conditions {
            kill_switch: Some("/s/KILL".into()),
            state_dir_error: Some("state directory /s is not writable: denied".into()),
        };
        let reasons = unavailable_reasons(&halted, &accounts(&[Ok]));
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons[0].contains("kill switch engaged (/s/KILL)"));
        assert!(reasons[1].contains("not writable"));
    }
}
