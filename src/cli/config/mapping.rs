//! `config mapping set|remove`: edits asset_mapping.json.

use super::edit::{self, Change};
use crate::config::ConfigFile;
use serde_json::{json, Map, Value};
use std::path::Path;

/// Maps `from` (the source's spelling) to the unified symbol `to` in `source`'s section,
/// replacing any other spelling of `from` (symbols are case-insensitive).
pub fn set(dir: &Path, source: &str, from: &str, to: &str) -> Result<(), String> {
    let path = edit::path_of(dir, ConfigFile::Mapping)?;
    let mut value = edit::read_value(&path, json!({}))?;
    let sections = value
        .as_object_mut()
        .ok_or_else(|| format!("{}: is not an object; fix it by hand first", path.display()))?;
    let key = section_key(sections, source).unwrap_or_else(|| source.trim().to_string());
    let created = !sections.contains_key(&key);
    let section = sections
        .entry(key.clone())
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| format!("{}: section {key} is not an object", path.display()))?;
    let from = from.trim().to_string();
    let to = to.trim().to_ascii_uppercase();
    match section
        .keys()
        .find(|k| k.trim().eq_ignore_ascii_case(&from))
        .cloned()
    {
        // Keeps the entry where it was in the file.
        Some(old) if old == from => {
            section.insert(old, Value::String(to.clone()));
        }
        Some(old) => {
            let rebuilt: Map<String, Value> = std::mem::take(section)
                .into_iter()
                .map(|(k, v)| {
                    if k == old {
                        (from.clone(), Value::String(to.clone()))
                    } else {
                        (k, v)
                    }
                })
                .collect();
            *section = rebuilt;
        }
        None => {
            section.insert(from.clone(), Value::String(to.clone()));
        }
    }
    edit::validate_and_write(
        dir,
        &[Change {
            file: ConfigFile::Mapping,
            text: edit::to_text(&value),
        }],
    )?;
    println!("{key}: {from} -> {to}");
    if created {
        println!(
            "note: {key} had no section, so it passed every symbol through; now it maps only the symbols its section lists"
        );
    }
    Ok(())
}

/// Removes `from` from `source`'s section. A section left empty stays, as `{}`: an empty
/// section maps nothing, while a missing one would pass every symbol through.
pub fn remove(dir: &Path, source: &str, from: &str) -> Result<(), String> {
    let path = edit::path_of(dir, ConfigFile::Mapping)?;
    let mut value = edit::read_value(&path, json!({}))?;
    let sections = value
        .as_object_mut()
        .ok_or_else(|| format!("{}: is not an object; fix it by hand first", path.display()))?;
    let key = section_key(sections, source)
        .ok_or_else(|| format!("{}: has no section {source}", path.display()))?;
    let section = sections
        .get_mut(&key)
        .and_then(Value::as_object_mut)
        .ok_or_else(|| format!("{}: section {key} is not an object", path.display()))?;
    let old = section
        .keys()
        .find(|k| k.trim().eq_ignore_ascii_case(from.trim()))
        .cloned()
        .ok_or_else(|| format!("{}: section {key} does not map {from}", path.display()))?;
    section.shift_remove(&old);
    let empty = section.is_empty();
    edit::validate_and_write(
        dir,
        &[Change {
            file: ConfigFile::Mapping,
            text: edit::to_text(&value),
        }],
    )?;
    println!("{key}: {old} removed; signals for it are ignored from now on");
    if empty {
        println!("note: the {key} section is now empty and maps nothing (it is kept: without it every symbol would pass through)");
    }
    Ok(())
}

fn section_key(sections: &Map<String, Value>, source: &str) -> Option<String> {
    sections
        .keys()
        .filter(|k| k.as_str() != crate::config::SCHEMA_KEY)
        .find(|k| k.eq_ignore_ascii_case(source.trim()))
        .cloned()
}
