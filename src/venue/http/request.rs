//! A request whose final bytes are fixed before it is signed: the signer reads the path,
//! query and body back from here, so what is signed is exactly what goes on the wire.

use crate::venue::VenueError;
use reqwest::Method;
use url::Url;

#[derive(Clone, Debug)]
pub struct PreparedRequest {
    pub method: Method,
    pub url: Url,
    pub body: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl PreparedRequest {
    /// `base` + `path` + `?query` (the query already encoded by the caller, in the order the
    /// venue expects), with an optional JSON body serialised once.
    pub fn new(
        method: Method,
        base: &Url,
        path: &str,
        query: &str,
        body: Option<String>,
    ) -> Result<PreparedRequest, VenueError> {
        let mut text = base.as_str().trim_end_matches('/').to_string();
        text.push_str(path);
        if !query.is_empty() {
            text.push('?');
            text.push_str(query);
        }
        let url =
            Url::parse(&text).map_err(|e| VenueError::Local(format!("bad URL {text}: {e}")))?;
        let mut headers = Vec::new();
        if body.is_some() {
            headers.push(("content-type".to_string(), "application/json".to_string()));
        }
        Ok(PreparedRequest {
            method,
            url,
            body,
            headers,
        })
    }

    /// The path and query exactly as they go on the wire (`/v5/order/create?x=1`).
    pub fn path_and_query(&self) -> String {
        match self.url.query() {
            Some(q) => format!("{}?{}", self.url.path(), q),
            None => self.url.path().to_string(),
        }
    }

    /// The query exactly as sent, without `?` ("" when none).
    pub fn query(&self) -> &str {
        self.url.query().unwrap_or("")
    }

    pub fn body_str(&self) -> &str {
        self.body.as_deref().unwrap_or("")
    }

    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        if let Some(h) = self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            h.1 = value;
        } else {
            self.headers.push((name.to_string(), value));
        }
    }

    /// Requests that change state at the venue; their outcome is unknown after a timeout.
    pub fn is_mutating(&self) -> bool {
        self.method != Method::GET
    }
}

/// Encodes query pairs the way venues verify them: unreserved characters kept, everything else
/// percent-encoded (space as %20, never `+`), in the given order.
pub fn encode_query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_bytes_are_the_sent_bytes() {
        let base = Url::parse("http://127.0.0.1:9000").unwrap();
        let q = encode_query(&[
            ("symbol", "XBTUSD"),
            ("filter", r#"{"open":true}"#),
            ("count", "100"),
        ]);
        let r = PreparedRequest::new(Method::GET, &base, "/api/v1/order", &q, None).unwrap();
        assert_eq!(
            r.path_and_query(),
            "/api/v1/order?symbol=XBTUSD&filter=%7B%22open%22%3Atrue%7D&count=100"
        );
        assert_eq!(r.url.as_str(), "http://127.0.0.1:9000/api/v1/order?symbol=XBTUSD&filter=%7B%22open%22%3Atrue%7D&count=100");
    }

    #[test]
    fn base_with_trailing_slash_and_body_header() {
        let base = Url::parse("https://api.bybit.com/").unwrap();
        let r = PreparedRequest::new(
            Method::POST,
            &base,
            "/v5/order/create",
            "",
            Some("{}".into()),
        )
        .unwrap();
        assert_eq!(r.path_and_query(), "/v5/order/create");
        assert_eq!(r.query(), "");
        assert!(r.is_mutating());
        assert!(r
            .headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/json"));
    }
}
