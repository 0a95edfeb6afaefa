//! Reading JSON fields that senders write either as strings or as numbers (TradingView alert
//! templates quote everything; hand-written payloads often do not). Numbers become `Decimal`
//! through their decimal text, never through f64 arithmetic.

use rust_decimal::Decimal;
use serde_json::Value;
use std::str::FromStr;

/// Parses decimal text such as `"0.25"`, `"-3"` or `"7e-05"`.
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    let text = text.trim();
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .ok()
}

/// A number or numeric string; `null`, a missing field and `""` are `None`.
pub fn decimal(value: Option<&Value>, field: &str) -> Result<Option<Decimal>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => parse_decimal(s)
            .map(Some)
            .ok_or_else(|| format!("\"{field}\": {} is not a number", crate::input::excerpt(s))),
        Some(Value::Number(n)) => parse_decimal(&n.to_string())
            .map(Some)
            .ok_or_else(|| format!("\"{field}\": {n} is out of range")),
        Some(other) => Err(format!(
            "\"{field}\" must be a number or a string, not {}",
            kind(other)
        )),
    }
}

/// A string, or a number taken as its text; `null`, a missing field and `""` are `None`.
pub fn text(value: Option<&Value>, field: &str) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(format!(
            "\"{field}\" must be a string or a number, not {}",
            kind(other)
        )),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Serde adapter for `Decimal` fields of third-party JSON that arrive as numbers or strings.
/// The number is read through its shortest decimal text, so `0.1` stays exactly 0.1.
pub mod serde_decimal {
    use rust_decimal::Decimal;
    use serde::de::{self, Visitor};
    use serde::Deserializer;
    use std::fmt;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        d.deserialize_any(DecimalVisitor)
    }

    pub fn deserialize_option<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Decimal>, D::Error> {
        d.deserialize_any(OptionVisitor)
    }

    struct DecimalVisitor;

    impl Visitor<'_> for DecimalVisitor {
        type Value = Decimal;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a number or a numeric string")
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
            Ok(Decimal::from(v))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
            Ok(Decimal::from(v))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
            if !v.is_finite() {
                return Err(E::custom(format!("{v} is not a finite number")));
            }
            // Rust prints f64 as its shortest round-tripping decimal text, without exponent.
            super::parse_decimal(&v.to_string())
                .ok_or_else(|| E::custom(format!("{v} is out of the decimal range")))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
            super::parse_decimal(v)
                .ok_or_else(|| E::custom(format!("{} is not a number", crate::input::excerpt(v))))
        }
    }

    struct OptionVisitor;

    impl<'de> Visitor<'de> for OptionVisitor {
        type Value = Option<Decimal>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a number, a numeric string or null")
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            DecimalVisitor.visit_i64(v).map(Some)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            DecimalVisitor.visit_u64(v).map(Some)
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            DecimalVisitor.visit_f64(v).map(Some)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if v.trim().is_empty() {
                return Ok(None);
            }
            DecimalVisitor.visit_str(v).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

    #[test]
    fn numbers_and_strings_give_the_same_decimal() {
        let v = json!({"a": 0.1, "b": "0.1", "c": 7e-05, "d": "", "e": true, "f": 3});
        assert_eq!(decimal(v.get("a"), "a").unwrap(), Some(dec!(0.1)));
        assert_eq!(decimal(v.get("b"), "b").unwrap(), Some(dec!(0.1)));
        assert_eq!(decimal(v.get("c"), "c").unwrap(), Some(dec!(0.00007)));
        assert_eq!(decimal(v.get("d"), "d").unwrap(), None);
        assert_eq!(decimal(v.get("missing"), "x").unwrap(), None);
        assert!(decimal(v.get("e"), "e").unwrap_err().contains("a boolean"));
        assert_eq!(text(v.get("f"), "f").unwrap().as_deref(), Some("3"));
    }

    #[test]
    fn serde_adapter_reads_floats_exactly() {
        #[derive(serde::Deserialize)]
        struct T {
            #[serde(deserialize_with = "serde_decimal::deserialize")]
            x: Decimal,
            #[serde(default, deserialize_with = "serde_decimal::deserialize_option")]
            y: Option<Decimal>,
        }
        let t: T = serde_json::from_str(r#"{"x": -0.26999999999999996, "y": null}"#).unwrap();
        assert_eq!(t.x, dec!(-0.26999999999999996));
        assert_eq!(t.y, None);
        let t: T = serde_json::from_str(r#"{"x": "1.5", "y": 2}"#).unwrap();
        assert_eq!((t.x, t.y), (dec!(1.5), Some(dec!(2))));
    }
}
