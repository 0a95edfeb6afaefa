//! JSON Schemas of the config files, generated from the types that read them and shipped in
//! `config/schema/` so that editors validate a file while it is typed.

use super::{AssetMapping, Credentials, EngineConfig, SignalWeights};
use schemars::{schema_for, Schema};

/// Where the shipped schemas live, relative to the repository (and to a config directory
/// copied from `config/`).
pub const SCHEMA_DIR: &str = "config/schema";

/// The command that rewrites the shipped schemas after a type changed.
pub const REGENERATE: &str = "cargo run -- config schema --write";

/// Every schema: file name in [`SCHEMA_DIR`] and its pretty-printed text (ending in a newline).
pub fn all() -> Vec<(&'static str, String)> {
    [
        (
            "engine.schema.json",
            titled(schema_for!(EngineConfig), "engine.json"),
        ),
        (
            "signal_weights.schema.json",
            titled(schema_for!(SignalWeights), "signal_weights.json"),
        ),
        (
            "asset_mapping.schema.json",
            titled(schema_for!(AssetMapping), "asset_mapping.json"),
        ),
        (
            "credentials.schema.json",
            titled(schema_for!(Credentials), "credentials.json"),
        ),
        (
            "signal_file.schema.json",
            titled(crate::signals::signal_file_schema(), "signal file"),
        ),
    ]
    .into_iter()
    .map(|(name, schema)| {
        let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
        text.push('\n');
        (name, text)
    })
    .collect()
}

fn titled(mut schema: Schema, title: &str) -> Schema {
    schema.insert(
        "$schema".into(),
        "https://json-schema.org/draft/2020-12/schema".into(),
    );
    schema.insert("title".into(), format!("trade-engine {title}").into());
    schema
}
