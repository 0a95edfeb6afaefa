//! Turns a webhook body into a depth for one symbol.
//!
//! Two forms are accepted. The Python tool's alert form
//! `{ "symbol", "direction": long|short|flat, "action", "size": "14.08/100" | "Exit @ 3263.5",
//!    "leverage", "price", "signal_seq", "event_id" }`, where `size` is the target position as a
//! fraction of the portfolio, and the plain form `{ "symbol", "depth": -0.25, "leverage" }`.
//! Any field may be a string or a number. Unlike the Python tool, a short with a positive size
//! is short, a long with a negative size is refused, and a depth outside [-1, 1] is refused.

use crate::input::excerpt;
use crate::signals::check_depth;
use crate::signals::lenient::{self, parse_decimal};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// What a sender asks for, checked and normalised.
#[derive(Clone, Debug, PartialEq)]
pub struct Incoming {
    pub symbol: String,
    pub depth: Decimal,
    pub leverage: Option<Decimal>,
    pub key: Option<OrderKey>,
    pub event_id: Option<String>,
    /// The alert's price; informational only (sizing uses the venue's own price).
    pub price: Option<Decimal>,
    /// Fields present in the body that trade-engine does not read, so a typo is visible in
    /// the answer.
    pub ignored: Vec<String>,
}

/// The sender's explicit ordering key. Keys only compare within one kind, as in the Python
/// tool: an integer `signal_seq`, else a textual `signal_seq`, else `event_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum OrderKey {
    Seq(u64),
    SeqText(String),
    EventId(String),
}

impl OrderKey {
    pub fn compare(&self, other: &OrderKey) -> Option<Ordering> {
        match (self, other) {
            (OrderKey::Seq(a), OrderKey::Seq(b)) => Some(a.cmp(b)),
            (OrderKey::SeqText(a), OrderKey::SeqText(b)) => Some(a.cmp(b)),
            (OrderKey::EventId(a), OrderKey::EventId(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    pub fn seq(&self) -> Option<u64> {
        match self {
            OrderKey::Seq(n) => Some(*n),
            _ => None,
        }
    }
}

impl std::fmt::Display for OrderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrderKey::Seq(n) => write!(f, "signal_seq {n}"),
            OrderKey::SeqText(s) => write!(f, "signal_seq {}", excerpt(s)),
            OrderKey::EventId(s) => write!(f, "event_id {}", excerpt(s)),
        }
    }
}

/// Fields read here; everything else is reported as ignored.
const READ: [&str; 10] = [
    "token",
    "symbol",
    "direction",
    "action",
    "size",
    "depth",
    "leverage",
    "price",
    "signal_seq",
    "event_id",
];
/// Fields of the Python tool's alert template that it never used either.
const KNOWN_UNUSED: [&str; 3] = ["priority", "takeprofit", "trailstop"];

const MAX_SYMBOL_LEN: usize = 40;

/// The token a sender put in the body (TradingView alerts cannot set headers).
pub fn body_token(body: &Value) -> Option<&str> {
    body.get("token").and_then(Value::as_str)
}

/// Checks a parsed body. The error is the reason given to the sender with a 422.
pub fn parse(body: &Value) -> Result<Incoming, String> {
    let Value::Object(obj) = body else {
        return Err("the body must be a JSON object".into());
    };
    let symbol = symbol(obj)?;
    let has_depth = present(obj, "depth");
    let has_direction = present(obj, "direction");
    let depth = match (has_depth, has_direction) {
        (true, true) => {
            return Err("give either \"depth\" (plain form) or \"direction\" and \"size\" (alert form), not both".into())
        }
        (false, false) => {
            return Err("needs \"depth\" (e.g. -0.25) or \"direction\" and \"size\" (e.g. \"long\", \"14.08/100\")".into())
        }
        (true, false) => {
            if present(obj, "size") {
                return Err("\"size\" belongs to the alert form; with \"depth\" leave it out".into());
            }
            lenient::decimal(obj.get("depth"), "depth")?
                .ok_or("\"depth\" is empty; use 0 to close")?
        }
        (false, true) => alert_depth(obj)?,
    };
    let depth = check_depth(depth.normalize())?;
    let leverage = if depth.is_zero() {
        None
    } else {
        leverage(obj)?
    };
    let price = lenient::decimal(obj.get("price"), "price")?.filter(|p| *p > Decimal::ZERO);
    let signal_seq = lenient::text(obj.get("signal_seq"), "signal_seq")?;
    let event_id = lenient::text(obj.get("event_id"), "event_id")?;
    let key = match (&signal_seq, &event_id) {
        (Some(s), _) => Some(match s.parse::<u64>() {
            Ok(n) => OrderKey::Seq(n),
            Err(_) => OrderKey::SeqText(s.clone()),
        }),
        (None, Some(e)) => Some(OrderKey::EventId(e.clone())),
        (None, None) => None,
    };
    let ignored = obj
        .keys()
        .filter(|k| !READ.contains(&k.as_str()) && !KNOWN_UNUSED.contains(&k.as_str()))
        .cloned()
        .collect();
    Ok(Incoming {
        symbol,
        depth,
        leverage,
        key,
        event_id,
        price,
        ignored,
    })
}

fn present(obj: &Map<String, Value>, field: &str) -> bool {
    obj.get(field).is_some_and(|v| !v.is_null())
}

fn symbol(obj: &Map<String, Value>) -> Result<String, String> {
    let symbol = lenient::text(obj.get("symbol"), "symbol")?
        .ok_or("\"symbol\" is missing (e.g. \"BTCUSDT\")")?
        .to_ascii_uppercase();
    if symbol.len() > MAX_SYMBOL_LEN
        || !symbol
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:/-!".contains(c))
    {
        return Err(format!(
            "\"symbol\" {} is not a ticker (letters, digits and . _ : / - !, at most {MAX_SYMBOL_LEN})",
            excerpt(&symbol)
        ));
    }
    Ok(symbol)
}

enum Size {
    Exit,
    Fraction(Decimal),
}

fn alert_depth(obj: &Map<String, Value>) -> Result<Decimal, String> {
    let direction = lenient::text(obj.get("direction"), "direction")?
        .unwrap_or_default()
        .to_ascii_lowercase();
    if let Some(action) = lenient::text(obj.get("action"), "action")? {
        if !matches!(action.to_ascii_lowercase().as_str(), "buy" | "sell") {
            return Err(format!(
                "\"action\" {} is not buy or sell",
                excerpt(&action)
            ));
        }
    }
    // A flat closes whatever the size says ("Exit @ 3263.55" is the usual companion), so its
    // size is not even parsed.
    if direction == "flat" {
        return Ok(Decimal::ZERO);
    }
    let size = match lenient::text(obj.get("size"), "size")? {
        None => None,
        Some(s) => Some(size(obj, &s)?),
    };
    match (direction.as_str(), size) {
        ("long" | "short", None) => Err(format!(
            "direction {direction} needs a \"size\" such as \"14.08/100\""
        )),
        ("long" | "short", Some(Size::Exit)) => Err(format!(
            "an exit size goes with direction flat, not {direction}"
        )),
        ("long", Some(Size::Fraction(f))) if f < Decimal::ZERO => Err(format!(
            "direction long with a negative size ({f}) is contradictory; send direction short"
        )),
        ("long", Some(Size::Fraction(f))) => Ok(f),
        ("short", Some(Size::Fraction(f))) => Ok(-f.abs()),
        _ => Err(format!(
            "\"direction\" {} is not long, short or flat",
            excerpt(&direction)
        )),
    }
}

fn size(obj: &Map<String, Value>, text: &str) -> Result<Size, String> {
    let quoted = excerpt(text);
    if obj.get("size").is_some_and(Value::is_number) {
        return Err(format!(
            "\"size\" {text} is ambiguous as a bare number; write it as \"{text}/100\" (percent) or \"{text}/1\""
        ));
    }
    if text.to_ascii_lowercase().starts_with("exit") {
        return Ok(Size::Exit);
    }
    let Some((num, den)) = text.split_once('/').filter(|(_, d)| !d.contains('/')) else {
        return Err(format!(
            "\"size\" {quoted} is neither \"<number>/<number>\" nor \"Exit @ <price>\""
        ));
    };
    let (Some(num), Some(den)) = (parse_decimal(num), parse_decimal(den)) else {
        return Err(format!("\"size\" {quoted} has a part that is not a number"));
    };
    if den.is_zero() {
        return Err(format!("\"size\" {quoted} divides by zero"));
    }
    let fraction = num
        .checked_div(den.abs())
        .ok_or_else(|| format!("\"size\" {quoted} is out of range"))?;
    Ok(Size::Fraction(fraction))
}

fn leverage(obj: &Map<String, Value>) -> Result<Option<Decimal>, String> {
    match lenient::decimal(obj.get("leverage"), "leverage")? {
        // The Python tool's templates send 0 when they mean "the configured leverage".
        None => Ok(None),
        Some(l) if l.is_zero() => Ok(None),
        Some(l) if l < Decimal::ONE => Err(format!("\"leverage\" {l} is below 1")),
        Some(l) => Ok(Some(l.normalize())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

    fn depth(v: Value) -> Result<Decimal, String> {
        parse(&v).map(|i| i.depth)
    }

    #[test]
    fn python_alert_form_with_strings_or_numbers() {
        let i = parse(
            &json!({"symbol": "ethusdt", "direction": "long", "action": "buy",
            "size": "14.08/100", "leverage": "3", "price": "3328.25", "signal_seq": "7",
            "priority": "", "takeprofit": "0.0", "trailstop": "0.0", "token": "x"}),
        )
        .unwrap();
        assert_eq!(i.symbol, "ETHUSDT");
        assert_eq!(i.depth, dec!(0.1408));
        assert_eq!(i.leverage, Some(dec!(3)));
        assert_eq!(i.price, Some(dec!(3328.25)));
        assert_eq!(i.key, Some(OrderKey::Seq(7)));
        assert!(i.ignored.is_empty());
        let n = parse(
            &json!({"symbol": "ETHUSDT", "direction": "long", "size": "14.08/100",
            "leverage": 3, "price": 3328.25, "signal_seq": 7, "color": "red"}),
        )
        .unwrap();
        assert_eq!((n.depth, n.leverage, n.key), (i.depth, i.leverage, i.key));
        assert_eq!(n.ignored, vec!["color".to_string()]);
    }

    #[test]
    fn depth_rules_without_the_python_bugs() {
        // Short with a positive size is short (the Python tool once traded it long).
        assert_eq!(
            depth(json!({"symbol": "X", "direction": "short", "size": "33.78/100"})),
            Ok(dec!(-0.3378))
        );
        assert_eq!(
            depth(json!({"symbol": "X", "direction": "short", "size": "-14.08/100"})),
            Ok(dec!(-0.1408))
        );
        // Flat is 0 whatever the size says.
        assert_eq!(
            depth(json!({"symbol": "X", "direction": "flat", "size": "Exit @ 3263.55"})),
            Ok(dec!(0))
        );
        assert_eq!(
            depth(json!({"symbol": "X", "direction": "flat", "size": "0/100", "leverage": "3"})),
            Ok(dec!(0))
        );
        assert_eq!(
            depth(
                json!({"symbol": "X", "direction": "FLAT", "size": "{{strategy.order.alert_message}}"})
            ),
            Ok(dec!(0))
        );
        // 150/100 is refused, not traded at 1.5.
        let e = depth(json!({"symbol": "X", "direction": "long", "size": "150/100"})).unwrap_err();
        assert!(e.contains("outside [-1, 1]"), "{e}");
        let e = depth(json!({"symbol": "X", "direction": "long", "size": "-5/100"})).unwrap_err();
        assert!(e.contains("contradictory"), "{e}");
        let e = depth(json!({"symbol": "X", "direction": "long", "size": "Exit @ 1"})).unwrap_err();
        assert!(e.contains("flat"), "{e}");
        let e = depth(json!({"symbol": "X", "direction": "long", "size": "1/0"})).unwrap_err();
        assert!(e.contains("zero"), "{e}");
        let e = depth(json!({"symbol": "X", "direction": "long", "size": 25})).unwrap_err();
        assert!(e.contains("ambiguous"), "{e}");
        let e = depth(json!({"symbol": "X", "direction": "up", "size": "1/2"})).unwrap_err();
        assert!(e.contains("not long, short or flat"), "{e}");
        let e = depth(json!({"symbol": "X", "direction": "long"})).unwrap_err();
        assert!(e.contains("size"), "{e}");
    }

    #[test]
    fn plain_form() {
        let i = parse(&json!({"symbol": "BTCUSDT", "depth": -0.25, "leverage": "2"})).unwrap();
        assert_eq!((i.depth, i.leverage), (dec!(-0.25), Some(dec!(2))));
        assert_eq!(
            depth(json!({"symbol": "BTCUSDT", "depth": "0.5"})),
            Ok(dec!(0.5))
        );
        assert_eq!(
            depth(json!({"symbol": "BTCUSDT", "depth": -1})),
            Ok(dec!(-1))
        );
        let e = depth(json!({"symbol": "BTCUSDT", "depth": 1.01})).unwrap_err();
        assert!(e.contains("1.01 is outside [-1, 1]"), "{e}");
        let e = depth(json!({"symbol": "BTCUSDT", "depth": 0.1, "direction": "long"})).unwrap_err();
        assert!(e.contains("not both"), "{e}");
        let e = depth(json!({"symbol": "BTCUSDT", "dept": 0.1})).unwrap_err();
        assert!(e.contains("needs \"depth\""), "{e}");
        let e = depth(json!({"depth": 0.1})).unwrap_err();
        assert!(e.contains("symbol"), "{e}");
        let e = depth(json!({"symbol": "BTC USDT", "depth": 0.1})).unwrap_err();
        assert!(e.contains("not a ticker"), "{e}");
        let e = parse(&json!({"symbol": "X", "depth": 0.1, "leverage": 0.5})).unwrap_err();
        assert!(e.contains("below 1"), "{e}");
        assert!(parse(&json!([1, 2])).is_err());
    }

    #[test]
    fn ordering_keys() {
        let k = |v: Value| parse(&v).unwrap().key;
        assert_eq!(
            k(json!({"symbol": "X", "depth": 0, "signal_seq": "abc"})),
            Some(OrderKey::SeqText("abc".into()))
        );
        assert_eq!(
            k(json!({"symbol": "X", "depth": 0, "event_id": 42})),
            Some(OrderKey::EventId("42".into()))
        );
        assert_eq!(
            k(json!({"symbol": "X", "depth": 0, "signal_seq": ""})),
            None
        );
        assert_eq!(
            OrderKey::Seq(2).compare(&OrderKey::Seq(10)),
            Some(Ordering::Less)
        );
        assert_eq!(
            OrderKey::Seq(2).compare(&OrderKey::EventId("1".into())),
            None
        );
    }
}
