//! Logging: JSON lines (the default when stdout is not a terminal, e.g. under systemd) or
//! pretty text for a terminal, and optionally JSON lines to rotating files. The level comes from
//! `logging.level` in engine.json (one source of truth, overridable like any field with
//! `TRADE_ENGINE__LOGGING__LEVEL`); `RUST_LOG` is read only when the config sets no level, so a
//! stray environment variable cannot silently override the file.

use crate::config::engine::{LogRotation, LoggingConfig};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl LogFormat {
    pub fn parse(s: &str) -> Option<LogFormat> {
        match s {
            "json" => Some(LogFormat::Json),
            "pretty" => Some(LogFormat::Pretty),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("logging.file {path}: cannot create the log directory: {source}")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("logging.file {path}: cannot open a log file there: {reason}")]
    Open { path: PathBuf, reason: String },
}

/// The filter in force: the config's level, else `RUST_LOG`, else `info`.
fn level_directive<'a>(config: Option<&'a str>, env: Option<&'a str>) -> &'a str {
    config
        .or(env.filter(|e| !e.trim().is_empty()))
        .unwrap_or("info")
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

fn json_layer<W>(writer: W) -> BoxedLayer
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_writer(writer)
        .boxed()
}

/// The rotating file writer for `logging.file` (relative paths are under `state_dir`): files are
/// named `<stem>.<date>.<extension>` beside it, and only the newest `keep_files` are kept.
pub fn file_writer(
    logging: &LoggingConfig,
    state_dir: &Path,
) -> Result<Option<RollingFileAppender>, LogError> {
    let Some(file) = &logging.file else {
        return Ok(None);
    };
    let path = if file.is_absolute() {
        file.clone()
    } else {
        state_dir.join(file)
    };
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| state_dir.to_path_buf());
    std::fs::create_dir_all(&dir).map_err(|source| LogError::Directory {
        path: path.clone(),
        source,
    })?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("trade-engine");
    let rotation = match logging.rotation {
        LogRotation::Daily => Rotation::DAILY,
        LogRotation::Hourly => Rotation::HOURLY,
        LogRotation::Never => Rotation::NEVER,
    };
    let mut builder = RollingFileAppender::builder()
        .rotation(rotation)
        .filename_prefix(stem)
        .max_log_files(logging.keep_files.max(1));
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        builder = builder.filename_suffix(ext);
    }
    builder.build(&dir).map(Some).map_err(|e| LogError::Open {
        path,
        reason: e.to_string(),
    })
}

/// Installs the global subscriber: stdout in `format`, plus the rotating file when configured.
/// Errors only when the log file cannot be opened (the daemon then refuses to start: a user who
/// asked for a log file would otherwise look at an empty one).
pub fn init(
    format: Option<LogFormat>,
    logging: &LoggingConfig,
    state_dir: &Path,
) -> Result<(), LogError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let directive = level_directive(logging.level.as_deref(), rust_log.as_deref());
    let filter = EnvFilter::try_new(directive).unwrap_or_else(|_| EnvFilter::new("info"));
    let format = format.unwrap_or(if std::io::stdout().is_terminal() {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let mut layers: Vec<BoxedLayer> = vec![match format {
        LogFormat::Json => json_layer(std::io::stdout),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_target(false).boxed(),
    }];
    if let Some(writer) = file_writer(logging, state_dir)? {
        layers.push(json_layer(writer));
    }
    // Already initialised (tests): keep the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(layers)
        .with(filter)
        .try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_level_wins_over_rust_log() {
        assert_eq!(level_directive(Some("warn"), Some("debug")), "warn");
        assert_eq!(level_directive(None, Some("debug")), "debug");
        assert_eq!(level_directive(None, Some(" ")), "info");
        assert_eq!(level_directive(None, None), "info");
    }

    #[test]
    fn the_file_writer_writes_json_lines_under_the_state_dir() {
        let state = tempfile::tempdir().unwrap();
        let logging = LoggingConfig {
            file: Some("logs/engine.log".into()),
            ..Default::default()
        };
        let writer = file_writer(&logging, state.path()).unwrap().unwrap();
        let subscriber = tracing_subscriber::registry().with(json_layer(writer));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(account = "a", avg_price = 50000.5, "order filled");
        });
        let files: Vec<_> = std::fs::read_dir(state.path().join("logs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let name = files[0].file_name().unwrap().to_string_lossy().to_string();
        assert!(
            name.starts_with("engine.") && name.ends_with(".log"),
            "{name}"
        );
        let text = std::fs::read_to_string(&files[0]).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(line["message"], "order filled");
        assert_eq!(line["account"], "a");
        assert_eq!(line["avg_price"], 50000.5);
    }

    #[test]
    fn old_rotated_files_beyond_keep_files_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        for day in 1..=5 {
            std::fs::write(
                dir.path().join(format!("engine.2026-01-0{day}.log")),
                "{}\n",
            )
            .unwrap();
        }
        let logging = LoggingConfig {
            file: Some(dir.path().join("engine.log")),
            keep_files: 2,
            ..Default::default()
        };
        let writer = file_writer(&logging, Path::new("/nonexistent")).unwrap();
        drop(writer);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        left.sort();
        // Pruning happens when the appender opens its file: today's plus one old one (the crate
        // orders by creation time, which is the same instant for files written by this test).
        assert_eq!(left.len(), 2, "{left:?}");
        assert_eq!(
            left.iter()
                .filter(|n| n.starts_with("engine.2026-01-"))
                .count(),
            1,
            "{left:?}"
        );
    }

    #[test]
    fn a_log_file_that_cannot_be_created_is_an_error_naming_the_field() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("blocker"), "").unwrap();
        let logging = LoggingConfig {
            file: Some(dir.path().join("blocker/engine.log")),
            ..Default::default()
        };
        let err = file_writer(&logging, dir.path()).unwrap_err().to_string();
        assert!(err.starts_with("logging.file "), "{err}");
    }
}
