//! `halt`, `resume` and `flatten`: the operator's brakes.

use super::{absolute, Cli};
use crate::config::engine::DEFAULT_KILL_SWITCH;
use crate::config::ConfigSet;
use crate::state::recognise::{is_state_dir, JOURNAL_DIR, LOCK_FILE, STATE_ID_FILE};
use crate::state::KillSwitch;
use std::path::{Path, PathBuf};

/// The state directory, refused unless it is a trade-engine one: a wrong `--state-dir` must
/// not quietly create a kill switch no daemon reads.
fn state_dir(cli: &Cli) -> Result<PathBuf, String> {
    let dir = absolute(&cli.state_dir);
    if !is_state_dir(&dir) {
        return Err(format!(
            "{} is not a trade-engine state directory (it has no {JOURNAL_DIR}/, {LOCK_FILE} or \
             {STATE_ID_FILE}); pass the daemon's --state-dir",
            dir.display()
        ));
    }
    Ok(dir)
}

/// The kill switch files to write or remove. Engaging the brake must never depend on the config:
/// when engine.json cannot be read, the default name, which the daemon always honours, is used.
fn kill_switch(cli: &Cli, state_dir: &Path) -> (KillSwitch, Option<String>) {
    match ConfigSet::load_engine_only(&absolute(&cli.config_dir)) {
        Ok(engine) => (
            KillSwitch::new(state_dir, &engine.risk.kill_switch_file),
            None,
        ),
        Err(e) => (
            KillSwitch::new(state_dir, DEFAULT_KILL_SWITCH),
            Some(e.to_string()),
        ),
    }
}

fn engage(switch: &KillSwitch) -> Result<&Path, String> {
    let text = format!(
        "halted by `trade-engine halt` at {}\n",
        chrono::Utc::now().to_rfc3339()
    );
    let mut last_error = String::new();
    // The configured file first; the default one if that cannot be written.
    for file in switch.files() {
        match crate::state::atomic_write(file, text.as_bytes()) {
            Ok(()) => return Ok(file),
            Err(e) => last_error = e.to_string(),
        }
    }
    Err(format!("cannot engage the kill switch: {last_error}"))
}

pub fn halt(cli: &Cli) -> Result<(), String> {
    let dir = state_dir(cli)?;
    let (switch, config_error) = kill_switch(cli, &dir);
    if let Some(e) = config_error {
        eprintln!("warning: engine.json cannot be read ({e}); using the default kill switch name");
    }
    let file = engage(&switch)?;
    println!(
        "kill switch engaged: {} (no new exposure; `trade-engine resume` to trade again)",
        file.display()
    );
    Ok(())
}

/// Lifting the brake is the risky direction, so it needs engine.json to know every file name.
pub fn resume(cli: &Cli) -> Result<(), String> {
    let dir = state_dir(cli)?;
    let (switch, config_error) = kill_switch(cli, &dir);
    if let Some(e) = config_error {
        return Err(format!(
            "engine.json cannot be read ({e}); fix it so that resume knows risk.kill_switch_file \
             (the kill switch stays engaged)"
        ));
    }
    let mut removed = 0;
    for file in switch.files() {
        match std::fs::remove_file(file) {
            Ok(()) => {
                println!("kill switch removed: {}", file.display());
                removed += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot remove {}: {e}", file.display())),
        }
    }
    if removed == 0 {
        println!("kill switch was not engaged");
    }
    Ok(())
}

/// Engages the kill switch first, so a running daemon does not reopen what is closed here.
/// Closes are reduce-only market orders: repeating `flatten` can never overshoot.
/// Everything is checked (state directory, config, account) before anything is touched.
pub async fn flatten(cli: &Cli, only: Option<&str>) -> Result<(), String> {
    let state_dir = state_dir(cli)?;
    let config =
        ConfigSet::load(&absolute(&cli.config_dir)).map_err(|e| format!("config error: {e}"))?;
    if let Some(name) = only {
        if config.account(name).is_none() {
            return Err(format!(
                "no account named \"{name}\" in engine.json; nothing was changed"
            ));
        }
    }
    let switch = KillSwitch::new(&state_dir, &config.engine.risk.kill_switch_file);
    let file = engage(&switch)?;
    println!("kill switch engaged: {}", file.display());
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
        let report =
            crate::execution::flatten::close_account(account, credential, &state_dir).await;
        for line in &report.done {
            println!("{line}");
        }
        for line in &report.failed {
            eprintln!("{line}");
        }
        failures += report.failed.len();
    }
    if failures > 0 {
        return Err(format!(
            "flatten finished with {failures} failures; run it again once the venue answers"
        ));
    }
    Ok(())
}
