//! Candles sent as rows of text (`[startMs, open, high, low, close, volume, …]`, newest first),
//! the shape Bybit and BloFin share.

use crate::domain::Candle;
use crate::venue::VenueError;
use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;

/// Milliseconds since the epoch, as text.
pub fn millis(s: &str) -> Option<DateTime<Utc>> {
    s.trim()
        .parse::<i64>()
        .ok()
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
}

/// Rows of text as candles, oldest first like every other venue; `num` is the venue's
/// decimal reader (its errors name the venue), `what` names a row in errors.
pub fn from_text_rows(
    rows: &[Vec<String>],
    what: &str,
    num: impl Fn(&str, &str) -> Result<Decimal, VenueError>,
) -> Result<Vec<Candle>, VenueError> {
    from_rows(
        rows,
        what,
        |s: &String| millis(s),
        |s, name| num(name, s.map(String::as_str).unwrap_or("")),
    )
}

/// Rows `[startMs, open, high, low, close, volume, …]` of any cell type as candles, oldest
/// first: `time` reads the first cell, `num` the others (a missing cell reads as `None`).
pub fn from_rows<T: std::fmt::Debug>(
    rows: &[Vec<T>],
    what: &str,
    time: impl Fn(&T) -> Option<DateTime<Utc>>,
    num: impl Fn(Option<&T>, &str) -> Result<Decimal, VenueError>,
) -> Result<Vec<Candle>, VenueError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let field = |i: usize, name: &str| num(row.get(i), name);
        let open_time = row
            .first()
            .and_then(&time)
            .ok_or_else(|| VenueError::Decode(format!("{what} row without a time: {row:?}")))?;
        out.push(Candle {
            open_time,
            open: field(1, "open")?,
            high: field(2, "high")?,
            low: field(3, "low")?,
            close: field(4, "close")?,
            volume: field(5, "volume")?,
        });
    }
    out.sort_by_key(|c| c.open_time);
    Ok(out)
}
