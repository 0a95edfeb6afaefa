//! The shipped systemd units: they must load cleanly (`systemd-analyze verify`) and keep their
//! hardening (`systemd-analyze security` exposure at most 2.0). The units name
//! `/usr/local/bin/trade-engine`; the tests swap in the binary cargo built so `verify` can check it.

use std::path::{Path, PathBuf};
use std::process::Command;

const MAX_EXPOSURE: f64 = 2.0;

fn systemd_analyze() -> Option<PathBuf> {
    let found = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        // CI installs systemd (see .ci/run): there a missing tool is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is missing on CI"
        );
        eprintln!("systemd-analyze not installed; skipping");
    }
    found
}

/// Copies a unit into a temp dir under `name`, pointing ExecStart at the built binary.
fn staged_unit(dir: &Path, source: &str, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(source))
        .expect("unit file in the repo");
    assert!(
        text.contains("/usr/local/bin/trade-engine "),
        "{source} no longer starts /usr/local/bin/trade-engine"
    );
    let text = text.replace(
        "/usr/local/bin/trade-engine ",
        &format!("{} ", env!("CARGO_BIN_EXE_trade-engine")),
    );
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn verify(tool: &Path, unit: &Path) {
    let out = Command::new(tool)
        .arg("verify")
        .arg(unit)
        .output()
        .expect("run systemd-analyze verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // verify exits 0 on a setting it ignores ("Unknown key", "Failed to parse ... ignoring"),
    // so every line about the unit itself counts as a failure.
    let name = unit.file_name().unwrap().to_string_lossy().to_string();
    let complaints: Vec<&str> = text.lines().filter(|l| l.contains(&name)).collect();
    assert!(
        out.status.success() && complaints.is_empty(),
        "systemd-analyze verify {name}: {}\n{text}",
        out.status
    );
}

fn exposure(tool: &Path, unit: &Path) -> f64 {
    let out = Command::new(tool)
        .args(["security", "--offline=true"])
        .arg(unit)
        .output()
        .expect("run systemd-analyze security");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure line in:\n{text}"));
    line.split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure in {line:?}"))
}

#[test]
fn main_unit_verifies_and_is_hardened() {
    let Some(tool) = systemd_analyze() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let unit = staged_unit(
        dir.path(),
        "systemd/trade-engine.service",
        "trade-engine.service",
    );
    verify(&tool, &unit);
    let score = exposure(&tool, &unit);
    assert!(
        score <= MAX_EXPOSURE,
        "exposure {score} > {MAX_EXPOSURE}: a hardening setting was dropped"
    );
}

#[test]
fn template_unit_verifies_and_is_hardened() {
    let Some(tool) = systemd_analyze() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // A template is checked as one of its instances.
    let unit = staged_unit(
        dir.path(),
        "systemd/trade-engine@.service",
        "trade-engine@alpha.service",
    );
    verify(&tool, &unit);
    let score = exposure(&tool, &unit);
    assert!(score <= MAX_EXPOSURE, "exposure {score} > {MAX_EXPOSURE}");
    let text = std::fs::read_to_string(&unit).unwrap();
    for instance_path in ["/etc/trade-engine/%i ", "/var/lib/trade-engine/%i "] {
        assert!(
            text.contains(instance_path),
            "instances must not share {instance_path}"
        );
    }
}

#[test]
fn units_leave_the_log_level_to_engine_json() {
    for unit in [
        "systemd/trade-engine.service",
        "systemd/trade-engine@.service",
    ] {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(unit)).unwrap();
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("Environment") && l.contains("RUST_LOG")),
            "{unit} sets RUST_LOG, which would override logging.level"
        );
    }
}
