//! `oanda`: OANDA v20, FX instruments (EUR_USD, USD_JPY, EUR_GBP, …) on one account. This
//! file is the `Venue` impl and its small caches (instruments, the home currency and its USD
//! rate, the account's margin rate, streamed marks); the bearer token is in `auth.rs`,
//! endpoints in `rest.rs`, wire types in `model.rs`, wire → domain in `parse.rs` and the
//! pricing and transaction streams in `stream.rs`. See docs/venues/oanda.md.

mod auth;
mod model;
mod parse;
mod rest;
mod stream;

use crate::config::{AccountConfig, Credential, Secret};
use crate::domain::{
    AccountValue, Candle, Instrument, OpenOrder, OrderAck, OrderKind, OrderRequest, Position,
    Quote, Symbol,
};
use crate::venue::common::{self, CredentialField, TtlCache};
use crate::venue::http::RestConfig;
use crate::venue::registry::{no_params, VenueKind};
use crate::venue::stream::{spawn_stream, StreamConfig, StreamTask};
use crate::venue::{
    CandleInterval, Capabilities, LeverageScope, MarginMode, RejectKind, Venue, VenueError,
    VenueEvent,
};
use async_trait::async_trait;
use auth::BearerSigner;
use model::{
    CandlesResponse, Configuration, InstrumentsResponse, OrderAnswer, OrderResponse,
    OrdersResponse, PositionsResponse, PricingResponse, SummaryResponse,
};
use reqwest::Method;
use rest::{by_client_id, wire_number, Rest};
use rust_decimal::Decimal;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use url::Url;

pub const KIND: VenueKind = VenueKind {
    name: "oanda",
    title: "OANDA v20 (FX)",
    credentials: &[CredentialField::ApiKey, CredentialField::AccountId],
    params: no_params,
    build: Some(build),
};

fn build(
    account: &AccountConfig,
    credential: Option<&Credential>,
    _state_dir: &Path,
) -> Result<Arc<dyn Venue>, VenueError> {
    Ok(Arc::new(OandaVenue::from_account(account, credential)?))
}

/// Instruments change rarely.
const INSTRUMENT_TTL: Duration = Duration::from_secs(3600);
/// Home conversion factors move with FX rates; sizing tolerates a minute.
const CONVERSION_TTL: Duration = Duration::from_secs(60);

/// Everything needed to talk to OANDA for one account.
#[derive(Clone, Debug)]
pub struct OandaConfig {
    pub account: String,
    pub rest_url: Url,
    /// The stream host (HTTP, not WebSocket); the account's `ws_url` overrides it.
    pub stream_url: String,
    pub timeout: Duration,
    pub token: Secret,
    pub account_id: String,
}

impl OandaConfig {
    /// From an account of `engine.json` and its credentials entry: `api_key` is the personal
    /// access token, `account_id` the v20 account (`101-004-1234567-001`); `testnet` selects
    /// the practice hosts.
    pub fn from_account(
        account: &AccountConfig,
        credential: Option<&Credential>,
    ) -> Result<OandaConfig, VenueError> {
        let credential = |field| common::required("oanda", account, credential, field);
        let token = credential(CredentialField::ApiKey)?;
        let account_id = credential(CredentialField::AccountId)?.expose().to_string();
        Ok(OandaConfig {
            account: account.name.clone(),
            rest_url: common::rest_url(account, &rest::HOSTS)?,
            stream_url: common::stream_url(account, &rest::STREAM_HOSTS)?.to_string(),
            timeout: Duration::from_millis(account.timeout_ms.max(1)),
            token,
            account_id: account_id.trim().to_string(),
        })
    }
}

#[derive(Default)]
struct Streams {
    transactions: Option<StreamTask>,
    /// The pricing stream and the instruments it carries; restarted when one is added.
    pricing: Option<(StreamTask, Vec<String>)>,
    wanted: bool,
}

/// The account's home currency and what one unit of it is worth in USD.
#[derive(Clone, Debug)]
struct Home {
    currency: String,
    to_usd: Decimal,
}

pub struct OandaVenue {
    account: String,
    rest: Arc<Rest>,
    signer: Arc<BearerSigner>,
    stream_url: String,
    account_path: String,
    instruments: TtlCache<Instrument>,
    /// Quote currency → its home conversion factor (`positionValue`).
    conversions: TtlCache<Decimal>,
    home: TtlCache<Home>,
    /// The account-wide margin rate, learnt from the summary.
    margin_rate: Mutex<Option<Decimal>>,
    marks: Arc<stream::Marks>,
    /// Every instrument asked for: the pricing stream carries them.
    instruments_seen: Mutex<BTreeSet<String>>,
    last_transaction: stream::LastId,
    events: broadcast::Sender<VenueEvent>,
    streams: Mutex<Streams>,
}

impl OandaVenue {
    pub fn new(config: OandaConfig) -> Result<OandaVenue, VenueError> {
        let signer = Arc::new(BearerSigner::new(config.token));
        let rest = Rest::new(
            RestConfig {
                venue: "oanda",
                base: config.rest_url,
                timeout: config.timeout,
                policy: rest::limit_policy(),
                read_retries: 2,
            },
            signer.clone(),
            config.account.clone(),
            &config.account_id,
        )?;
        Ok(OandaVenue {
            account: config.account,
            rest: Arc::new(rest),
            signer,
            stream_url: config.stream_url,
            account_path: rest::account_path(&config.account_id),
            instruments: TtlCache::new(INSTRUMENT_TTL),
            conversions: TtlCache::new(CONVERSION_TTL),
            home: TtlCache::new(CONVERSION_TTL),
            margin_rate: Mutex::new(None),
            marks: Arc::default(),
            instruments_seen: Mutex::new(BTreeSet::new()),
            last_transaction: Arc::default(),
            events: broadcast::channel(1024).0,
            streams: Mutex::new(Streams::default()),
        })
    }

    pub fn from_account(
        account: &AccountConfig,
        credential: Option<&Credential>,
    ) -> Result<OandaVenue, VenueError> {
        OandaVenue::new(OandaConfig::from_account(account, credential)?)
    }

    async fn summary(&self) -> Result<model::AccountSummary, VenueError> {
        let s: SummaryResponse = self.rest.get(&self.rest.path("/summary"), &[]).await?;
        let rate = parse::opt_num(&s.account.margin_rate).filter(|r| *r > Decimal::ZERO);
        *self.margin_rate.lock().unwrap_or_else(|p| p.into_inner()) = rate;
        Ok(s.account)
    }

    /// Pricing with home conversions for `instruments`.
    async fn pricing(&self, instruments: &str) -> Result<PricingResponse, VenueError> {
        let pricing: PricingResponse = self
            .rest
            .get(
                &self.rest.path("/pricing"),
                &[
                    ("instruments", instruments),
                    ("includeHomeConversions", "true"),
                ],
            )
            .await?;
        for c in &pricing.home_conversions {
            if let Some(f) = parse::opt_num(&c.position_value) {
                self.conversions.insert(c.currency.clone(), f);
            }
        }
        Ok(pricing)
    }

    /// The home currency and its USD value: 1 for USD accounts; otherwise the inverse of
    /// USD's home conversion factor, read from the pricing of EUR_USD (listed on every
    /// division; see docs/venues/oanda.md).
    async fn home_for(&self, currency: &str) -> Result<Home, VenueError> {
        if let Some(h) = self.home.get("home").filter(|h| h.currency == currency) {
            return Ok(h);
        }
        let to_usd = if currency == "USD" {
            Decimal::ONE
        } else {
            let pricing = self.pricing("EUR_USD").await?;
            let usd = parse::conversion(&pricing, "USD", currency)
                .filter(|f| *f > Decimal::ZERO)
                .ok_or_else(|| {
                    VenueError::Decode(format!(
                        "oanda account \"{}\": no USD conversion for home currency {currency}",
                        self.account
                    ))
                })?;
            Decimal::ONE / usd
        };
        let home = Home {
            currency: currency.to_string(),
            to_usd,
        };
        self.home.insert("home", home.clone());
        Ok(home)
    }

    async fn home(&self) -> Result<Home, VenueError> {
        match self.home.get("home") {
            Some(h) => Ok(h),
            None => {
                let summary = self.summary().await?;
                self.home_for(&summary.currency).await
            }
        }
    }

    fn account_margin_rate(&self) -> Option<Decimal> {
        *self.margin_rate.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn local_reject(&self, kind: RejectKind, message: String) -> VenueError {
        VenueError::rejected(
            kind,
            "local",
            format!("oanda account \"{}\": {message}", self.account),
        )
    }

    /// Starts (or restarts with one more instrument) the pricing stream once `subscribe`
    /// asked for streams and an instrument is known.
    fn ensure_pricing_stream(&self) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        if !streams.wanted {
            return;
        }
        let known: Vec<String> = self.known_instruments().into_iter().collect();
        if known.is_empty() || streams.pricing.as_ref().is_some_and(|(_, i)| *i == known) {
            return;
        }
        let config =
            StreamConfig::new(format!("{}/oanda-pricing", self.account), stream::HEARTBEAT);
        let handler = stream::PricingStream::new(
            &self.stream_url,
            &self.account_path,
            &known,
            self.signer.headers(),
            self.marks.clone(),
        );
        // Dropping the old task ends its connection.
        streams.pricing = Some((spawn_stream(config, handler, self.events.clone()), known));
    }

    fn known_instruments(&self) -> BTreeSet<String> {
        self.instruments_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The state of an order found by client id, its fill read from the fill transaction.
    async fn lookup(&self, client_order_id: &str) -> Result<Option<OrderAck>, VenueError> {
        let path = self.rest.path(&by_client_id(client_order_id));
        let resp = self.rest.send(Method::GET, &path, &[], None).await?;
        let endpoint = "GET /v3/accounts/{id}/orders/@{clientID}";
        if resp.status == 404 {
            return Ok(None);
        }
        let answer: OrderResponse = parse::body(&resp, self.rest.ctx(endpoint))?;
        let fill = match &answer.order.filling_transaction_id {
            Some(id) if !id.is_empty() => Some(self.rest.transaction(id).await?.transaction),
            _ => None,
        };
        parse::order_ack(&answer.order, fill.as_ref()).map(Some)
    }
}

fn granularity(i: CandleInterval) -> &'static str {
    match i {
        CandleInterval::M1 => "M1",
        CandleInterval::M5 => "M5",
        CandleInterval::H1 => "H1",
        CandleInterval::D1 => "D",
    }
}

/// `EURUSD` → `EUR_USD`: six letters are two currencies; anything else (CFDs such as
/// `DE30_EUR`) is written natively in the account's `symbol_map`.
pub fn native_of(unified: &str) -> String {
    let s = unified.to_ascii_uppercase();
    if s.contains('_') || s.len() != 6 || !s.chars().all(|c| c.is_ascii_alphabetic()) {
        return s;
    }
    format!("{}_{}", &s[..3], &s[3..])
}

#[async_trait]
impl Venue for OandaVenue {
    fn kind(&self) -> &'static str {
        "oanda"
    }

    /// Leverage is the account's margin rate, one for every instrument; accounts are always
    /// cross-margined; no amend in place (a replace is a new order) and no batch endpoint.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            amend: false,
            leverage: LeverageScope::PerAccount,
            margin_modes: &[MarginMode::Cross],
            max_batch_orders: 1,
            leverage_on_order: false,
        }
    }

    fn native_symbol(&self, symbol: &Symbol) -> String {
        native_of(symbol.as_str())
    }

    async fn instrument(&self, native: &str) -> Result<Instrument, VenueError> {
        if let Some(inst) = self.instruments.get(native) {
            return Ok(inst);
        }
        if self.account_margin_rate().is_none() {
            self.summary().await?;
        }
        let answer: InstrumentsResponse = self
            .rest
            .get(&self.rest.path("/instruments"), &[("instruments", native)])
            .await
            .map_err(|e| match e {
                // An unknown name in the list is refused as a bad request; the answer does not
                // say which name, so the error does.
                VenueError::Rejected { .. } | VenueError::UnknownSymbol(_) => {
                    VenueError::UnknownSymbol(format!("{native} (not an instrument at oanda)"))
                }
                other => other,
            })?;
        let row = answer
            .instruments
            .iter()
            .find(|r| r.name == native)
            .ok_or_else(|| VenueError::UnknownSymbol(format!("{native} (oanda)")))?;
        let inst = parse::instrument(row, self.account_margin_rate())?;
        self.instruments.insert(native, inst.clone());
        let added = self
            .instruments_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(native.to_string());
        if added {
            self.ensure_pricing_stream();
        }
        Ok(inst)
    }

    async fn quote(&self, native: &str) -> Result<Quote, VenueError> {
        let home = self.home().await?;
        let currency = parse::quote_currency(native)
            .ok_or_else(|| VenueError::UnknownSymbol(format!("{native} (oanda)")))?;
        let factor = if currency == home.currency {
            Some(Decimal::ONE)
        } else {
            self.conversions.get(currency)
        };
        if let (Some((mark, at)), Some(factor)) = (self.marks.get(native), factor) {
            return Ok(Quote {
                native: native.to_string(),
                mark,
                quote_to_usd: factor * home.to_usd,
                at,
            });
        }
        let pricing = self.pricing(native).await?;
        parse::quote(native, &pricing, &home.currency, home.to_usd)
    }

    async fn account_value(&self) -> Result<AccountValue, VenueError> {
        let summary = self.summary().await?;
        let home = self.home_for(&summary.currency).await?;
        parse::account_value(&summary, home.to_usd)
    }

    async fn positions(&self) -> Result<Vec<Position>, VenueError> {
        let answer: PositionsResponse = self
            .rest
            .get(&self.rest.path("/openPositions"), &[])
            .await?;
        parse::positions(&answer.positions)
    }

    async fn open_orders(&self) -> Result<Vec<OpenOrder>, VenueError> {
        let answer: OrdersResponse = self
            .rest
            .get(&self.rest.path("/pendingOrders"), &[])
            .await?;
        parse::open_orders(&answer.orders)
    }

    async fn place_order(&self, request: &OrderRequest) -> Result<OrderAck, VenueError> {
        let native = request.native.as_str();
        let inst = self.instrument(native).await?;
        let qty = inst.round_to_lot(request.qty);
        if qty <= Decimal::ZERO || qty < inst.min_qty {
            return Err(self.local_reject(
                RejectKind::InvalidQuantity,
                format!(
                    "{native}: {} units is below the minimum trade size {} (step {})",
                    request.qty, inst.min_qty, inst.lot
                ),
            ));
        }
        let units = parse::wire_units(request.side, qty, inst.lot);
        let body = match (request.kind, request.price) {
            (OrderKind::Market, _) => {
                rest::market_order(native, units, request.reduce_only, &request.client_order_id)
            }
            (OrderKind::Limit, Some(p)) => rest::limit_order(
                native,
                units,
                wire_number(p, inst.tick),
                request.reduce_only,
                Some(&request.client_order_id),
            ),
            (OrderKind::Limit, None) => {
                return Err(self.local_reject(
                    RejectKind::InvalidPrice,
                    format!("{native}: a limit order needs a price"),
                ))
            }
        };
        let text = serde_json::to_string(&body)
            .map_err(|e| VenueError::Local(format!("cannot encode the order: {e}")))?;
        let path = self.rest.path("/orders");
        let resp = self.rest.send(Method::POST, &path, &[], Some(text)).await?;
        let endpoint = "POST /v3/accounts/{id}/orders";
        let ctx = self.rest.ctx(endpoint);
        if resp.status >= 300 {
            return Err(parse::error(&resp, ctx));
        }
        let answer: OrderAnswer = parse::body(&resp, ctx)?;
        parse::order_answer(
            &answer,
            &request.client_order_id,
            native,
            request.side,
            qty,
            request.reduce_only,
            ctx,
        )
    }

    async fn order_by_client_id(
        &self,
        _native: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderAck>, VenueError> {
        self.lookup(client_order_id).await
    }

    async fn cancel_order(&self, _native: &str, client_order_id: &str) -> Result<(), VenueError> {
        let path = self
            .rest
            .path(&format!("{}/cancel", by_client_id(client_order_id)));
        let resp = self.rest.send(Method::PUT, &path, &[], None).await?;
        if resp.status >= 300 {
            return Err(parse::error(
                &resp,
                self.rest
                    .ctx("PUT /v3/accounts/{id}/orders/@{clientID}/cancel"),
            ));
        }
        Ok(())
    }

    /// A replace: OANDA cancels the pending order and creates a new one (a new order id) under
    /// the same client id.
    async fn amend_order(
        &self,
        native: &str,
        client_order_id: &str,
        qty: Option<Decimal>,
        price: Option<Decimal>,
    ) -> Result<OrderAck, VenueError> {
        let current = self.lookup(client_order_id).await?.ok_or_else(|| {
            self.local_reject(
                RejectKind::OrderNotFound,
                format!("{native}: no order {client_order_id} to amend"),
            )
        })?;
        let inst = self.instrument(native).await?;
        let open = self.open_orders().await?;
        let resting = open
            .iter()
            .find(|o| o.client_order_id.as_deref() == Some(client_order_id))
            .ok_or_else(|| {
                self.local_reject(
                    RejectKind::OrderNotFound,
                    format!("{native}: order {client_order_id} is not pending"),
                )
            })?;
        let side = current.side.unwrap_or(resting.side);
        let new_qty = inst.round_to_lot(qty.unwrap_or(resting.qty));
        let new_price = price.or(resting.price).ok_or_else(|| {
            self.local_reject(
                RejectKind::InvalidPrice,
                format!("{native}: order {client_order_id} has no price"),
            )
        })?;
        let body = rest::limit_order(
            native,
            parse::wire_units(side, new_qty, inst.lot),
            wire_number(new_price, inst.tick),
            resting.reduce_only,
            Some(client_order_id),
        );
        let text = serde_json::to_string(&body)
            .map_err(|e| VenueError::Local(format!("cannot encode the order: {e}")))?;
        let path = self.rest.path(&by_client_id(client_order_id));
        let resp = self.rest.send(Method::PUT, &path, &[], Some(text)).await?;
        let ctx = self.rest.ctx("PUT /v3/accounts/{id}/orders/@{clientID}");
        if resp.status >= 300 {
            return Err(parse::error(&resp, ctx));
        }
        let mut answer: OrderAnswer = parse::body(&resp, ctx)?;
        // The cancel in a replace's answer is the old order's, not a refusal of the new one.
        answer.order_cancel_transaction = None;
        parse::order_answer(
            &answer,
            client_order_id,
            native,
            side,
            new_qty,
            resting.reduce_only,
            ctx,
        )
    }

    /// The account's margin rate (leverage is account-wide at OANDA; the executor never calls
    /// this per symbol, see `Capabilities::leverage`). Already at that rate is success.
    async fn set_leverage(&self, _native: &str, leverage: Decimal) -> Result<(), VenueError> {
        let rate = rest::margin_rate_for(leverage).ok_or_else(|| {
            self.local_reject(
                RejectKind::Other,
                format!("leverage {leverage} is not positive"),
            )
        })?;
        if self.account_margin_rate() == parse::opt_num(&rate) {
            return Ok(());
        }
        let text = serde_json::to_string(&Configuration { margin_rate: rate })
            .map_err(|e| VenueError::Local(format!("cannot encode the configuration: {e}")))?;
        let path = self.rest.path("/configuration");
        let resp = self
            .rest
            .send(Method::PATCH, &path, &[], Some(text))
            .await?;
        if resp.status >= 300 {
            return Err(parse::error(
                &resp,
                self.rest.ctx("PATCH /v3/accounts/{id}/configuration"),
            ));
        }
        // The instrument caps depend on the account's rate: read them again.
        self.summary().await?;
        for native in self.known_instruments() {
            self.instruments.remove(&native);
        }
        Ok(())
    }

    /// OANDA accounts are always cross-margined.
    async fn set_margin_mode(&self, native: &str, mode: MarginMode) -> Result<(), VenueError> {
        match mode {
            MarginMode::Cross => Ok(()),
            MarginMode::Isolated => Err(VenueError::Unsupported(format!(
                "oanda account \"{}\": {native}: OANDA has no isolated margin",
                self.account
            ))),
        }
    }

    async fn candles(
        &self,
        native: &str,
        interval: CandleInterval,
        limit: u32,
    ) -> Result<Vec<Candle>, VenueError> {
        let count = limit.clamp(1, 5000).to_string();
        let path = format!("/v3/instruments/{}/candles", native);
        let answer: CandlesResponse = self
            .rest
            .get(
                &path,
                &[
                    ("granularity", granularity(interval)),
                    ("count", &count),
                    ("price", "M"),
                ],
            )
            .await?;
        parse::candles(&answer.candles)
    }

    fn subscribe(&self) -> Option<broadcast::Receiver<VenueEvent>> {
        let rx = self.events.subscribe();
        if tokio::runtime::Handle::try_current().is_err() {
            return Some(rx);
        }
        {
            let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
            streams.wanted = true;
            if streams.transactions.is_none() {
                let config = StreamConfig::new(
                    format!("{}/oanda-transactions", self.account),
                    stream::HEARTBEAT,
                );
                let handler = stream::TransactionStream::new(
                    &self.stream_url,
                    &self.account_path,
                    self.signer.headers(),
                    self.last_transaction.clone(),
                    self.rest.clone(),
                    self.events.clone(),
                    config.label.clone(),
                );
                streams.transactions = Some(spawn_stream(config, handler, self.events.clone()));
            }
        }
        self.ensure_pricing_stream();
        Some(rx)
    }
}

#[cfg(test)]
mod tests;
