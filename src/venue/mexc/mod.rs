//! `mexc`: MEXC Futures through the contract API v1, USDT-margined perpetuals (BTC_USDT).
//! Quantities are contracts (`contractSize` base units each, on a `volUnit` grid); orders carry
//! side codes 1–4 (open long, close short, open short, close long), `openType` and the client
//! id as `externalOid`. This file is the `Venue` impl and its small caches (instruments,
//! position mode, margin mode and leverage per symbol); signing is in `auth.rs`, endpoints in
//! `rest.rs`, wire types in `model.rs`, wire → domain in `parse.rs`, the private stream in
//! `stream.rs`. See docs/venues/mexc.md.

mod auth;
mod batch;
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
use crate::venue::registry::{no_params, VenueKind};
use crate::venue::stream::{spawn_stream, StreamConfig, StreamTask};
use crate::venue::{
    CandleInterval, Capabilities, LeverageScope, MarginMode, RejectKind, Venue, VenueError,
    VenueEvent,
};
use async_trait::async_trait;
use auth::MexcSigner;
use model::Body;
use rest::{wire_leverage, Rest};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use url::Url;

pub const KIND: VenueKind = VenueKind {
    name: "mexc",
    title: "MEXC Futures (contract API v1, USDT-margined)",
    credentials: &[CredentialField::ApiKey, CredentialField::ApiSecret],
    params: no_params,
    build: Some(build),
};

fn build(
    account: &AccountConfig,
    credential: Option<&Credential>,
    _state_dir: &Path,
) -> Result<Arc<dyn Venue>, VenueError> {
    Ok(Arc::new(MexcVenue::from_account(account, credential)?))
}

/// Instruments change rarely, and `contract/detail` allows one request per 5 s.
const INSTRUMENT_TTL: Duration = Duration::from_secs(3600);

/// How long a read of the account's position mode is trusted for opening orders; reductions
/// read it again when older than [`MODE_TTL_REDUCE`] (a stale "hedge" would send close codes
/// without `reduceOnly` to a one-way account).
const MODE_TTL: Duration = Duration::from_secs(60);
const MODE_TTL_REDUCE: Duration = Duration::from_secs(5);

/// `externalOid` is at most 32 characters (code 2030).
const MAX_CLIENT_ID: usize = 32;

/// Everything needed to talk to MEXC for one account.
#[derive(Clone, Debug)]
pub struct MexcConfig {
    pub account: String,
    pub rest_url: Url,
    pub ws_url: String,
    pub timeout: Duration,
    pub api_key: Secret,
    pub api_secret: Secret,
}

impl MexcConfig {
    /// From an account of `engine.json` and its credentials entry: `rest_url`/`ws_url`
    /// override the hosts, `timeout_ms` is the deadline.
    pub fn from_account(
        account: &AccountConfig,
        credential: Option<&Credential>,
    ) -> Result<MexcConfig, VenueError> {
        let credential = |field| common::required("mexc", account, credential, field);
        let api_key = credential(CredentialField::ApiKey)?;
        let api_secret = credential(CredentialField::ApiSecret)?;
        Ok(MexcConfig {
            account: account.name.clone(),
            rest_url: common::rest_url(account, &rest::HOSTS)?,
            ws_url: common::stream_url(account, &stream::HOSTS)?.to_string(),
            timeout: Duration::from_millis(account.timeout_ms.max(1)),
            api_key,
            api_secret,
        })
    }
}

/// What an order on a symbol is placed with: `openType` and leverage, as last set.
#[derive(Clone, Copy, Debug, Default)]
struct SymbolSettings {
    mode: Option<MarginMode>,
    leverage: Option<i64>,
}

pub struct MexcVenue {
    account: String,
    rest: Rest,
    signer: Arc<MexcSigner>,
    ws_url: String,
    instruments: TtlCache<Instrument>,
    /// The account's position mode (true = hedge) and when it was read.
    hedge: Mutex<Option<(bool, Instant)>>,
    settings: Mutex<HashMap<String, SymbolSettings>>,
    /// `submit_batch` was refused for lack of permission: single orders from then on.
    batch_refused: std::sync::atomic::AtomicBool,
    events: broadcast::Sender<VenueEvent>,
    /// Started by the first `subscribe`, so one-shot commands never open a socket.
    stream: Mutex<Option<StreamTask>>,
}

impl MexcVenue {
    pub fn new(config: MexcConfig) -> Result<MexcVenue, VenueError> {
        let signer = Arc::new(MexcSigner::new(config.api_key, config.api_secret));
        let rest = Rest::new(
            RestConfig {
                venue: "mexc",
                base: config.rest_url,
                timeout: config.timeout,
                policy: rest::limit_policy(),
                read_retries: 2,
            },
            signer.clone(),
            config.account.clone(),
        )?;
        Ok(MexcVenue {
            account: config.account,
            rest,
            signer,
            ws_url: config.ws_url,
            instruments: TtlCache::new(INSTRUMENT_TTL),
            hedge: Mutex::new(None),
            settings: Mutex::new(HashMap::new()),
            batch_refused: Default::default(),
            events: broadcast::channel(1024).0,
            stream: Mutex::new(None),
        })
    }

    pub fn from_account(
        account: &AccountConfig,
        credential: Option<&Credential>,
    ) -> Result<MexcVenue, VenueError> {
        MexcVenue::new(MexcConfig::from_account(account, credential)?)
    }

    /// Whether the account is in hedge mode, read from MEXC (never assumed), at most `ttl` old.
    async fn is_hedge(&self, ttl: Duration) -> Result<bool, VenueError> {
        if let Some((hedge, at)) = *self.hedge.lock().unwrap_or_else(|p| p.into_inner()) {
            if at.elapsed() < ttl {
                return Ok(hedge);
            }
        }
        let hedge = match self.rest.position_mode().await? {
            1 => true,
            2 => false,
            other => {
                return Err(VenueError::Decode(format!(
                    "mexc account \"{}\": unknown position mode {other}",
                    self.account
                )))
            }
        };
        *self.hedge.lock().unwrap_or_else(|p| p.into_inner()) = Some((hedge, Instant::now()));
        Ok(hedge)
    }

    fn forget_mode(&self) {
        *self.hedge.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn settings(&self, native: &str) -> SymbolSettings {
        self.settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(native)
            .copied()
            .unwrap_or_default()
    }

    fn update_settings(&self, native: &str, f: impl FnOnce(&mut SymbolSettings)) {
        let mut map = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        f(map.entry(native.to_string()).or_default());
    }

    /// The leverage MEXC has for `native` (the higher of the two sides), when it says.
    async fn venue_leverage(&self, native: &str) -> Result<Option<i64>, VenueError> {
        let rows = self.rest.leverage(native).await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.leverage)
            .max()
            .map(wire_leverage))
    }

    fn local_reject(&self, kind: RejectKind, message: String) -> VenueError {
        VenueError::rejected(
            kind,
            "local",
            format!("mexc account \"{}\": {message}", self.account),
        )
    }

    /// The `order/create` body of `request`, checked and rounded (toward zero) to the grid.
    async fn order_body(&self, request: &OrderRequest) -> Result<String, VenueError> {
        let native = request.native.as_str();
        if request.client_order_id.is_empty() {
            return Err(self.local_reject(
                RejectKind::Other,
                format!("{native}: an order needs a client order id (externalOid)"),
            ));
        }
        let inst = self.instrument(native).await?;
        let vol = inst.round_to_lot(request.qty);
        if vol <= Decimal::ZERO || vol < inst.min_qty {
            return Err(self.local_reject(
                RejectKind::InvalidQuantity,
                format!(
                    "{native}: {} contracts is below the minimum of {} (step {})",
                    request.qty, inst.min_qty, inst.lot
                ),
            ));
        }
        let price = match (request.kind, request.price) {
            (OrderKind::Market, _) => None,
            (OrderKind::Limit, Some(p)) => {
                Some(inst.round_price(p, request.side == crate::domain::Side::Buy))
            }
            (OrderKind::Limit, None) => {
                return Err(self.local_reject(
                    RejectKind::InvalidPrice,
                    format!("{native}: a limit order needs a price"),
                ))
            }
        };
        let ttl = if request.reduce_only {
            MODE_TTL_REDUCE
        } else {
            MODE_TTL
        };
        let hedge = self.is_hedge(ttl).await?;
        let settings = self.settings(native);
        let mode = request
            .margin_mode
            .or(settings.mode)
            .unwrap_or(MarginMode::Cross);
        let leverage = match (request.leverage.map(wire_leverage), settings.leverage) {
            (Some(l), _) | (None, Some(l)) => Some(l),
            // Isolated orders must carry a leverage: the one MEXC has for the symbol.
            (None, None) if mode == MarginMode::Isolated => self.venue_leverage(native).await?,
            (None, None) => None,
        };
        let mut body = Body::new().str("symbol", native);
        if let Some(p) = price {
            body = body.num("price", p);
        }
        body = body.num("vol", vol);
        if let Some(l) = leverage {
            body = body.int("leverage", l);
        }
        body = body
            .int("side", parse::side_code(request.side, request.reduce_only))
            .int("type", if price.is_some() { 1 } else { 5 })
            .int("openType", open_type(mode))
            .str("externalOid", &wire_oid(&request.client_order_id));
        // In one-way mode close codes alone could still be netted into a new position on the
        // other side; `reduceOnly` forbids it. Hedge mode rejects the flag (close codes there
        // only ever close their own leg).
        if request.reduce_only && !hedge {
            body = body.bool("reduceOnly", true);
        }
        Ok(body.finish())
    }

    /// The state of an order just accepted. `order/create` only acknowledges; a market order
    /// normally fills within milliseconds, so a few short lookups usually see it filled. If a
    /// lookup fails the order is reported as accepted (New): the next cycle reads positions.
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
            match self.rest.order_by_external(native, &wire_oid(cid)).await {
                Ok(Some(row)) => match parse::order_ack(&row) {
                    Ok(ack) => {
                        last = OrderAck {
                            client_order_id: cid.to_string(),
                            ..ack
                        }
                    }
                    Err(e) => {
                        tracing::warn!(account = %self.account, client_order_id = cid, error = %e, "unreadable order after placing; reporting it as accepted");
                        break;
                    }
                },
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

    /// After a refusal: a position-mode mismatch means the mode read is stale.
    fn after_refusal(&self, e: &VenueError) {
        if e.reject_kind() == Some(RejectKind::Other) {
            self.forget_mode();
        }
    }
}

fn open_type(mode: MarginMode) -> i64 {
    match mode {
        MarginMode::Isolated => 1,
        MarginMode::Cross => 2,
    }
}

/// The venue order id of an `order/create` answer: `{"orderId": "…", "ts": …}` now, the bare
/// id on the legacy path.
fn created_id(data: &Value) -> String {
    let v = data.get("orderId").unwrap_or(data);
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn interval(i: CandleInterval) -> &'static str {
    match i {
        CandleInterval::M1 => "Min1",
        CandleInterval::M5 => "Min5",
        CandleInterval::H1 => "Min60",
        CandleInterval::D1 => "Day1",
    }
}

#[async_trait]
impl Venue for MexcVenue {
    fn kind(&self) -> &'static str {
        "mexc"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            // `change_limit_order` (price and volume of a resting limit order).
            amend: true,
            // Leverage is set per position (symbol and side); both sides are set together.
            leverage: LeverageScope::PerSymbol,
            margin_modes: &[MarginMode::Cross, MarginMode::Isolated],
            max_batch_orders: batch::MAX_ORDERS,
            // `openType` (and an isolated order's leverage) ride on each order, from what
            // `set_leverage` / `set_margin_mode` recorded; the executor sets them beforehand.
            leverage_on_order: false,
        }
    }

    /// `BTCUSDT` → `BTC_USDT`; names already spelled with `_` are kept.
    fn native_symbol(&self, symbol: &Symbol) -> String {
        native_symbol(symbol.as_str())
    }

    async fn instrument(&self, native: &str) -> Result<Instrument, VenueError> {
        if let Some(inst) = self.instruments.get(native) {
            return Ok(inst);
        }
        // One answer lists every contract: the others are kept too, so that an account
        // trading many symbols does not wait 5 s (the endpoint's limit) for each. A row that
        // does not read, or a contract not open to the API, is left to be asked for by name
        // (its error or warning then belongs to the symbol that needs it).
        let mut wanted = None;
        for row in self.rest.details().await? {
            if row.get("symbol").and_then(Value::as_str) == Some(native) {
                wanted = Some(row);
                continue;
            }
            let Ok(other) = self.rest.contract_detail(row) else {
                continue;
            };
            if parse::tradable(&other) {
                if let Ok(inst) = parse::instrument(&other) {
                    self.instruments.insert(&other.symbol, inst);
                }
            }
        }
        let row =
            wanted.ok_or_else(|| VenueError::UnknownSymbol(format!("{native} (mexc contract)")))?;
        let row = self.rest.contract_detail(row)?;
        if !parse::tradable(&row) {
            tracing::warn!(account = %self.account, symbol = native, state = row.state, api_allowed = ?row.api_allowed, "mexc lists the contract as not open to API orders; orders will be refused");
        }
        let inst = parse::instrument(&row)?;
        self.instruments.insert(native, inst.clone());
        Ok(inst)
    }

    async fn quote(&self, native: &str) -> Result<Quote, VenueError> {
        parse::quote(native, &self.rest.fair_price(native).await?)
    }

    /// One ticker read for every symbol (the per-symbol fair price would spend one request
    /// each); a symbol the list lacks is asked on its own.
    async fn quotes(&self, natives: &[String]) -> Vec<Result<Quote, VenueError>> {
        if natives.len() <= 1 {
            return futures::future::join_all(natives.iter().map(|n| self.quote(n))).await;
        }
        let rows = match self.rest.tickers().await {
            Ok(rows) => rows,
            Err(e) => return natives.iter().map(|_| Err(e.clone())).collect(),
        };
        futures::future::join_all(natives.iter().map(|native| {
            let row = rows.iter().find(|r| r.symbol == *native);
            async move {
                match row {
                    Some(row) => parse::quote(native, row),
                    None => self.quote(native).await,
                }
            }
        }))
        .await
    }

    async fn account_value(&self) -> Result<AccountValue, VenueError> {
        parse::account_value(&self.rest.assets().await?)
    }

    async fn positions(&self) -> Result<Vec<Position>, VenueError> {
        parse::positions(&self.rest.open_positions(None).await?)
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
        let body = self.order_body(request).await?;
        let data = match self.rest.post("/api/v1/private/order/create", body).await {
            Ok(d) => d,
            Err(e) => {
                self.after_refusal(&e);
                return Err(e);
            }
        };
        let ack = self
            .settle(
                &request.native,
                &request.client_order_id,
                &created_id(&data),
                request.kind == OrderKind::Market,
            )
            .await;
        batch::same_order(self, request, ack)
    }

    async fn place_orders(&self, requests: &[OrderRequest]) -> Vec<Result<OrderAck, VenueError>> {
        batch::place(self, requests).await
    }

    async fn order_by_client_id(
        &self,
        native: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderAck>, VenueError> {
        match self
            .rest
            .order_by_external(native, &wire_oid(client_order_id))
            .await?
        {
            Some(row) => parse::order_ack(&row).map(|ack| {
                Some(OrderAck {
                    client_order_id: client_order_id.to_string(),
                    ..ack
                })
            }),
            None => Ok(None),
        }
    }

    async fn cancel_order(&self, native: &str, client_order_id: &str) -> Result<(), VenueError> {
        let body = Body::new()
            .str("symbol", native)
            .str("externalOid", &wire_oid(client_order_id))
            .finish();
        let data = self
            .rest
            .post("/api/v1/private/order/cancel_with_external", body)
            .await?;
        // Some answers carry a per-order result: `errorCode` 0 is done.
        let items = match &data {
            Value::Array(a) => a.clone(),
            Value::Object(_) => vec![data.clone()],
            _ => vec![],
        };
        for item in items {
            let code = item.get("errorCode").and_then(Value::as_i64).unwrap_or(0);
            if code != 0 {
                let msg = item.get("errorMsg").and_then(Value::as_str).unwrap_or("");
                return Err(parse::item_error(
                    code,
                    msg,
                    self.rest.ctx_for("POST order/cancel_with_external"),
                ));
            }
        }
        Ok(())
    }

    async fn amend_order(
        &self,
        native: &str,
        client_order_id: &str,
        qty: Option<Decimal>,
        price: Option<Decimal>,
    ) -> Result<OrderAck, VenueError> {
        let inst = self.instrument(native).await?;
        let row = self
            .rest
            .order_by_external(native, &wire_oid(client_order_id))
            .await?
            .ok_or_else(|| {
                self.local_reject(
                    RejectKind::OrderNotFound,
                    format!("{native}: no order {client_order_id} to amend"),
                )
            })?;
        let vol = qty.map(|q| inst.round_to_lot(q)).or(row.vol);
        let price = price.map(|p| inst.round_price(p, true)).or(row.price);
        let (Some(vol), Some(price)) = (vol, price) else {
            return Err(self.local_reject(
                RejectKind::Other,
                format!("{native}: order {client_order_id} has no price or volume to keep"),
            ));
        };
        let order_id =
            if row.order_id.chars().all(|c| c.is_ascii_digit()) && !row.order_id.is_empty() {
                row.order_id.clone()
            } else {
                Value::String(row.order_id.clone()).to_string()
            };
        let body = Body::new()
            .raw("orderId", &order_id)
            .num("price", price)
            .num("vol", vol)
            .finish();
        self.rest
            .post("/api/v1/private/order/change_limit_order", body)
            .await?;
        Ok(self
            .settle(native, client_order_id, &row.order_id, false)
            .await)
    }

    /// Leverage lives on each position side; both sides of `native` are set (through the open
    /// position when there is one), in the symbol's current margin mode.
    async fn set_leverage(&self, native: &str, leverage: Decimal) -> Result<(), VenueError> {
        let lev = wire_leverage(leverage);
        let settings = self.settings(native);
        if settings.leverage == Some(lev) {
            return Ok(());
        }
        let mode = settings.mode.unwrap_or(MarginMode::Cross);
        let open = self.rest.open_positions(Some(native)).await?;
        for position_type in [1i64, 2] {
            let held = open
                .iter()
                .find(|p| p.symbol == native && p.position_type == position_type && p.state != 3);
            let body = match held {
                Some(p) => Body::new()
                    .raw("positionId", &p.position_id)
                    .int("leverage", lev)
                    .finish(),
                None => Body::new()
                    .int("leverage", lev)
                    .int("openType", open_type(mode))
                    .str("symbol", native)
                    .int("positionType", position_type)
                    .finish(),
            };
            self.rest
                .post("/api/v1/private/position/change_leverage", body)
                .await?;
        }
        self.update_settings(native, |s| s.leverage = Some(lev));
        Ok(())
    }

    /// MEXC has no margin-mode endpoint: the mode is `openType` on each order and on the
    /// leverage of each side. It is recorded here, and applied to the leverage settings while
    /// the symbol is flat (MEXC refuses a second mode per direction while a position is open).
    async fn set_margin_mode(&self, native: &str, mode: MarginMode) -> Result<(), VenueError> {
        let settings = self.settings(native);
        if settings.mode == Some(mode) {
            return Ok(());
        }
        let open = self.rest.open_positions(Some(native)).await?;
        if let Some(p) = open.iter().find(|p| p.symbol == native && p.state != 3) {
            if p.open_type != open_type(mode) {
                return Err(self.local_reject(
                    RejectKind::Other,
                    format!(
                        "{native}: cannot switch to {mode:?} margin while a position is open in the other mode"
                    ),
                ));
            }
        } else {
            let lev = match settings.leverage {
                Some(l) => Some(l),
                None => self.venue_leverage(native).await?,
            };
            if let Some(lev) = lev {
                for position_type in [1i64, 2] {
                    let body = Body::new()
                        .int("leverage", lev)
                        .int("openType", open_type(mode))
                        .str("symbol", native)
                        .int("positionType", position_type)
                        .finish();
                    self.rest
                        .post("/api/v1/private/position/change_leverage", body)
                        .await?;
                }
            }
        }
        self.update_settings(native, |s| s.mode = Some(mode));
        Ok(())
    }

    async fn candles(
        &self,
        native: &str,
        interval_: CandleInterval,
        limit: u32,
    ) -> Result<Vec<Candle>, VenueError> {
        let end = chrono::Utc::now().timestamp();
        let start = end - interval_.seconds() * i64::from(limit.clamp(1, 2000));
        let k = self
            .rest
            .kline(native, interval(interval_), start, end)
            .await?;
        parse::candles(&k)
    }

    fn subscribe(&self) -> Option<broadcast::Receiver<VenueEvent>> {
        let rx = self.events.subscribe();
        let mut stream = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        if stream.is_none() && tokio::runtime::Handle::try_current().is_ok() {
            let config = StreamConfig::new(format!("{}/mexc", self.account), stream::HEARTBEAT);
            *stream = Some(spawn_stream(
                config,
                stream::PrivateStream::new(self.ws_url.clone(), self.signer.clone()),
                self.events.clone(),
            ));
        }
        Some(rx)
    }
}

/// The `externalOid` of a client id: the id itself when it fits MEXC's 32 characters (the
/// daemon's ids are exactly 32), else a 32-character digest of it, so that a longer id (tests,
/// tools) still maps to one order and only that one.
pub fn wire_oid(cid: &str) -> std::borrow::Cow<'_, str> {
    use sha2::{Digest, Sha256};
    if cid.len() <= MAX_CLIENT_ID {
        return std::borrow::Cow::Borrowed(cid);
    }
    let digest = hex::encode(Sha256::digest(cid.as_bytes()));
    std::borrow::Cow::Owned(format!("x{}", &digest[..MAX_CLIENT_ID - 1]))
}

/// `BTCUSDT` → `BTC_USDT` (USDT, USDC and USD quotes); anything with `_` is already native.
pub fn native_symbol(unified: &str) -> String {
    let s = unified.to_ascii_uppercase();
    if s.contains('_') {
        return s;
    }
    for quote in ["USDT", "USDC", "USD"] {
        if let Some(base) = s.strip_suffix(quote) {
            if !base.is_empty() {
                return format!("{base}_{quote}");
            }
        }
    }
    s
}

#[cfg(test)]
mod tests;
