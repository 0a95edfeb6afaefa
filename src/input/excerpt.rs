//! Short excerpts of values for error messages: a bad value may be megabytes long, or a
//! secret pasted in the wrong place; a message quotes at most [`EXCERPT_CHARS`] of it.

/// The most characters of a value an error message quotes.
pub const EXCERPT_CHARS: usize = 40;

/// The value quoted (Debug-style), cut to [`EXCERPT_CHARS`] characters with an ellipsis.
pub fn excerpt(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        format!("{:?}", format!("{head}…"))
    } else {
        format!("{head:?}")
    }
}

/// Cuts every quoted ("…") or back-ticked (`…`) part of a message (as serde writes the values
/// and field names it complains about) to [`EXCERPT_CHARS`] characters.
pub fn shorten_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(512));
    let mut quote: Option<char> = None;
    let mut kept = 0usize;
    let mut cut = false;
    let mut escaped = false;
    for c in message.chars() {
        match quote {
            None => {
                out.push(c);
                if c == '"' || c == '`' {
                    quote = Some(c);
                    kept = 0;
                    cut = false;
                }
            }
            Some(q) => {
                let closes = c == q && !escaped;
                escaped = !escaped && c == '\\' && q == '"';
                if closes {
                    if cut {
                        out.push('…');
                    }
                    out.push(c);
                    quote = None;
                    cut = false;
                } else if kept < EXCERPT_CHARS {
                    out.push(c);
                    kept += 1;
                } else {
                    cut = true;
                }
            }
        }
    }
    if cut {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_short() {
        assert_eq!(excerpt("BTCUSDT"), "\"BTCUSDT\"");
        let long = "a".repeat(100);
        let e = excerpt(&long);
        assert_eq!(e, format!("\"{}…\"", "a".repeat(EXCERPT_CHARS)));
    }

    #[test]
    fn quoted_parts_of_serde_messages_are_cut() {
        let long = "x".repeat(1000);
        let msg = format!("invalid type: string \"{long}\", expected a Decimal");
        let short = shorten_quoted(&msg);
        assert_eq!(
            short,
            format!(
                "invalid type: string \"{}…\", expected a Decimal",
                "x".repeat(EXCERPT_CHARS)
            )
        );
        let msg = format!("unknown field `{long}`, expected `depth` or `leverage`");
        assert!(shorten_quoted(&msg).ends_with("…`, expected `depth` or `leverage`"));
        // Escaped quotes inside a value do not end it early.
        let msg = format!("string \"ab\\\"{long}\" here");
        let short = shorten_quoted(&msg);
        assert!(short.ends_with("…\" here"), "{short}");
        assert!(short.len() < 60, "{short}");
        assert_eq!(shorten_quoted("no quotes"), "no quotes");
    }
}
