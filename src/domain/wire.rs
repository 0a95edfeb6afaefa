//! One spelling per enum value: logs print an enum exactly as the HTTP API and the state
//! files serialise it, because both come from its serde name.

use serde::Serialize;
use std::fmt;

/// Writes `value`'s serde name (`reducing`, `explicit_sequence`), for a `Display` impl.
pub fn write_wire_name<T: Serialize>(value: &T, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => f.write_str(&name),
        _ => Err(fmt::Error),
    }
}

/// `impl Display` through [`write_wire_name`] for unit-only enums with a serde name.
#[macro_export]
macro_rules! display_as_wire_name {
    ($($t:ty),+ $(,)?) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                $crate::domain::write_wire_name(self, f)
            }
        }
    )+};
}
