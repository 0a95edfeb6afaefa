//! `config credentials set`: writes one entry of credentials.json, mode 0600. Secrets come
//! from a no-echo prompt on a terminal, else one per line from stdin; they are never printed.

use super::edit::{self, Change};
use crate::config::ConfigFile;
use serde_json::{json, Map, Value};
use std::io::{BufRead, IsTerminal};
use std::path::Path;

pub struct Fields {
    pub passphrase: bool,
    pub key_only: bool,
    pub account_id: Option<String>,
    pub endpoint: Option<String>,
}

pub fn set(dir: &Path, entry: &str, fields: &Fields) -> Result<(), String> {
    if entry.is_empty()
        || entry.len() > 64
        || !entry
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(
            "the entry name must be letters, digits, '_' or '-', at most 64 (it is not shown in case it is a secret)"
                .into(),
        );
    }
    let path = edit::path_of(dir, ConfigFile::Credentials)?;
    let mut value = edit::read_value(&path, json!({}))?;
    let entries = value
        .as_object_mut()
        .ok_or_else(|| format!("{}: is not an object; fix it by hand first", path.display()))?;

    let mut secret_fields = vec!["api_key"];
    if !fields.key_only {
        secret_fields.push("api_secret");
    }
    if fields.passphrase {
        secret_fields.push("api_passphrase");
    }
    let secrets = read_secrets(entry, &secret_fields)?;

    let record = entries
        .entry(entry.to_string())
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| {
            format!(
                "{}: entry {entry} is not an object; fix it by hand first",
                path.display()
            )
        })?;
    for (field, secret) in secret_fields.iter().zip(secrets) {
        record.insert(field.to_string(), Value::String(secret));
    }
    if let Some(id) = &fields.account_id {
        record.insert("account_id".into(), Value::String(id.clone()));
    }
    if let Some(endpoint) = &fields.endpoint {
        record.insert("endpoint".into(), Value::String(endpoint.clone()));
    }
    edit::validate_and_write(
        dir,
        &[Change {
            file: ConfigFile::Credentials,
            text: edit::to_text(&value),
        }],
    )?;
    println!(
        "credentials entry {entry}: {} set (values not shown); file mode 0600",
        secret_fields.join(", ")
    );
    Ok(())
}

fn read_secrets(entry: &str, fields: &[&str]) -> Result<Vec<String>, String> {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    let mut lines = stdin.lock().lines();
    let mut out = Vec::new();
    for field in fields {
        let secret = if terminal {
            rpassword::prompt_password(format!("{field} for {entry} (not shown): "))
                .map_err(|e| format!("cannot read {field} from the terminal: {e}"))?
        } else {
            match lines.next() {
                Some(Ok(line)) => line,
                Some(Err(e)) => return Err(format!("cannot read {field} from stdin: {e}")),
                None => {
                    return Err(format!(
                        "stdin ended before {field}; give {} one per line; nothing was written",
                        fields.join(", ")
                    ))
                }
            }
        };
        let secret = secret.trim().to_string();
        if secret.is_empty() {
            return Err(format!("{field} is empty; nothing was written"));
        }
        out.push(secret);
    }
    Ok(out)
}
