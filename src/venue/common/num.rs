//! Decimals as venues send them: JSON numbers or numeric strings, sometimes in scientific
//! notation (an exchange payload once changed to it silently — bug #34 of the tool we
//! replace), `""` or `null` for "none". Always read from the number's text, never through f64.

use crate::venue::VenueError;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::str::FromStr;

/// A numeric text as an exact decimal; `""` means absent.
pub fn parse_text(s: &str) -> Option<Decimal> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    Decimal::from_str(s)
        .or_else(|_| Decimal::from_scientific(s))
        .ok()
}

/// A required decimal field, with the field named in the error.
pub fn required(field: &str, s: &str) -> Result<Decimal, VenueError> {
    parse_text(s).ok_or_else(|| {
        VenueError::Decode(format!(
            "field {field} is not a number: {:?}",
            crate::venue::http::snippet(s)
        ))
    })
}

/// A JSON number or numeric string as an exact decimal. serde_json prints a float with the
/// shortest text that reads back to the same value, so "97849.76" stays 97849.76.
pub fn from_value(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(n) => parse_text(&n.to_string()),
        Value::String(s) => parse_text(s),
        _ => None,
    }
}

/// serde `deserialize_with`: `null`, a missing field or an empty string read as `None`;
/// anything else must be a number or a numeric string.
pub fn opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(v) => from_value(&v)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("not a number: {v}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn strings_numbers_scientific_and_empty() {
        assert_eq!(parse_text(" 97849.76 "), Some(dec!(97849.76)));
        assert_eq!(parse_text("1e-3"), Some(dec!(0.001)));
        assert_eq!(parse_text(""), None);
        assert_eq!(parse_text("abc"), None);
        assert_eq!(
            from_value(&serde_json::json!(97849.76)),
            Some(dec!(97849.76))
        );
        assert_eq!(from_value(&serde_json::json!("0.1")), Some(dec!(0.1)));
        assert_eq!(from_value(&serde_json::json!(true)), None);
        let e = required("qty", "x").unwrap_err().to_string();
        assert!(e.contains("qty"), "{e}");
    }
}
