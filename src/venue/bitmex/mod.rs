//! `bitmex`: BitMEX derivatives (REST v1 + realtime WebSocket) for one account.
//!
//! Quantities are contracts: linear (XBTUSDT, contracts of 1/underlyingToPositionMultiplier
//! XBT), inverse (XBTUSD, 1 contract = 1 USD) and quanto (ETHUSD, multiplier XBt per contract
//! per USD of price). `parse.rs` turns them into [`Instrument`]s whose `usd_per_unit` is the
//! USD value of one contract. Our client order id is BitMEX's `clOrdID`. See
//! docs/venues/bitmex.md.

mod auth;
mod model;
mod parse;
mod rest;
mod stream;

use auth::BitmexSigner;

use crate::config::{AccountConfig, Credential, Secret};
use crate::domain::{
    AccountValue, Candle, Instrument, OpenOrder, OrderAck, OrderKind, OrderRequest, Position,
    Quote, Symbol,
};
use crate::venue::common::{self, CredentialField, Endpoints, TtlCache};
use crate::venue::http::RestConfig;
use crate::venue::registry::{no_params, VenueKind};
use crate::venue::stream::{spawn_stream, StreamConfig, StreamTask};
use crate::venue::{CandleInterval, MarginMode, Venue, VenueError, VenueEvent};
use async_trait::async_trait;
use chrono::Utc;
use model::WireInstrument;
use parse::UsdRate;
use rest::Rest;
use rust_decimal::Decimal;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use stream::{BitmexStream, Marks, MARK_FRESH};
use tokio::sync::broadcast;
use url::Url;

pub const REST_HOSTS: Endpoints = Endpoints {
    live: "https://www.bitmex.com",
    testnet: "https://testnet.bitmex.com",
};
pub const WS_HOSTS: Endpoints = Endpoints {
    live: "wss://ws.bitmex.com/realtime",
    testnet: "wss://ws.testnet.bitmex.com/realtime",
};
pub const KIND: VenueKind = VenueKind {
    name: "bitmex",
    title: "BitMEX (linear, inverse and quanto contracts)",
    credentials: &[CredentialField::ApiKey, CredentialField::ApiSecret],
    params: no_params,
    build: Some(build),
};

fn build(
    account: &AccountConfig,
    credential: Option<&Credential>,
    _state_dir: &Path,
) -> Result<Arc<dyn Venue>, VenueError> {
    Ok(Arc::new(BitmexVenue::new(account, credential)?))
}

/// Instrument metadata (lot, tick, multipliers) is re-read this often.
const INSTRUMENT_TTL: Duration = Duration::from_secs(3600);
/// The stream pings after this much quiet and reconnects after three times as long.
const HEARTBEAT: Duration = Duration::from_secs(5);

pub struct BitmexVenue {
    account: String,
    rest: Rest,
    ws_url: String,
    /// The URL path the stream's signature covers.
    ws_path: String,
    key: Secret,
    secret: Secret,
    instruments: TtlCache<WireInstrument>,
    marks: Marks,
    events: broadcast::Sender<VenueEvent>,
    stream: Mutex<Option<StreamTask>>,
}

/// The REST base (scheme, host, port) from `rest_url`; a trailing `/api/v1` is accepted and
/// dropped because every path is signed with it.
fn rest_base(account: &AccountConfig) -> Result<Url, VenueError> {
    let mut url = common::rest_url(account, &REST_HOSTS)?;
    let path = url.path().trim_end_matches('/');
    let path = path
        .strip_suffix(rest::API_PREFIX)
        .unwrap_or(path)
        .to_string();
    url.set_path(&path);
    Ok(url)
}

/// The stream URL and the path its signature covers (`/realtime`).
fn ws_endpoint(account: &AccountConfig) -> Result<(String, String), VenueError> {
    let url = common::stream_url(account, &WS_HOSTS)?;
    if !matches!(url.scheme(), "ws" | "wss") {
        return Err(VenueError::Local(format!(
            "account \"{}\": ws_url {:?} must start with ws:// or wss://",
            account.name,
            url.as_str()
        )));
    }
    let path = match url.path() {
        "" | "/" => "/realtime".to_string(),
        p => p.to_string(),
    };
    let raw = account
        .ws_url
        .clone()
        .unwrap_or_else(|| url.as_str().to_string());
    Ok((raw, path))
}

impl BitmexVenue {
    pub fn new(
        account: &AccountConfig,
        credential: Option<&Credential>,
    ) -> Result<BitmexVenue, VenueError> {
        let key = common::required("bitmex", account, credential, CredentialField::ApiKey)?;
        let secret = common::required("bitmex", account, credential, CredentialField::ApiSecret)?;
        let config = RestConfig {
            venue: "bitmex",
            base: rest_base(account)?,
            timeout: Duration::from_millis(account.timeout_ms.max(100)),
            policy: rest::policy(),
            read_retries: 2,
        };
        let (ws_url, ws_path) = ws_endpoint(account)?;
        let (events, _) = broadcast::channel(256);
        Ok(BitmexVenue {
            account: account.name.clone(),
            rest: Rest::new(config, BitmexSigner::new(key.clone(), secret.clone()))?,
            ws_url,
            ws_path,
            key,
            secret,
            instruments: TtlCache::new(INSTRUMENT_TTL),
            marks: Marks::default(),
            events,
            stream: Mutex::new(None),
        })
    }

    fn cached_row(&self, native: &str) -> Option<WireInstrument> {
        self.instruments.get(native)
    }

    /// The instrument row, read fresh from REST (and cached).
    async fn fetch_row(&self, native: &str) -> Result<WireInstrument, VenueError> {
        let row = self
            .rest
            .instrument(native)
            .await?
            .ok_or_else(|| VenueError::UnknownSymbol(native.to_string()))?;
        self.instruments.insert(native, row.clone());
        Ok(row)
    }

    async fn row(&self, native: &str) -> Result<WireInstrument, VenueError> {
        match self.cached_row(native) {
            Some(row) => Ok(row),
            None => self.fetch_row(native).await,
        }
    }

    /// A mark from the stream while fresh, else from REST.
    async fn mark_of(&self, native: &str) -> Result<Decimal, VenueError> {
        match self.marks.fresh(native, MARK_FRESH) {
            Some(mark) => Ok(mark),
            None => parse::mark(&self.fetch_row(native).await?),
        }
    }

    async fn usd(&self, rate: UsdRate) -> Result<Decimal, VenueError> {
        match rate {
            UsdRate::One => Ok(Decimal::ONE),
            UsdRate::Xbt => self.mark_of(parse::XBT_USD).await,
        }
    }
}

#[async_trait]
impl Venue for BitmexVenue {
    fn kind(&self) -> &'static str {
        "bitmex"
    }

    fn native_symbol(&self, symbol: &Symbol) -> String {
        parse::native_symbol(symbol)
    }

    async fn instrument(&self, native: &str) -> Result<Instrument, VenueError> {
        parse::instrument(&self.row(native).await?)
    }

    async fn quote(&self, native: &str) -> Result<Quote, VenueError> {
        let (row, fetched) = match self.cached_row(native) {
            Some(row) => (row, false),
            None => (self.fetch_row(native).await?, true),
        };
        let rate = parse::usd_rate(&row)?;
        // Dated by the venue's time for the mark (the row's `timestamp`), so a price BitMEX
        // itself has not updated for a while is seen as stale.
        let (mark, venue_time) = match self.marks.fresh_dated(native, MARK_FRESH) {
            Some(dated) => dated,
            // A row read just now carries a fresh mark: no second request.
            None if fetched => (parse::mark(&row)?, row.timestamp),
            None => {
                let fresh = self.fetch_row(native).await?;
                (parse::mark(&fresh)?, fresh.timestamp)
            }
        };
        Ok(Quote {
            native: native.to_string(),
            mark,
            quote_to_usd: self.usd(rate).await?,
            at: venue_time.unwrap_or_else(Utc::now),
        })
    }

    async fn account_value(&self) -> Result<AccountValue, VenueError> {
        let rows = self.rest.margins().await?;
        let xbt_usd = if parse::needs_xbt_price(&rows) {
            Some(self.usd(UsdRate::Xbt).await?)
        } else {
            None
        };
        parse::account_value(&rows, xbt_usd, Utc::now())
    }

    async fn positions(&self) -> Result<Vec<Position>, VenueError> {
        let rows = self.rest.positions().await?;
        Ok(rows.iter().filter_map(parse::position).collect())
    }

    async fn open_orders(&self) -> Result<Vec<OpenOrder>, VenueError> {
        let rows = self.rest.open_orders().await?;
        rows.iter().map(parse::open_order).collect()
    }

    async fn place_order(&self, request: &OrderRequest) -> Result<OrderAck, VenueError> {
        if request.kind == OrderKind::Limit && request.price.is_none() {
            return Err(VenueError::Local(format!(
                "limit order {} has no price",
                request.client_order_id
            )));
        }
        parse::placed(&self.rest.place(request).await?)
    }

    async fn order_by_client_id(
        &self,
        native: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderAck>, VenueError> {
        let rows = self
            .rest
            .orders_by_client_id(native, client_order_id)
            .await?;
        rows.iter()
            .find(|r| r.cl_ord_id.as_deref() == Some(client_order_id))
            .map(parse::order_ack)
            .transpose()
    }

    async fn cancel_order(&self, _native: &str, client_order_id: &str) -> Result<(), VenueError> {
        // clOrdID is unique per account, so the symbol is not needed.
        parse::cancelled(&self.rest.cancel(client_order_id).await?, client_order_id)
    }

    async fn amend_order(
        &self,
        _native: &str,
        client_order_id: &str,
        qty: Option<Decimal>,
        price: Option<Decimal>,
    ) -> Result<OrderAck, VenueError> {
        if qty.is_none() && price.is_none() {
            return Err(VenueError::Local(format!(
                "amend of {client_order_id} changes nothing"
            )));
        }
        parse::order_ack(&self.rest.amend(client_order_id, qty, price).await?)
    }

    /// On BitMEX a leverage of 0.01–100 also switches the position to isolated margin (0 is
    /// cross); the venue answers with the position whether or not the value changed.
    async fn set_leverage(&self, native: &str, leverage: Decimal) -> Result<(), VenueError> {
        not_modified_is_ok(self.rest.leverage(native, leverage).await.map(|_| ()))
    }

    async fn set_margin_mode(&self, native: &str, mode: MarginMode) -> Result<(), VenueError> {
        let isolated = mode == MarginMode::Isolated;
        not_modified_is_ok(self.rest.isolate(native, isolated).await.map(|_| ()))
    }

    async fn candles(
        &self,
        native: &str,
        interval: CandleInterval,
        limit: u32,
    ) -> Result<Vec<Candle>, VenueError> {
        let rows = self.rest.trade_bins(native, interval, limit).await?;
        let mut candles: Vec<Candle> = rows
            .iter()
            .filter_map(|r| parse::candle(r, interval))
            .collect();
        candles.sort_by_key(|c| c.open_time);
        Ok(candles)
    }

    /// Starts the private stream on first use (it needs a running runtime).
    fn subscribe(&self) -> Option<broadcast::Receiver<VenueEvent>> {
        let mut stream = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        let receiver = self.events.subscribe();
        if stream.is_none() {
            tokio::runtime::Handle::try_current().ok()?;
            let handler = BitmexStream::new(
                self.ws_url.clone(),
                BitmexSigner::new(self.key.clone(), self.secret.clone()),
                self.ws_path.clone(),
                self.marks.clone(),
            );
            let mut config = StreamConfig::new(format!("{}/bitmex", self.account), HEARTBEAT);
            // BitMEX allows 60 new connections per hour per IP: a stream that keeps failing
            // (bad key, outage) must settle at a few reconnects per hour.
            config.backoff_min = Duration::from_secs(1);
            config.backoff_max = Duration::from_secs(300);
            *stream = Some(spawn_stream(config, handler, self.events.clone()));
        }
        Some(receiver)
    }
}

/// BitMEX answers an unchanged setting with the position; should it ever refuse one as
/// "unchanged", that is still success.
fn not_modified_is_ok(result: Result<(), VenueError>) -> Result<(), VenueError> {
    match result {
        Err(VenueError::Rejected { message, .. })
            if parse::message_hint(&message) == parse::MessageHint::Unchanged =>
        {
            Ok(())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests;
