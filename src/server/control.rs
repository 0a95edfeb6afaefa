//! Control over HTTP: `POST /control/halt` and `/control/resume`, off (404) unless
//! `server.control_token` names a credentials entry; a wrong or missing token is 403.

use crate::execution::EngineHandles;
use crate::state::KillSwitch;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use subtle::ConstantTimeEq;

pub const TOKEN_HEADER: &str = "x-control-token";

/// The kill switch, once the request carries the configured token; else the answer to give.
fn authorise(handles: &EngineHandles, headers: &HeaderMap) -> Result<KillSwitch, StatusCode> {
    let config = handles.config.borrow().clone();
    let Some(name) = config.engine.server.control_token.as_deref() else {
        return Err(StatusCode::NOT_FOUND);
    };
    // Validation guarantees the entry; a missing one refuses rather than opens.
    let expected = config
        .credentials
        .get(name)
        .and_then(|c| c.api_key.as_ref())
        .ok_or(StatusCode::FORBIDDEN)?;
    let given = headers
        .get(TOKEN_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(expected.expose().as_bytes())) {
        tracing::warn!(
            action = "control refused",
            "control request with a wrong or missing token"
        );
        return Err(StatusCode::FORBIDDEN);
    }
    Ok(KillSwitch::new(
        &handles.state_dir,
        &config.engine.risk.kill_switch_file,
    ))
}

fn answer(code: StatusCode, message: String) -> (StatusCode, Json<serde_json::Value>) {
    (code, Json(json!({ "result": message })))
}

pub async fn halt(State(handles): State<EngineHandles>, headers: HeaderMap) -> impl IntoResponse {
    let switch = match authorise(&handles, &headers) {
        Ok(s) => s,
        Err(code) => return answer(code, code.to_string()),
    };
    tracing::warn!(
        action = "halt",
        account = "all",
        "control over HTTP: engaging the kill switch"
    );
    let text = format!(
        "halted over HTTP (POST /control/halt) at {}\n",
        chrono::Utc::now().to_rfc3339()
    );
    if let Err(e) = crate::state::atomic_write(switch.primary(), text.as_bytes()) {
        return answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot engage the kill switch: {e}"),
        );
    }
    let _ = handles.poke.try_send(());
    answer(StatusCode::OK, "kill switch engaged".into())
}

pub async fn resume(State(handles): State<EngineHandles>, headers: HeaderMap) -> impl IntoResponse {
    let switch = match authorise(&handles, &headers) {
        Ok(s) => s,
        Err(code) => return answer(code, code.to_string()),
    };
    tracing::warn!(
        action = "resume",
        account = "all",
        "control over HTTP: removing the kill switch"
    );
    for file in switch.files() {
        match std::fs::remove_file(file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return answer(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot remove the kill switch: {e}"),
                )
            }
        }
    }
    let _ = handles.poke.try_send(());
    answer(StatusCode::OK, "kill switch removed".into())
}

#[derive(serde::Deserialize)]
pub struct FlattenQuery {
    account: Option<String>,
}

/// Engages the kill switch (so the daemon does not reopen), then closes the account's
/// positions. The account is checked before anything is touched.
pub async fn flatten(
    State(handles): State<EngineHandles>,
    Query(query): Query<FlattenQuery>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let switch = match authorise(&handles, &headers) {
        Ok(s) => s,
        Err(code) => return answer(code, code.to_string()),
    };
    let config = handles.config.borrow().clone();
    let Some(name) = query.account else {
        return answer(
            StatusCode::BAD_REQUEST,
            "flatten needs ?account=NAME".into(),
        );
    };
    let Some(account) = config.account(&name) else {
        return answer(
            StatusCode::NOT_FOUND,
            "no such account in engine.json; nothing was changed".into(),
        );
    };
    tracing::warn!(action = "flatten", account = %account.name, "control over HTTP: engaging the kill switch and closing the account's positions");
    let text = format!(
        "halted by POST /control/flatten?account={} at {}\n",
        account.name,
        chrono::Utc::now().to_rfc3339()
    );
    if let Err(e) = crate::state::atomic_write(switch.primary(), text.as_bytes()) {
        return answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot engage the kill switch (nothing was closed): {e}"),
        );
    }
    let credential = account
        .credentials
        .as_deref()
        .and_then(|c| config.credentials.get(c));
    let report =
        crate::execution::flatten::close_account(account, credential, &handles.state_dir).await;
    let _ = handles.poke.try_send(());
    let code = if report.failed.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    (
        code,
        Json(
            json!({ "result": "kill switch engaged", "done": report.done, "failed": report.failed }),
        ),
    )
}
