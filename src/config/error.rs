use std::path::PathBuf;
use thiserror::Error;

/// Everything that can be wrong with the config set, phrased so that the user knows which
/// file and field to fix.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {size} bytes is over the limit of {limit} bytes for a config file; is it the right file?")]
    TooLarge {
        file: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{file}: not valid JSON at line {line}, column {column}: {message}")]
    Syntax {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: at {path}: {message}")]
    Shape {
        file: PathBuf,
        path: String,
        message: String,
    },
    #[error("{file}: at {path}: {problem}; expected {expected}")]
    Invalid {
        file: PathBuf,
        path: String,
        problem: String,
        expected: String,
    },
    #[error("environment override: {0}")]
    Environment(String),
    #[error("{file} was deleted; the last good config stays in force. Restore it, or write {{}} to map no symbol")]
    MappingDeleted { file: PathBuf },
}

impl ConfigError {
    pub fn invalid(
        file: impl Into<PathBuf>,
        path: impl Into<String>,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        ConfigError::Invalid {
            file: file.into(),
            path: path.into(),
            problem: problem.into(),
            expected: expected.into(),
        }
    }
}

/// Parses JSON text into `T`, reporting syntax errors with line and column and shape errors
/// with the JSON path of the offending field.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    file: &std::path::Path,
    text: &str,
) -> Result<T, ConfigError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| ConfigError::Syntax {
        file: file.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: crate::input::shorten_quoted(&e.to_string()),
    })?;
    from_value(file, value)
}

/// Deserialises an already parsed JSON value, with the JSON path in the error.
pub fn from_value<T: serde::de::DeserializeOwned>(
    file: &std::path::Path,
    value: serde_json::Value,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| ConfigError::Shape {
        file: file.to_path_buf(),
        path: crate::input::shorten_quoted(&display_path(&e.path().to_string())),
        message: crate::input::shorten_quoted(&e.inner().to_string()),
    })
}

fn display_path(path: &str) -> String {
    if path.is_empty() || path == "." {
        "the top level".to_string()
    } else if path.chars().count() > 120 {
        // A path holds map keys, which can be anything (and any length) in a bad file.
        format!("{}…", path.chars().take(120).collect::<String>())
    } else {
        path.to_string()
    }
}
