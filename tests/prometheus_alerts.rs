//! contrib/prometheus-alerts.yml: Prometheus accepts it, and each alert fires when it should
//! and not before (unit tests in contrib/prometheus-alerts.test.yml, run by promtool).
//! `.ci/run` installs promtool from the distribution's `prometheus` package when missing.

use std::process::Command;

fn promtool(args: &[&str]) {
    let contrib = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib");
    let out = Command::new("promtool")
        .args(args)
        .current_dir(contrib)
        .output()
        .expect("promtool not found: install it (Debian/Ubuntu: the prometheus package; .ci/run does this)");
    assert!(
        out.status.success(),
        "promtool {}:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn alert_rules_parse() {
    promtool(&["check", "rules", "prometheus-alerts.yml"]);
}

#[test]
fn alert_rules_fire_as_their_unit_tests_expect() {
    promtool(&["test", "rules", "prometheus-alerts.test.yml"]);
}
