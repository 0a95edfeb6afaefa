//! `kucoin`: KuCoin Futures, USDT-margined perpetuals (XBTUSDTM, ETHUSDTM…), classic account.
//! Quantities are lots: one lot is `multiplier` coins of the base asset (XBTUSDTM 0.001 BTC,
//! the classic 100× error when taken for coins). This file is the `Venue` impl and its small
//! caches (instruments, margin mode and order leverage per symbol); signing is in `auth.rs`,
//! endpoints in `rest.rs`, wire types in `model.rs`, wire → domain in `parse.rs` and the
//! private stream in `stream.rs`. See docs/venues/kucoin.md.

mod auth;
mod model;
mod parse;
mod rest;
mod stream;

use crate::config::{AccountConfig, Credential, Secret};
use crate::domain::{
    AccountValue, Candle, Instrument, OpenOrder, OrderAck, OrderKind, OrderRequest, OrderStatus,
    Position, Quote, Symbol,
};
use crate::venue::common::{self, CredentialField, TtlCache};
use crate::venue::http::RestConfig;
use crate::venue::registry::{typed_params, VenueKind};
use crate::venue::stream::{spawn_stream, StreamConfig, StreamTask};
use crate::venue::{
    CandleInterval, Capabilities, LeverageScope, MarginMode, RejectKind, Venue, VenueError,
    VenueEvent,
};
use async_trait::async_trait;
use auth::KucoinSigner;
use model::{ChangeMarginMode, CreateOrder, CrossLeverage};
use rest::Rest;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use url::Url;

pub const KIND: VenueKind = VenueKind {
    name: "kucoin",
    title: "KuCoin Futures (USDT-margined)",
    credentials: &[
        CredentialField::ApiKey,
        CredentialField::ApiSecret,
        CredentialField::ApiPassphrase,
    ],
    params,
    build: Some(build),
};

/// Typed `params` of a KuCoin account.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KucoinParams {
    /// The API key's version as KuCoin's API management shows it: 2 (default) or 3. Signing is
    /// the same for both; the header must say the key's own version.
    #[serde(default)]
    pub key_version: Option<u8>,
}

impl KucoinParams {
    pub fn key_version(&self) -> u8 {
        self.key_version.unwrap_or(2)
    }
}

fn params(raw: &Map<String, Value>) -> Result<(), String> {
    let p: KucoinParams = typed_params(raw)?;
    match p.key_version() {
        2 | 3 => Ok(()),
        other => Err(format!(
            "key_version {other} is not supported (2 or 3; version 1 keys are retired by KuCoin)"
        )),
    }
}

fn build(
    account: &AccountConfig,
    credential: Option<&Credential>,
    _state_dir: &Path,
) -> Result<Arc<dyn Venue>, VenueError> {
    Ok(Arc::new(KucoinVenue::from_account(account, credential)?))
}

const INSTRUMENT_TTL: Duration = Duration::from_secs(3600);
/// Margin modes change only when someone switches them (and then an order says 330005).
const MARGIN_MODE_TTL: Duration = Duration::from_secs(600);
/// The most orders one `orders/multi` request takes.
pub const MAX_BATCH: usize = 20;

/// Everything needed to talk to KuCoin for one account.
#[derive(Clone, Debug)]
pub struct KucoinConfig {
    pub account: String,
    pub rest_url: Url,
    pub timeout: Duration,
    pub api_key: Secret,
    pub api_secret: Secret,
    pub passphrase: Secret,
    pub key_version: u8,
}

impl KucoinConfig {
    pub fn from_account(
        account: &AccountConfig,
        credential: Option<&Credential>,
    ) -> Result<KucoinConfig, VenueError> {
        let credential = |field| common::required("kucoin", account, credential, field);
        let api_key = credential(CredentialField::ApiKey)?;
        let api_secret = credential(CredentialField::ApiSecret)?;
        let passphrase = credential(CredentialField::ApiPassphrase)?;
        if account.testnet && account.rest_url.is_none() {
            return Err(VenueError::Local(format!(
                "account \"{}\": KuCoin Futures has no testnet; remove \"testnet\" (and trade small) or point rest_url at a test server",
                account.name
            )));
        }
        let params: KucoinParams = typed_params(&account.params)
            .map_err(|e| VenueError::Local(format!("account \"{}\" params: {e}", account.name)))?;
        Ok(KucoinConfig {
            account: account.name.clone(),
            rest_url: common::rest_url(account, &rest::HOSTS)?,
            timeout: Duration::from_millis(account.timeout_ms.max(1)),
            api_key,
            api_secret,
            passphrase,
            key_version: params.key_version(),
        })
    }
}

pub struct KucoinVenue {
    account: String,
    rest: Arc<Rest>,
    instruments: TtlCache<Instrument>,
    margin_modes: TtlCache<MarginMode>,
    /// The leverage orders that open or add carry, per symbol: the one `set_leverage` applied,
    /// or an open isolated position's own (which cannot change while it is open).
    order_leverage: Mutex<HashMap<String, u32>>,
    events: broadcast::Sender<VenueEvent>,
    /// Started by the first `subscribe`, so one-shot commands never open a socket.
    stream: Mutex<Option<StreamTask>>,
}

impl KucoinVenue {
    pub fn new(config: KucoinConfig) -> Result<KucoinVenue, VenueError> {
        let signer = Arc::new(KucoinSigner::new(
            config.api_key,
            config.api_secret,
            &config.passphrase,
            config.key_version,
        ));
        let rest = Rest::new(
            RestConfig {
                venue: "kucoin",
                base: config.rest_url,
                timeout: config.timeout,
                policy: rest::limit_policy(),
                read_retries: 2,
            },
            signer,
            config.account.clone(),
        )?;
        Ok(KucoinVenue {
            account: config.account,
            rest: Arc::new(rest),
            instruments: TtlCache::new(INSTRUMENT_TTL),
            margin_modes: TtlCache::new(MARGIN_MODE_TTL),
            order_leverage: Mutex::new(HashMap::new()),
            events: broadcast::channel(1024).0,
            stream: Mutex::new(None),
        })
    }

    pub fn from_account(
        account: &AccountConfig,
        credential: Option<&Credential>,
    ) -> Result<KucoinVenue, VenueError> {
        KucoinVenue::new(KucoinConfig::from_account(account, credential)?)
    }

    fn local_reject(&self, kind: RejectKind, message: String) -> VenueError {
        VenueError::rejected(
            kind,
            "local",
            format!("kucoin account \"{}\": {message}", self.account),
        )
    }

    /// The symbol's margin mode as KuCoin has it (read, never assumed: an order in the other
    /// mode is refused with 330005).
    async fn margin_mode(&self, native: &str) -> Result<MarginMode, VenueError> {
        if let Some(mode) = self.margin_modes.get(native) {
            return Ok(mode);
        }
        let row = self.rest.margin_mode(native).await?;
        let mode = match row.margin_mode.as_str() {
            "CROSS" => MarginMode::Cross,
            _ => MarginMode::Isolated,
        };
        self.margin_modes.insert(native, mode);
        Ok(mode)
    }

    fn leverage_for(&self, native: &str, requested: Option<Decimal>) -> u32 {
        let known = self
            .order_leverage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(native)
            .copied();
        known.or_else(|| requested.map(whole_leverage)).unwrap_or(1)
    }

    fn remember_leverage(&self, native: &str, leverage: u32) {
        self.order_leverage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(native.to_string(), leverage);
    }

    /// The body of one order, checked locally first (whole lots, a price for limits).
    async fn order_body<'a>(
        &self,
        request: &'a OrderRequest,
    ) -> Result<CreateOrder<'a>, VenueError> {
        let native = request.native.as_str();
        let inst = self.instrument(native).await?;
        let lots = parse::wire_lots(request.qty, inst.lot);
        if lots == 0 {
            return Err(self.local_reject(
                RejectKind::InvalidQuantity,
                format!(
                    "{native}: {} lots is below one lot (one lot is {} {})",
                    request.qty, inst.contract_value, native
                ),
            ));
        }
        let price = match (request.kind, request.price) {
            (OrderKind::Market, _) => None,
            (OrderKind::Limit, Some(p)) => Some(
                inst.round_price(p, request.side == crate::domain::Side::Buy)
                    .to_string(),
            ),
            (OrderKind::Limit, None) => {
                return Err(self.local_reject(
                    RejectKind::InvalidPrice,
                    format!("{native}: a limit order needs a price"),
                ))
            }
        };
        let mode = match request.margin_mode {
            Some(m) => m,
            None => self.margin_mode(native).await?,
        };
        Ok(CreateOrder {
            client_oid: &request.client_order_id,
            side: parse::wire_side(request.side),
            symbol: native,
            order_type: match request.kind {
                OrderKind::Market => "market",
                OrderKind::Limit => "limit",
            },
            price,
            size: lots,
            // Closing orders need none; opening ones carry it (isolated: it is the position's).
            leverage: (!request.reduce_only).then(|| self.leverage_for(native, request.leverage)),
            margin_mode: match mode {
                MarginMode::Cross => "CROSS",
                MarginMode::Isolated => "ISOLATED",
            },
            reduce_only: request.reduce_only,
            time_in_force: (request.kind == OrderKind::Limit).then_some("GTC"),
        })
    }

    fn after_refusal(&self, native: &str, e: &VenueError) {
        if parse::is_margin_mode_mismatch(e) {
            // Someone switched the symbol's mode: read it again before the next order.
            self.margin_modes.remove(native);
        }
    }

    /// The state of an order just accepted. Placing only acknowledges; a market order normally
    /// fills within milliseconds, so a few short lookups usually see it filled. If the lookup
    /// fails the order is reported as accepted (New): the next cycle reads the positions.
    async fn settle(&self, native: &str, cid: &str, venue_id: &str, market: bool) -> OrderAck {
        let mut last = OrderAck {
            client_order_id: cid.to_string(),
            venue_order_id: venue_id.to_string(),
            status: OrderStatus::New,
            filled_qty: Decimal::ZERO,
            avg_price: None,
            native: None,
            side: None,
            qty: None,
        };
        for wait_ms in [0u64, 100, 250, 500] {
            if wait_ms > 0 {
                tokio::time::sleep(Duration::from_millis(wait_ms)).await;
            }
            match self.order_by_client_id(native, cid).await {
                Ok(Some(ack)) => last = ack,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(account = %self.account, client_order_id = cid, error = %e, "lookup after placing failed; reporting the order as accepted");
                    break;
                }
            }
            let working = last.status == OrderStatus::New && last.filled_qty.is_zero();
            if !(market && working) {
                break;
            }
        }
        last
    }
}

/// Leverage as KuCoin takes it on orders: a whole number, at least 1 (rounded down, so a
/// fractional setting never raises exposure).
fn whole_leverage(leverage: Decimal) -> u32 {
    leverage.trunc().to_u32().unwrap_or(1).max(1)
}

fn granularity(i: CandleInterval) -> i64 {
    match i {
        CandleInterval::M1 => 1,
        CandleInterval::M5 => 5,
        CandleInterval::H1 => 60,
        CandleInterval::D1 => 1440,
    }
}

#[async_trait]
impl Venue for KucoinVenue {
    fn kind(&self) -> &'static str {
        "kucoin"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            // No amend endpoint: cancel and place again.
            amend: false,
            leverage: LeverageScope::PerSymbol,
            margin_modes: &[MarginMode::Cross, MarginMode::Isolated],
            max_batch_orders: MAX_BATCH,
            // Isolated leverage is set by the order that opens the position.
            leverage_on_order: true,
        }
    }

    /// BTC is XBT, and USDT-margined perpetuals end in `M`: BTCUSDT → XBTUSDTM.
    fn native_symbol(&self, symbol: &Symbol) -> String {
        let (base, quote) = symbol.split();
        let base = if base == "BTC" { "XBT" } else { base };
        format!("{base}{quote}M")
    }

    async fn instrument(&self, native: &str) -> Result<Instrument, VenueError> {
        if let Some(inst) = self.instruments.get(native) {
            return Ok(inst);
        }
        let row = match self.rest.contract(native).await {
            Ok(Some(row)) if row.symbol == native => row,
            Ok(_) | Err(VenueError::Rejected { .. }) => {
                return Err(VenueError::UnknownSymbol(format!(
                    "{native} (kucoin futures)"
                )))
            }
            Err(e) => return Err(e),
        };
        let inst = parse::instrument(&row)?;
        self.instruments.insert(native, inst.clone());
        Ok(inst)
    }

    async fn quote(&self, native: &str) -> Result<Quote, VenueError> {
        match self.rest.mark_price(native).await {
            Ok(row) => parse::quote(native, &row),
            Err(VenueError::Rejected { .. }) => Err(VenueError::UnknownSymbol(native.to_string())),
            Err(e) => Err(e),
        }
    }

    async fn account_value(&self) -> Result<AccountValue, VenueError> {
        parse::account_value(&self.rest.account_overview().await?)
    }

    async fn positions(&self) -> Result<Vec<Position>, VenueError> {
        Ok(parse::positions(&self.rest.positions().await?))
    }

    async fn open_orders(&self) -> Result<Vec<OpenOrder>, VenueError> {
        self.rest
            .open_orders()
            .await?
            .iter()
            .map(parse::open_order)
            .collect()
    }

    async fn place_order(&self, request: &OrderRequest) -> Result<OrderAck, VenueError> {
        let native = request.native.as_str();
        let body = self.order_body(request).await?;
        let placed = match self.rest.place(&body).await {
            Ok(v) => v,
            Err(e) => {
                self.after_refusal(native, &e);
                return Err(e);
            }
        };
        let venue_id = placed
            .get("orderId")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        Ok(self
            .settle(
                native,
                &request.client_order_id,
                &venue_id,
                request.kind == OrderKind::Market,
            )
            .await)
    }

    /// Up to 20 orders per `orders/multi` request. Each item keeps the single-order rules: a
    /// refused item is that order's refusal only, an item whose fate the answer does not tell
    /// (or a request lost after sending) is `Unknown` and looked up by client id, never re-sent.
    async fn place_orders(&self, requests: &[OrderRequest]) -> Vec<Result<OrderAck, VenueError>> {
        let mut results: Vec<Option<Result<OrderAck, VenueError>>> =
            (0..requests.len()).map(|_| None).collect();
        for (chunk_no, chunk) in requests.chunks(MAX_BATCH).enumerate() {
            let offset = chunk_no * MAX_BATCH;
            let mut bodies = Vec::new();
            let mut sent = Vec::new();
            for (i, request) in chunk.iter().enumerate() {
                match self.order_body(request).await {
                    Ok(body) => {
                        bodies.push(body);
                        sent.push(offset + i);
                    }
                    Err(e) => results[offset + i] = Some(Err(e)),
                }
            }
            if bodies.is_empty() {
                continue;
            }
            let ctx = parse::Ctx {
                account: &self.account,
                endpoint: "POST /api/v1/orders/multi",
                mutating: true,
            };
            match self.rest.place_multi(&bodies).await {
                Ok(items) => {
                    for &idx in &sent {
                        let request = &requests[idx];
                        let cid = request.client_order_id.as_str();
                        let item = items
                            .iter()
                            .find(|it| it.client_oid.as_deref() == Some(cid));
                        let result = match item {
                            Some(item) => match parse::batch_item(item, ctx) {
                                Ok(venue_id) => Ok(self
                                    .settle(
                                        &request.native,
                                        cid,
                                        &venue_id,
                                        request.kind == OrderKind::Market,
                                    )
                                    .await),
                                Err(e) => {
                                    self.after_refusal(&request.native, &e);
                                    Err(e)
                                }
                            },
                            None => Err(VenueError::Unknown(
                                ctx.describe(format!("the batch answer does not mention {cid}")),
                            )),
                        };
                        results[idx] = Some(result);
                    }
                }
                Err(e) => {
                    for &idx in &sent {
                        results[idx] = Some(Err(e.clone()));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(VenueError::Local("order not processed".into()))))
            .collect()
    }

    async fn order_by_client_id(
        &self,
        _native: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderAck>, VenueError> {
        // Looked up by id alone: the ack carries the order's own symbol, side and size, and the
        // executor refuses one that is not what it journaled for the symbol asked about.
        match self.rest.order_by_client_oid(client_order_id).await? {
            Some(row) => parse::order_ack(&row).map(Some),
            None => Ok(None),
        }
    }

    async fn cancel_order(&self, native: &str, client_order_id: &str) -> Result<(), VenueError> {
        self.rest
            .cancel_by_client_oid(native, client_order_id)
            .await
    }

    async fn amend_order(
        &self,
        native: &str,
        _client_order_id: &str,
        _qty: Option<Decimal>,
        _price: Option<Decimal>,
    ) -> Result<OrderAck, VenueError> {
        Err(VenueError::Unsupported(format!(
            "kucoin has no amend endpoint ({native}): cancel and place again"
        )))
    }

    async fn cancel_all(&self, native: Option<&str>) -> Result<usize, VenueError> {
        let symbols: Vec<String> = match native {
            Some(n) => vec![n.to_string()],
            None => {
                let mut s: Vec<String> = self
                    .open_orders()
                    .await?
                    .into_iter()
                    .map(|o| o.native)
                    .collect();
                s.sort();
                s.dedup();
                s
            }
        };
        let mut cancelled = 0;
        for symbol in symbols {
            cancelled += self.rest.cancel_all(&symbol).await?;
        }
        Ok(cancelled)
    }

    /// Cross: the symbol's cross leverage (its own endpoint). Isolated: leverage rides on the
    /// opening order and is fixed while the position is open, so a different value waits for
    /// the position to close (`NeedsFlatPosition`; orders keep the position's leverage).
    async fn set_leverage(&self, native: &str, leverage: Decimal) -> Result<(), VenueError> {
        let wanted = whole_leverage(leverage);
        match self.margin_mode(native).await? {
            MarginMode::Cross => {
                let body = CrossLeverage {
                    symbol: native,
                    leverage: wanted.to_string(),
                };
                let _: Value = self
                    .rest
                    .post("/api/v2/changeCrossUserLeverage", &body, 2)
                    .await?;
                self.remember_leverage(native, wanted);
                Ok(())
            }
            MarginMode::Isolated => {
                let row = self.rest.position(native).await?;
                match row.as_ref().and_then(parse::isolated_leverage) {
                    Some(current) if whole_leverage(current) != wanted => {
                        let current = whole_leverage(current);
                        self.remember_leverage(native, current);
                        Err(VenueError::rejected(
                            RejectKind::NeedsFlatPosition,
                            "isolated-open",
                            format!(
                                "kucoin account \"{}\": {native} is isolated with an open position at {current}x; {wanted}x applies to the next position once this one is closed",
                                self.account
                            ),
                        ))
                    }
                    _ => {
                        self.remember_leverage(native, wanted);
                        Ok(())
                    }
                }
            }
        }
    }

    async fn set_margin_mode(&self, native: &str, mode: MarginMode) -> Result<(), VenueError> {
        self.margin_modes.remove(native);
        if self.margin_mode(native).await? == mode {
            return Ok(());
        }
        let body = ChangeMarginMode {
            symbol: native,
            margin_mode: match mode {
                MarginMode::Cross => "CROSS",
                MarginMode::Isolated => "ISOLATED",
            },
        };
        let result: Result<Value, VenueError> = self
            .rest
            .post("/api/v2/position/changeMarginMode", &body, 2)
            .await;
        self.margin_modes.remove(native);
        result.map(|_| ())
    }

    async fn candles(
        &self,
        native: &str,
        interval: CandleInterval,
        limit: u32,
    ) -> Result<Vec<Candle>, VenueError> {
        let limit = i64::from(limit.clamp(1, 500));
        let step_ms = interval.seconds() * 1000;
        let to = chrono::Utc::now().timestamp_millis();
        let from = to - limit * step_ms;
        let rows = self
            .rest
            .kline(native, granularity(interval), from, to)
            .await?;
        parse::candles(&rows)
    }

    fn subscribe(&self) -> Option<broadcast::Receiver<VenueEvent>> {
        let rx = self.events.subscribe();
        let mut stream = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        if stream.is_none() && tokio::runtime::Handle::try_current().is_ok() {
            let config = StreamConfig::new(format!("{}/kucoin", self.account), stream::HEARTBEAT);
            *stream = Some(spawn_stream(
                config,
                stream::PrivateStream::new(self.rest.clone()),
                self.events.clone(),
            ));
        }
        Some(rx)
    }
}

#[cfg(test)]
mod tests;
