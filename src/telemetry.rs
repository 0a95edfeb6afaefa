//! Logging: JSON lines (the default when stdout is not a terminal, e.g. under systemd) or
//! pretty text for a terminal. The level comes from `logging.level` in engine.json (one source of
//! truth, overridable like any field with `TRADE_ENGINE__LOGGING__LEVEL`); `RUST_LOG` is read only when
//! the config sets no level, so a stray environment variable cannot silently override the file.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

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

/// The filter in force: the config's level, else `RUST_LOG`, else `info`.
fn level_directive<'a>(config: Option<&'a str>, env: Option<&'a str>) -> &'a str {
    config
        .or(env.filter(|e| !e.trim().is_empty()))
        .unwrap_or("info")
}

pub fn init(format: Option<LogFormat>, level: Option<&str>) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let directive = level_directive(level, rust_log.as_deref());
    let filter = EnvFilter::try_new(directive).unwrap_or_else(|_| EnvFilter::new("info"));
    let format = format.unwrap_or(if std::io::stdout().is_terminal() {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
        LogFormat::Pretty => builder.with_target(false).try_init(),
    };
    if result.is_err() {
        // Already initialised (tests): keep the first subscriber.
    }
}

#[cfg(test)]
mod tests {
    use super::level_directive;

    #[test]
    fn the_config_level_wins_over_rust_log() {
        assert_eq!(level_directive(Some("warn"), Some("debug")), "warn");
        assert_eq!(level_directive(None, Some("debug")), "debug");
        assert_eq!(level_directive(None, Some(" ")), "info");
        assert_eq!(level_directive(None, None), "info");
    }
}
