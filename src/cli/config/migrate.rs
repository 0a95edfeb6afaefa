//! `config migrate <python-tool-dir>`: imports the Python tool's signal_weight_config.json,
//! asset_mapping_config.json and credentials.json, and says what it could not carry over.

use super::edit::{self, Change};
use crate::config::credentials::{
    looks_like_a_field_name, shown_name, ENTRY_FIELDS, PYTHON_FIELDS,
};
use crate::config::ConfigFile;
use serde_json::{json, Map, Value};
use std::path::Path;

const WEIGHTS: &str = "signal_weight_config.json";
const MAPPING: &str = "asset_mapping_config.json";
const CREDENTIALS: &str = "credentials.json";

/// Files of the Python tool that have no counterpart to import, and why.
const NOT_IMPORTED: [(&str, &str); 4] = [
    (
        "bittensor_processor_config.json",
        "configure the SN8 source in engine.json (`kind: \"bittensor_sn8\"`)",
    ),
    (
        "account_asset_depths.json",
        "runtime state; the engine reconciles from the venues' positions",
    ),
    (
        "account_asset_leverages.json",
        "runtime state; leverage comes from signal_weights.json and the signals",
    ),
    (
        "raw_signals",
        "the Python tool's signal logs; signals arrive anew through the configured sources",
    ),
];

/// What the Python tool used when asset_mapping_config.json was missing.
fn python_default_mapping() -> Value {
    json!({
        "tradingview": { "BTCUSDT": "BTCUSDT", "ETHUSDT": "ETHUSDT" },
        "bittensor": { "BTCUSD": "BTCUSDT", "ETHUSD": "ETHUSDT" }
    })
}

pub fn migrate(dir: &Path, python: &Path, force: bool, dry_run: bool) -> Result<(), String> {
    if !python.is_dir() {
        return Err(format!("{} is not a directory", python.display()));
    }
    let mut report = Vec::new();
    let mut changes = Vec::new();

    let weights = read_python(python, WEIGHTS)?;
    let weights = match weights {
        Some(v) => Some(convert_weights(v, &mut report)?),
        None => {
            report.push(format!(
                "{WEIGHTS}: not found; signal weights left as they are"
            ));
            None
        }
    };

    let mapping = match read_python(python, MAPPING)? {
        Some(v) => convert_mapping(v, &mut report)?,
        None => {
            report.push(format!(
                "{MAPPING}: not found; writing the Python tool's defaults (tradingview BTCUSDT, ETHUSDT; bittensor BTCUSD -> BTCUSDT, ETHUSD -> ETHUSDT)"
            ));
            python_default_mapping()
        }
    };
    let mapping = keep_tradingview_pass_through(mapping, weights.as_ref(), &mut report);

    for (file, value) in [
        (ConfigFile::Weights, weights),
        (ConfigFile::Mapping, Some(mapping)),
    ] {
        let Some(value) = value else { continue };
        let path = edit::path_of(dir, file)?;
        let current = edit::read_value(&path, Value::Null)?;
        let empty = current.is_null()
            || current.as_array().is_some_and(Vec::is_empty)
            || current
                .as_object()
                .is_some_and(|o| o.keys().all(|k| k == crate::config::SCHEMA_KEY));
        if !empty && current != value && !force {
            return Err(format!(
                "refused, nothing was written: {} already has content that the import would replace; run again with --force to replace it (or --dry-run to see the report)",
                path.display()
            ));
        }
        changes.push(Change {
            file,
            text: edit::to_text(&keep_schema_key(&current, value)),
        });
    }

    if let Some(v) = read_python(python, CREDENTIALS)? {
        let path = edit::path_of(dir, ConfigFile::Credentials)?;
        let mut current = edit::read_value(&path, json!({}))?;
        let current_entries = current
            .as_object_mut()
            .ok_or_else(|| format!("{}: is not an object; fix it by hand first", path.display()))?;
        for (name, entry) in convert_credentials(v, &mut report)? {
            if current_entries.contains_key(&name) {
                report.push(format!(
                    "{CREDENTIALS}: entry {name} replaces the entry of the same name"
                ));
            }
            current_entries.insert(name, entry);
        }
        changes.push(Change {
            file: ConfigFile::Credentials,
            text: edit::to_text(&current),
        });
    } else {
        report.push(format!(
            "{CREDENTIALS}: not found; credentials left as they are"
        ));
    }

    for (name, why) in NOT_IMPORTED {
        if python.join(name).exists() {
            report.push(format!("{name}: not imported: {why}"));
        }
    }
    report.push(
        "accounts are not created: add one per venue account to engine.json, naming its credentials entry in \"credentials\""
            .into(),
    );

    println!("not carried over or changed in meaning:");
    for line in &report {
        println!("  - {line}");
    }
    if dry_run {
        let replaced: Vec<(ConfigFile, String)> =
            changes.iter().map(|c| (c.file, c.text.clone())).collect();
        crate::config::ConfigSet::load_candidate(dir, std::env::vars().collect(), &replaced)
            .map_err(|e| format!("the import would be refused: {e}"))?;
        println!("dry run: the result is valid; nothing was written");
        return Ok(());
    }
    edit::validate_and_write(dir, &changes)?;
    Ok(())
}

fn read_python(dir: &Path, name: &str) -> Result<Option<Value>, String> {
    let path = dir.join(name);
    if !path.exists() {
        return Ok(None);
    }
    edit::read_value(&path, Value::Null).map(Some)
}

/// A `"$schema"` line the user put in our file survives the import.
fn keep_schema_key(current: &Value, mut new: Value) -> Value {
    let schema = current.get(crate::config::SCHEMA_KEY).cloned();
    if let (Some(schema), Some(object)) = (schema, new.as_object_mut()) {
        let mut with = Map::new();
        with.insert(crate::config::SCHEMA_KEY.into(), schema);
        with.extend(std::mem::take(object));
        *object = with;
    }
    new
}

fn convert_weights(value: Value, report: &mut Vec<String>) -> Result<Value, String> {
    let Value::Array(list) = value else {
        return Err(format!("{WEIGHTS}: is not a list; nothing was written"));
    };
    let mut out = Vec::new();
    for (i, entry) in list.into_iter().enumerate() {
        let Value::Object(mut fields) = entry else {
            report.push(format!("{WEIGHTS}: entry {i} is not an object; skipped"));
            continue;
        };
        let symbol = fields
            .get("symbol")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let mut kept = Map::new();
        for key in ["symbol", "leverage", "sources"] {
            if let Some(v) = fields.shift_remove(key) {
                kept.insert(key.into(), v);
            }
        }
        for key in fields.keys() {
            report.push(format!(
                "{WEIGHTS}: {symbol}: field {} is not a setting here; dropped",
                crate::input::excerpt(key)
            ));
        }
        if let Some(Value::Array(sources)) = kept.get_mut("sources") {
            sources.retain(|s| {
                let zero = s.get("weight").and_then(Value::as_f64) == Some(0.0);
                if zero {
                    report.push(format!(
                        "{WEIGHTS}: {symbol}: source {} has weight 0; dropped (it contributed nothing)",
                        s.get("source").and_then(Value::as_str).unwrap_or("?")
                    ));
                }
                !zero
            });
        }
        out.push(Value::Object(kept));
    }
    Ok(Value::Array(out))
}

fn convert_mapping(value: Value, report: &mut Vec<String>) -> Result<Value, String> {
    let Value::Object(sections) = value else {
        return Err(format!("{MAPPING}: is not an object; nothing was written"));
    };
    let mut out = Map::new();
    for (source, section) in sections {
        let Value::Object(entries) = section else {
            report.push(format!(
                "{MAPPING}: section {} is not an object; skipped",
                crate::input::excerpt(&source)
            ));
            continue;
        };
        let mut kept = Map::new();
        for (from, to) in entries {
            match to {
                Value::String(_) => {
                    kept.insert(from, to);
                }
                _ => report.push(format!(
                    "{MAPPING}: {}.{} is not a string; skipped",
                    crate::input::excerpt(&source),
                    crate::input::excerpt(&from)
                )),
            }
        }
        out.insert(source, Value::Object(kept));
    }
    Ok(Value::Object(out))
}

/// The Python tool passed a TradingView symbol its section does not list through unchanged;
/// here a section maps only what it lists. Listing every weighted symbol as itself keeps
/// the old behaviour for the symbols that matter.
fn keep_tradingview_pass_through(
    mut mapping: Value,
    weights: Option<&Value>,
    report: &mut Vec<String>,
) -> Value {
    let Some(Value::Object(section)) = mapping.get_mut("tradingview") else {
        return mapping;
    };
    let symbols = weights
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|w| {
            w.get("sources").and_then(Value::as_array).is_some_and(|s| {
                s.iter().any(|s| {
                    s.get("source")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.eq_ignore_ascii_case("tradingview"))
                })
            })
        })
        .filter_map(|w| w.get("symbol").and_then(Value::as_str))
        .map(|s| s.trim().to_ascii_uppercase());
    let mut added = Vec::new();
    for symbol in symbols {
        if !section
            .keys()
            .any(|k| k.trim().eq_ignore_ascii_case(&symbol))
        {
            section.insert(symbol.clone(), Value::String(symbol.clone()));
            added.push(symbol);
        }
    }
    if !added.is_empty() {
        report.push(format!(
            "{MAPPING}: the Python tool passed TradingView symbols missing from its section through unchanged; here a section maps only what it lists, so {} were added to the tradingview section as themselves",
            added.join(", ")
        ));
    }
    mapping
}

fn convert_credentials(
    value: Value,
    report: &mut Vec<String>,
) -> Result<Vec<(String, Value)>, String> {
    let Value::Object(entries) = value else {
        return Err(format!(
            "{CREDENTIALS}: is not an object; nothing was written"
        ));
    };
    let mut out = Vec::new();
    for (name, entry) in entries {
        let shown = shown_name(&name);
        let Value::Object(fields) = entry else {
            report.push(format!(
                "{CREDENTIALS}: entry {shown} is not an object; skipped"
            ));
            continue;
        };
        if let Some(list) = fields.get("ccxt_list").and_then(Value::as_array) {
            let accounts: Vec<String> = list
                .iter()
                .map(|a| {
                    let field = |k: &str| {
                        a.get(k)
                            .and_then(Value::as_str)
                            .map_or("?".into(), shown_name)
                    };
                    format!("{} ({})", field("account_name"), field("exchange_name"))
                })
                .collect();
            report.push(format!(
                "{CREDENTIALS}: entry {shown}: ccxt accounts are not supported and were not imported: {}",
                if accounts.is_empty() { "none listed".to_string() } else { accounts.join(", ") }
            ));
            continue;
        }
        if fields.contains_key("exchange_name") {
            report.push(format!(
                "{CREDENTIALS}: entry {shown}: a ccxt account (older single-object form); ccxt accounts are not supported and it was not imported"
            ));
            continue;
        }
        let mut kept = Map::new();
        for (field, v) in fields {
            if ENTRY_FIELDS.contains(&field.as_str()) {
                match v {
                    Value::String(s) if !s.is_empty() => {
                        kept.insert(field, Value::String(s));
                    }
                    _ => report.push(format!(
                        "{CREDENTIALS}: entry {shown}: {field} is empty or not a string; not imported"
                    )),
                }
            } else if PYTHON_FIELDS.contains(&field.as_str()) {
                // Numbers and flags, never secrets: safe to show.
                let shown_value = match &v {
                    Value::Number(_) | Value::Bool(_) | Value::Null => v.to_string(),
                    _ => "(a value)".into(),
                };
                report.push(format!(
                    "{CREDENTIALS}: entry {shown}: {field} = {shown_value} not imported; set it on the account in engine.json"
                ));
            } else {
                let field = if looks_like_a_field_name(&field) {
                    format!("\"{field}\"")
                } else {
                    "(a name not shown: it does not look like a field name)".into()
                };
                report.push(format!(
                    "{CREDENTIALS}: entry {shown}: unknown field {field} not imported"
                ));
            }
        }
        if !kept.contains_key("api_key") {
            report.push(format!(
                "{CREDENTIALS}: entry {shown} has no api_key; imported without it"
            ));
        }
        out.push((name, Value::Object(kept)));
    }
    Ok(out)
}
