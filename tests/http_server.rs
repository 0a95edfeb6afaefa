//! The HTTP surface: bound before anything trades, and neither a taken port nor a crowd of idle
//! clients can make the daemon trade blind or stop it from trading.

mod common;

use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

fn position(status: &serde_json::Value, sym: &str) -> Decimal {
    symbol(status, "sim-a", sym)
        .map(|s| dec(&s["position_qty"]))
        .unwrap_or_default()
}

/// Every state file but the test daemons' logs, with its contents.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if path.is_dir() {
                stack.push(path);
            } else if !name.starts_with("daemon-") && name != "trade-engine.lock" {
                // The lock file holds the pid of whoever took the lock last: not trading state.
                out.insert(path.display().to_string(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Starts the daemon like [`Daemon::start_with_env`], but under `sh` so that the test can
/// lower its file descriptor limit first.
fn start_with_fd_limit(cfg: &Path, state: &Path, nofile: u32, env: &[(&str, &str)]) -> Daemon {
    let log = state.join(format!("daemon-fd-{}.log", unique()));
    let log_file = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_trade-engine"))
        .args(["run", "--log-format", "json", "--config-dir"])
        .arg(cfg)
        .arg("--state-dir")
        .arg(state)
        .env("TRADE_ENGINE__SERVER__LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "info,trade_engine=debug")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let d = Daemon::from_child(cmd.spawn().expect("spawn daemon"), cfg, state, log);
    d.wait_until("status answers", WAIT, |_| true);
    d
}

#[test]
fn a_taken_port_stops_the_start_before_any_order_or_ready() {
    let cfg = config_dir(&[
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.3}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    d.wait_until("open", WAIT, |s| position(s, "BTCUSDT") > Decimal::ZERO);
    assert_eq!(d.stop().code(), Some(0));
    write(
        cfg.path(),
        "signals/manual.json",
        r#"{"BTCUSDT": {"depth": 0.6}}"#,
    );
    let before = snapshot(state.path());

    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let side = tempfile::tempdir().unwrap();
    let notify = std::os::unix::net::UnixDatagram::bind(side.path().join("notify")).unwrap();
    notify.set_nonblocking(true).unwrap();
    let out = std::fs::File::create(side.path().join("out")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trade-engine"))
        .args(["run", "--config-dir"])
        .arg(cfg.path())
        .arg("--state-dir")
        .arg(state.path())
        .env("TRADE_ENGINE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("NOTIFY_SOCKET", side.path().join("notify"))
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the daemon kept running without its HTTP port:\n{}",
                std::fs::read_to_string(side.path().join("out")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(side.path().join("out")).unwrap();
    assert!(!status.success(), "{text}");
    assert!(
        text.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{text}"
    );
    let mut buf = [0u8; 256];
    let sent = notify
        .recv(&mut buf)
        .map(|n| String::from_utf8_lossy(&buf[..n]).to_string());
    assert!(
        sent.as_deref().map_or(true, |m| !m.contains("READY=1")),
        "READY=1 sent: {sent:?}"
    );
    assert_eq!(snapshot(state.path()), before, "no order, no state change");
    drop(holder);
}

/// Opens up to `n` connections that never send anything, stopping at the first refused one.
fn idle_connections(port: u16, n: usize) -> Vec<TcpStream> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    (0..n)
        .map_while(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok())
        .collect()
}

/// The BTCUSDT position the daemon last wrote to its execution cache on disk.
fn cached_position(state: &Path) -> Option<Decimal> {
    let text = std::fs::read_to_string(state.join("cache/sim-a.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["symbols"]["BTCUSDT"]["position_qty"]
        .as_str()?
        .parse()
        .ok()
}

#[test]
fn idle_connections_beyond_the_cap_neither_stop_trading_nor_health_checks() {
    let cfg = config_dir(&[
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.3}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    // 200 idle clients against a limit of 128 descriptors: without a cap they take every
    // descriptor the journal, the cache and the signal files need. The long header timeout
    // leaves the cap alone to protect them.
    let d = start_with_fd_limit(
        cfg.path(),
        state.path(),
        128,
        &[
            ("TRADE_ENGINE__SERVER__MAX_CONNECTIONS", "8"),
            ("TRADE_ENGINE__SERVER__HEADER_READ_TIMEOUT_SECS", "600"),
        ],
    );
    d.wait_until("open", WAIT, |s| position(s, "BTCUSDT") > dec!(0.09));

    let held = idle_connections(d.port().expect("port"), 200);
    assert_eq!(
        held.len(),
        200,
        "the daemon stopped taking connections\n{}",
        d.log_text()
    );
    write(
        cfg.path(),
        "signals/manual.json",
        r#"{"BTCUSDT": {"depth": -0.2}}"#,
    );
    let deadline = Instant::now() + WAIT;
    while cached_position(state.path()).is_none_or(|p| p >= Decimal::ZERO) {
        assert!(
            Instant::now() < deadline,
            "the signal change was not traded while clients sat idle\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let health = common::reqwest::blocking_get(&d.url("/healthz"));
    assert!(
        health.as_deref().is_some_and(|b| b.contains("\"ok\"")),
        "healthz: {health:?}\n{}",
        d.log_text()
    );
    drop(held);
}

/// Reads until the server closes the connection; `None` if it stays open for 30 s.
fn read_until_closed(stream: &mut TcpStream) -> Option<String> {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&got).to_string()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(String::from_utf8_lossy(&got).to_string())
            }
            Err(_) => return None,
        }
    }
}

#[test]
fn silent_and_idle_connections_are_closed_after_the_header_timeout() {
    let cfg = config_dir(&[
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.1}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start_with_env(
        cfg.path(),
        state.path(),
        &[("TRADE_ENGINE__SERVER__HEADER_READ_TIMEOUT_SECS", "1")],
    );
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], d.port().expect("port")));

    let mut silent = TcpStream::connect(addr).unwrap();
    assert!(
        read_until_closed(&mut silent).is_some(),
        "a connection that sends nothing stays open"
    );

    let mut partial = TcpStream::connect(addr).unwrap();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    assert!(
        read_until_closed(&mut partial).is_some(),
        "a connection that never finishes its header stays open"
    );

    let mut kept_alive = TcpStream::connect(addr).unwrap();
    kept_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let answer = read_until_closed(&mut kept_alive);
    assert!(
        answer
            .as_deref()
            .is_some_and(|a| a.starts_with("HTTP/1.1 200")),
        "an idle keep-alive connection stays open after its answer: {answer:?}"
    );
}
