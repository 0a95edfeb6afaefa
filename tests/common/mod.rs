//! Test support: run the real daemon binary against a config directory made for the test,
//! and read its `/status`.
#![allow(dead_code)]

pub mod exchange;
pub mod limits;
pub mod loopback;
pub mod rig;
pub mod validator;
pub mod venues;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A number unique in this test process (file names).
pub fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A config directory with the given files (name -> contents).
pub fn config_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        write(dir.path(), name, text);
    }
    dir
}

pub fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    // Write then rename, like an editor, so the daemon never reads a half-written file.
    let tmp = dir.join(format!(".{}.tmp", name.replace('/', "_")));
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, &path).expect("rename");
}

pub struct Daemon {
    pub child: Child,
    /// The port the daemon bound (it listens on port 0); read from its log once it is up.
    port: std::sync::OnceLock<u16>,
    pub config_dir: PathBuf,
    pub state_dir: PathBuf,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(config_dir: &Path, state_dir: &Path) -> Daemon {
        Self::start_with_env(config_dir, state_dir, &[])
    }

    pub fn start_with_env(config_dir: &Path, state_dir: &Path, env: &[(&str, &str)]) -> Daemon {
        let d = Self::spawn(config_dir, state_dir, env);
        d.wait_until("healthz answers", Duration::from_secs(20), |_| true);
        d
    }

    /// Starts the daemon without waiting for it to answer (kills during start-up).
    pub fn spawn(config_dir: &Path, state_dir: &Path, env: &[(&str, &str)]) -> Daemon {
        std::fs::create_dir_all(state_dir).expect("state dir");
        let log = state_dir.join(format!("daemon-{}-{}.log", std::process::id(), unique()));
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trade-engine"));
        cmd.arg("run")
            .arg("--config-dir")
            .arg(config_dir)
            .arg("--state-dir")
            .arg(state_dir)
            .arg("--log-format")
            .arg("json")
            .env("TRADE_ENGINE__SERVER__LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "info,trade_engine=debug")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone"))
            .stderr(log_file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn daemon");
        Daemon {
            child,
            port: std::sync::OnceLock::new(),
            config_dir: config_dir.to_path_buf(),
            state_dir: state_dir.to_path_buf(),
            log,
        }
    }

    /// A daemon started by the test itself (e.g. under `sh` with lower limits), logging to `log`
    /// and listening on port 0.
    pub fn from_child(child: Child, config_dir: &Path, state_dir: &Path, log: PathBuf) -> Daemon {
        Daemon {
            child,
            port: std::sync::OnceLock::new(),
            config_dir: config_dir.to_path_buf(),
            state_dir: state_dir.to_path_buf(),
            log,
        }
    }

    /// The `cycle` part of `/status`: (cycles started, last cycle finished).
    pub fn cycles(&self) -> Option<(u64, u64)> {
        let s = self.status()?;
        Some((
            s["cycle"]["number"].as_u64()?,
            s["cycle"]["last_completed"].as_u64()?,
        ))
    }

    /// Waits for a cycle that started after this call to finish: the observable moment at
    /// which "nothing happened" can be checked.
    pub fn wait_for_fresh_cycle(&self, timeout: Duration) {
        let started = self.cycles().map(|c| c.0).unwrap_or(0);
        self.wait_until("a cycle started after now to finish", timeout, |s| {
            s["cycle"]["last_completed"]
                .as_u64()
                .is_some_and(|done| done > started)
        });
    }

    /// The port from the daemon's "http server listening" log line, once it is there.
    pub fn port(&self) -> Option<u16> {
        if let Some(p) = self.port.get() {
            return Some(*p);
        }
        let text = self.log_text();
        let line = text.lines().find(|l| l.contains("http server listening"))?;
        let v: Value = serde_json::from_str(line).ok()?;
        let port = v["listen"].as_str()?.rsplit(':').next()?.parse().ok()?;
        Some(*self.port.get_or_init(|| port))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port().unwrap_or(0), path)
    }

    pub fn status(&self) -> Option<Value> {
        self.port()?;
        let resp = reqwest::blocking_get(&self.url("/status"))?;
        serde_json::from_str(&resp).ok()
    }

    /// Polls `/status` until `check` holds; panics with the last status and the log otherwise.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        while Instant::now() < deadline {
            if let Some(s) = self.status() {
                if check(&s) {
                    return s;
                }
                last = Some(s);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "timed out waiting for {what}\nlast status: {}\nlog:\n{}",
            last.map(|s| serde_json::to_string_pretty(&s).unwrap_or_default())
                .unwrap_or_default(),
            self.log_text()
        );
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: i32) {
        unsafe_kill(self.child.id(), sig);
    }

    /// SIGTERM and wait for the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal(15);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("daemon did not stop on SIGTERM\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_kill(pid: u32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// The status entry of one symbol of one account.
pub fn symbol<'a>(status: &'a Value, account: &str, symbol: &str) -> Option<&'a Value> {
    status["accounts"]
        .as_array()?
        .iter()
        .find(|a| a["name"] == account)?["symbols"]
        .as_array()?
        .iter()
        .find(|s| s["symbol"] == symbol)
}

pub fn account<'a>(status: &'a Value, account: &str) -> Option<&'a Value> {
    status["accounts"]
        .as_array()?
        .iter()
        .find(|a| a["name"] == account)
}

pub fn dec(v: &Value) -> rust_decimal::Decimal {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_default()
}

/// Minimal blocking HTTP for tests, on reqwest's async client in a private runtime.
pub mod reqwest {
    /// Runs `f` with a client of the given deadline on a private current-thread runtime.
    fn with_client<T, F: std::future::Future<Output = Option<T>>>(
        timeout_secs: u64,
        f: impl FnOnce(::reqwest::Client) -> F,
    ) -> Option<T> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        let client = ::reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(timeout_secs))
            .build()
            .ok()?;
        rt.block_on(f(client))
    }

    pub fn blocking_get(url: &str) -> Option<String> {
        with_client(2, |client| async move {
            client.get(url).send().await.ok()?.text().await.ok()
        })
    }

    pub fn blocking_post(url: &str, body: &str, headers: &[(&str, &str)]) -> Option<(u16, String)> {
        with_client(5, |client| async move {
            let mut req = client
                .post(url)
                .body(body.to_string())
                .header("content-type", "application/json");
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let resp = req.send().await.ok()?;
            let status = resp.status().as_u16();
            Some((status, resp.text().await.ok()?))
        })
    }
}

pub const SIM_ENGINE: &str = r#"{
  "accounts": [ { "name": "sim-a", "venue": "sim", "sim": { "seed": 7, "volatility_bps": 0 } } ],
  "sources": [ { "name": "manual", "kind": "file", "path": "signals/manual.json" } ],
  "cycle": { "reconcile_interval_secs": 2, "debounce_ms": 50 }
}"#;

pub const SIM_WEIGHTS: &str = r#"[
  { "symbol": "BTCUSDT", "leverage": 2, "sources": [ { "source": "manual", "weight": 1.0 } ] },
  { "symbol": "ETHUSDT", "leverage": 1, "sources": [ { "source": "manual", "weight": 0.5 } ] }
]"#;
