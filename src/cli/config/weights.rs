//! `config weights set|remove`: edits signal_weights.json.

use super::edit::{self, Change};
use crate::config::ConfigFile;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use std::path::Path;
use std::str::FromStr;

/// `NAME=WEIGHT` from the command line.
pub fn parse_source(arg: &str) -> Result<(String, Decimal), String> {
    let (name, weight) = arg
        .split_once('=')
        .ok_or_else(|| format!("--source {arg}: expected NAME=WEIGHT such as tradingview=0.1"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("--source {arg}: the source name is empty"));
    }
    let weight = Decimal::from_str(weight.trim())
        .map_err(|_| format!("--source {arg}: the weight is not a number"))?;
    Ok((name.to_string(), weight))
}

/// Sets the leverage and the named sources' weights of `symbol` (a weight of 0 removes the
/// source; sources not named keep their weight). A new symbol needs a leverage.
pub fn set(
    dir: &Path,
    symbol: &str,
    leverage: Option<Decimal>,
    sources: &[(String, Decimal)],
) -> Result<(), String> {
    let path = edit::path_of(dir, ConfigFile::Weights)?;
    let mut value = edit::read_value(&path, json!([]))?;
    let list = value
        .as_array_mut()
        .ok_or_else(|| format!("{}: is not a list; fix it by hand first", path.display()))?;
    let symbol = symbol.trim().to_ascii_uppercase();
    let index = match find(list, &symbol) {
        Some(i) => i,
        None => {
            let Some(l) = leverage else {
                return Err(format!(
                    "{symbol} is not in {}; a new symbol needs --leverage",
                    path.display()
                ));
            };
            list.push(
                json!({ "symbol": symbol, "leverage": edit::decimal_value(l), "sources": [] }),
            );
            list.len() - 1
        }
    };
    let entry = list[index]
        .as_object_mut()
        .ok_or_else(|| format!("{}: entry {index} is not an object", path.display()))?;
    if let Some(l) = leverage {
        entry.insert("leverage".into(), edit::decimal_value(l));
    }
    let current = entry
        .entry("sources")
        .or_insert_with(|| Value::Array(Vec::new()));
    let current = current.as_array_mut().ok_or_else(|| {
        format!(
            "{}: [{index}].sources is not a list; fix it by hand first",
            path.display()
        )
    })?;
    for (name, weight) in sources {
        let at = current.iter().position(|s| {
            s.get("source")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        });
        match (at, weight.is_zero()) {
            (Some(i), true) => {
                current.remove(i);
            }
            (Some(i), false) => {
                if let Some(s) = current[i].as_object_mut() {
                    s.insert("weight".into(), edit::decimal_value(*weight));
                }
            }
            (None, true) => {}
            (None, false) => {
                let mut s = Map::new();
                s.insert("source".into(), Value::String(name.clone()));
                s.insert("weight".into(), edit::decimal_value(*weight));
                current.push(Value::Object(s));
            }
        }
    }
    let text = edit::to_text(&value);
    let set = edit::validate_and_write(
        dir,
        &[Change {
            file: ConfigFile::Weights,
            text,
        }],
    )?;
    if let Some(w) = set.weights.get(&symbol) {
        let parts: Vec<String> = w
            .sources
            .iter()
            .map(|s| format!("{}={}", s.source, s.weight))
            .collect();
        println!(
            "{} leverage {} sources [{}] (sum {})",
            w.symbol,
            w.leverage,
            parts.join(", "),
            w.weight_sum()
        );
    }
    Ok(())
}

/// Removes `symbol`: its positions go to 0 on the next cycle.
pub fn remove(dir: &Path, symbol: &str) -> Result<(), String> {
    let path = edit::path_of(dir, ConfigFile::Weights)?;
    let mut value = edit::read_value(&path, json!([]))?;
    let list = value
        .as_array_mut()
        .ok_or_else(|| format!("{}: is not a list; fix it by hand first", path.display()))?;
    let symbol = symbol.trim().to_ascii_uppercase();
    let index = find(list, &symbol)
        .ok_or_else(|| format!("{symbol} is not in {}; nothing to remove", path.display()))?;
    list.remove(index);
    edit::validate_and_write(
        dir,
        &[Change {
            file: ConfigFile::Weights,
            text: edit::to_text(&value),
        }],
    )?;
    println!("{symbol} removed: its target is 0 from the next cycle (positions in it get closed)");
    Ok(())
}

fn find(list: &[Value], symbol: &str) -> Option<usize> {
    list.iter().position(|e| {
        e.get("symbol")
            .and_then(Value::as_str)
            .is_some_and(|s| s.trim().eq_ignore_ascii_case(symbol))
    })
}
