//! BitMEX wire types, spelled as the venue spells them. Money fields are plain JSON numbers
//! on BitMEX; they are read as their decimal text (never through f64 arithmetic) by [`num`].
//! Request bodies are written by [`Body`] so that the bytes signed are the bytes sent, with
//! numbers written as JSON numbers from their exact decimal form.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;

pub use crate::venue::common::num;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireInstrument {
    pub symbol: String,
    /// When BitMEX last updated the row: the time a quote from it is dated by.
    #[serde(default)]
    pub timestamp: Option<DateTime<Utc>>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub is_inverse: Option<bool>,
    #[serde(default)]
    pub is_quanto: Option<bool>,
    #[serde(default)]
    pub quote_currency: Option<String>,
    #[serde(default)]
    pub settl_currency: Option<String>,
    #[serde(default, deserialize_with = "num::opt")]
    pub tick_size: Option<Decimal>,
    #[serde(default, deserialize_with = "num::opt")]
    pub lot_size: Option<Decimal>,
    #[serde(default, deserialize_with = "num::opt")]
    pub max_order_qty: Option<Decimal>,
    #[serde(default, deserialize_with = "num::opt")]
    pub multiplier: Option<Decimal>,
    #[serde(default, deserialize_with = "num::opt")]
    pub underlying_to_position_multiplier: Option<Decimal>,
    #[serde(default, deserialize_with = "num::opt")]
    pub init_margin: Option<Decimal>,
    #[serde(default, deserialize_with = "num::opt")]
    pub mark_price: Option<Decimal>,
    #[serde(default, deserialize_with = "num::opt")]
    pub last_price: Option<Decimal>,
}

/// One currency of `GET /user/margin?currency=all`; amounts in the currency's minor unit.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireMargin {
    pub currency: String,
    #[serde(default, deserialize_with = "num::opt")]
    pub margin_balance: Option<Decimal>,
    #[serde(default, deserialize_with = "num::opt")]
    pub available_margin: Option<Decimal>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WirePosition {
    pub symbol: String,
    #[serde(default, deserialize_with = "num::opt")]
    pub current_qty: Option<Decimal>,
    #[serde(default, deserialize_with = "num::opt")]
    pub avg_entry_price: Option<Decimal>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireOrder {
    #[serde(rename = "orderID", default)]
    pub order_id: String,
    #[serde(rename = "clOrdID", default)]
    pub cl_ord_id: Option<String>,
    #[serde(default)]
    pub symbol: Option<String>,
    #[serde(default)]
    pub side: Option<String>,
    #[serde(default, deserialize_with = "num::opt")]
    pub order_qty: Option<Decimal>,
    #[serde(default, deserialize_with = "num::opt")]
    pub price: Option<Decimal>,
    #[serde(default)]
    pub exec_inst: Option<String>,
    #[serde(default)]
    pub ord_status: Option<String>,
    #[serde(default, deserialize_with = "num::opt")]
    pub leaves_qty: Option<Decimal>,
    #[serde(default, deserialize_with = "num::opt")]
    pub cum_qty: Option<Decimal>,
    #[serde(default, deserialize_with = "num::opt")]
    pub avg_px: Option<Decimal>,
    #[serde(default)]
    pub text: Option<String>,
    /// Set on elements of a `DELETE /order` answer that could not be cancelled.
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireExecution {
    #[serde(rename = "clOrdID", default)]
    pub cl_ord_id: Option<String>,
    #[serde(default)]
    pub symbol: Option<String>,
    #[serde(default)]
    pub side: Option<String>,
    #[serde(default)]
    pub exec_type: Option<String>,
    #[serde(default, deserialize_with = "num::opt")]
    pub last_qty: Option<Decimal>,
    #[serde(default, deserialize_with = "num::opt")]
    pub last_px: Option<Decimal>,
    #[serde(default)]
    pub transact_time: Option<DateTime<Utc>>,
}

/// One row of `GET /trade/bucketed`; `timestamp` is the bucket's close time.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireTradeBin {
    pub timestamp: DateTime<Utc>,
    #[serde(default, deserialize_with = "num::opt")]
    pub open: Option<Decimal>,
    #[serde(default, deserialize_with = "num::opt")]
    pub high: Option<Decimal>,
    #[serde(default, deserialize_with = "num::opt")]
    pub low: Option<Decimal>,
    #[serde(default, deserialize_with = "num::opt")]
    pub close: Option<Decimal>,
    #[serde(default, deserialize_with = "num::opt")]
    pub volume: Option<Decimal>,
}

/// A compact JSON object written field by field, in order, so the signed body is exactly the
/// body sent and decimals go out as JSON numbers without passing through f64.
#[derive(Debug, Default)]
pub struct Body(String);

impl Body {
    pub fn new() -> Body {
        Body(String::from("{"))
    }

    fn key(&mut self, key: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0
            .push_str(&serde_json::Value::String(key.to_string()).to_string());
        self.0.push(':');
    }

    pub fn str(mut self, key: &str, value: &str) -> Body {
        self.key(key);
        self.0
            .push_str(&serde_json::Value::String(value.to_string()).to_string());
        self
    }

    pub fn num(mut self, key: &str, value: Decimal) -> Body {
        self.key(key);
        self.0.push_str(&value.normalize().to_string());
        self
    }

    pub fn boolean(mut self, key: &str, value: bool) -> Body {
        self.key(key);
        self.0.push_str(if value { "true" } else { "false" });
        self
    }

    pub fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn numbers_are_read_from_their_text() {
        let v: serde_json::Value = serde_json::from_str(
            r#"[97849.76, 0.1, 100000000, -100000000, 1e-7, "35000.5", null]"#,
        )
        .unwrap();
        let got: Vec<Option<Decimal>> = v.as_array().unwrap().iter().map(num::from_value).collect();
        assert_eq!(
            got,
            vec![
                Some(dec!(97849.76)),
                Some(dec!(0.1)),
                Some(dec!(100000000)),
                Some(dec!(-100000000)),
                Some(dec!(0.0000001)),
                Some(dec!(35000.5)),
                None
            ]
        );
    }

    #[test]
    fn body_writes_exact_json() {
        let body = Body::new()
            .str("symbol", "XBTUSD")
            .num("orderQty", dec!(100.00))
            .num("price", dec!(35000.50))
            .boolean("enabled", false)
            .str("text", "a \"quoted\" note")
            .finish();
        assert_eq!(
            body,
            r#"{"symbol":"XBTUSD","orderQty":100,"price":35000.5,"enabled":false,"text":"a \"quoted\" note"}"#
        );
        let back: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(back["orderQty"], 100);
        assert_eq!(Body::new().finish(), "{}");
    }
}
