//! `blofin`: BloFin USDT-margined perpetual swaps (`BTC-USDT`), sizes in contracts. This file
//! is the `Venue` impl and its small caches (instruments, position mode, the margin mode of
//! open positions); signing is in `auth.rs`, endpoints, limits and the CDN dialect in
//! `rest.rs`, wire types in `model.rs`, wire → domain and the error table in `parse.rs`, the
//! private stream in `stream.rs`. See docs/venues/blofin.md.

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
use crate::venue::common::{self, confirm, CredentialField, StreamUp, TtlCache};
use crate::venue::http::RestConfig;
use crate::venue::registry::{typed_params, VenueKind};
use crate::venue::stream::{spawn_stream, StreamConfig, StreamTask};
use crate::venue::{
    CandleInterval, Capabilities, LeverageScope, MarginMode, RejectKind, Venue, VenueError,
    VenueEvent,
};
use async_trait::async_trait;
use auth::BlofinSigner;
use model::{CancelOrder, CreateOrder, SetLeverage};
use rest::{wire_leverage, wire_number, Rest};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use url::Url;

pub const KIND: VenueKind = VenueKind {
    name: "blofin",
    title: "BloFin USDT perpetuals",
    credentials: &[
        CredentialField::ApiKey,
        CredentialField::ApiSecret,
        CredentialField::ApiPassphrase,
    ],
    params: check_params,
    build: Some(build),
};

/// An account's `"params"` for BloFin.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlofinParams {
    /// The margin mode orders are placed in (BloFin takes it on every order); `cross` when
    /// not given.
    #[serde(default)]
    pub margin_mode: Option<MarginMode>,
}

fn check_params(params: &Map<String, Value>) -> Result<(), String> {
    typed_params::<BlofinParams>(params).map(|_| ())
}

fn build(
    account: &AccountConfig,
    credential: Option<&Credential>,
    _state_dir: &Path,
) -> Result<Arc<dyn Venue>, VenueError> {
    Ok(Arc::new(BlofinVenue::from_account(account, credential)?))
}

/// Instruments change rarely (a tick or lot change is announced days ahead).
const INSTRUMENT_TTL: Duration = Duration::from_secs(3600);

/// How long the account's position mode is trusted before it is read again.
const POSITION_MODE_TTL: Duration = Duration::from_secs(600);

/// Everything needed to talk to BloFin for one account.
#[derive(Clone, Debug)]
pub struct BlofinConfig {
    pub account: String,
    pub rest_url: Url,
    pub ws_url: String,
    pub timeout: Duration,
    pub api_key: Secret,
    pub api_secret: Secret,
    pub passphrase: Secret,
    pub margin_mode: MarginMode,
}

impl BlofinConfig {
    /// From an account of `engine.json` and its credentials entry: `rest_url`/`ws_url`
    /// override the hosts, `testnet` selects BloFin's demo-trading hosts, `timeout_ms` is the
    /// deadline, `params.margin_mode` the margin mode of orders.
    pub fn from_account(
        account: &AccountConfig,
        credential: Option<&Credential>,
    ) -> Result<BlofinConfig, VenueError> {
        let params: BlofinParams = typed_params(&account.params).map_err(|e| {
            VenueError::Local(format!(
                "account \"{}\" (blofin): bad params: {e}",
                account.name
            ))
        })?;
        let credential = |field| common::required("blofin", account, credential, field);
        Ok(BlofinConfig {
            account: account.name.clone(),
            api_key: credential(CredentialField::ApiKey)?,
            api_secret: credential(CredentialField::ApiSecret)?,
            passphrase: credential(CredentialField::ApiPassphrase)?,
            rest_url: common::rest_url(account, &rest::HOSTS)?,
            ws_url: common::stream_url(account, &stream::HOSTS)?.to_string(),
            timeout: Duration::from_millis(account.timeout_ms.max(1)),
            margin_mode: params.margin_mode.unwrap_or(MarginMode::Cross),
        })
    }
}

pub struct BlofinVenue {
    account: String,
    rest: Rest,
    signer: Arc<BlofinSigner>,
    ws_url: String,
    instruments: TtlCache<Instrument>,
    /// The margin mode of new orders (params, or the last `set_margin_mode`).
    margin_mode: Mutex<MarginMode>,
    /// Margin mode of each open position as last listed: a reducing order must be placed in
    /// the position's own mode, or BloFin would see a new position in the other mode.
    position_modes: Mutex<HashMap<String, MarginMode>>,
    /// Whether the account is in hedge mode, and when that was read.
    hedge: Mutex<Option<(bool, Instant)>>,
    events: broadcast::Sender<VenueEvent>,
    /// Started by the first `subscribe`, so one-shot commands never open a socket.
    stream: Mutex<Option<StreamTask>>,
    /// Whether the private stream is connected (its order pushes confirm fills).
    stream_up: StreamUp,
}

/// How long an order's stream push is awaited before it is looked up over REST.
const STREAM_CONFIRM: Duration = Duration::from_millis(300);

fn wire_mode(mode: MarginMode) -> &'static str {
    match mode {
        MarginMode::Cross => "cross",
        MarginMode::Isolated => "isolated",
    }
}

fn bar(i: CandleInterval) -> &'static str {
    match i {
        CandleInterval::M1 => "1m",
        CandleInterval::M5 => "5m",
        CandleInterval::H1 => "1H",
        CandleInterval::D1 => "1D",
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl BlofinVenue {
    pub fn new(config: BlofinConfig) -> Result<BlofinVenue, VenueError> {
        let signer = Arc::new(BlofinSigner::new(
            config.api_key,
            config.api_secret,
            config.passphrase,
        ));
        let rest = Rest::new(
            RestConfig {
                venue: "blofin",
                base: config.rest_url,
                timeout: config.timeout,
                policy: rest::limit_policy(),
                read_retries: 2,
            },
            signer.clone(),
            config.account.clone(),
        )?;
        Ok(BlofinVenue {
            account: config.account,
            rest,
            signer,
            ws_url: config.ws_url,
            instruments: TtlCache::new(INSTRUMENT_TTL),
            margin_mode: Mutex::new(config.margin_mode),
            position_modes: Mutex::new(HashMap::new()),
            hedge: Mutex::new(None),
            events: broadcast::channel(1024).0,
            stream: Mutex::new(None),
            stream_up: StreamUp::default(),
        })
    }

    pub fn from_account(
        account: &AccountConfig,
        credential: Option<&Credential>,
    ) -> Result<BlofinVenue, VenueError> {
        BlofinVenue::new(BlofinConfig::from_account(account, credential)?)
    }

    /// Whether the account is in hedge mode (`long_short_mode`), read at most every ten
    /// minutes and again after BloFin said the mode did not match.
    async fn is_hedge(&self) -> Result<bool, VenueError> {
        if let Some((hedge, at)) = *lock(&self.hedge) {
            if at.elapsed() < POSITION_MODE_TTL {
                return Ok(hedge);
            }
        }
        let mode = self.rest.position_mode().await?;
        let hedge = match mode.position_mode.as_str() {
            "net_mode" => false,
            "long_short_mode" => true,
            other => {
                return Err(VenueError::Decode(format!(
                    "blofin account \"{}\": unknown position mode {other:?}",
                    self.account
                )))
            }
        };
        *lock(&self.hedge) = Some((hedge, Instant::now()));
        Ok(hedge)
    }

    fn mark_hedge(&self, hedge: bool) {
        *lock(&self.hedge) = Some((hedge, Instant::now()));
    }

    /// The order as BloFin sees it now; `None` when it never saw our id.
    async fn lookup(
        &self,
        native: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderAck>, VenueError> {
        match self.rest.order_detail(native, client_order_id).await {
            Ok(Some(row)) => parse::order_ack(&row).map(Some),
            Ok(None) => Ok(None),
            Err(e) if e.reject_kind() == Some(RejectKind::OrderNotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The state of an order just accepted. Placing only acknowledges; the private stream's
    /// order push says the fill (and spares a lookup in the trading budget of 30 per 10 s);
    /// without it, a market order normally fills within milliseconds, so a few short
    /// lookups usually see it filled. If the lookup fails the order is reported as accepted
    /// (New): the next cycle reads the venue's positions and never trades twice.
    async fn settle(
        &self,
        native: &str,
        cid: &str,
        venue_id: &str,
        market: bool,
        pushed: Option<broadcast::Receiver<VenueEvent>>,
    ) -> OrderAck {
        if let Some(ack) = confirm::final_state(cid, pushed, STREAM_CONFIRM).await {
            return ack;
        }
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
            match self.lookup(native, cid).await {
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

    fn local_reject(&self, kind: RejectKind, message: String) -> VenueError {
        VenueError::rejected(
            kind,
            "local",
            format!("blofin account \"{}\": {message}", self.account),
        )
    }

    /// The margin mode an order goes in: the request's, else for a reducing order the mode of
    /// the position it reduces, else the account's.
    fn order_mode(&self, request: &OrderRequest) -> MarginMode {
        if let Some(mode) = request.margin_mode {
            return mode;
        }
        if request.reduce_only {
            if let Some(mode) = lock(&self.position_modes).get(&request.native) {
                return *mode;
            }
        }
        *lock(&self.margin_mode)
    }
}

#[async_trait]
impl Venue for BlofinVenue {
    fn kind(&self) -> &'static str {
        "blofin"
    }

    /// No amend endpoint is documented (cancel and place again); leverage is set per
    /// instrument and margin mode beforehand, the margin mode rides on each order; the batch
    /// endpoint takes one instrument per request, so orders go one by one.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            amend: false,
            leverage: LeverageScope::PerSymbol,
            margin_modes: &[MarginMode::Cross, MarginMode::Isolated],
            max_batch_orders: 1,
            leverage_on_order: false,
        }
    }

    /// `BTCUSDT` → `BTC-USDT`.
    fn native_symbol(&self, symbol: &Symbol) -> String {
        parse::native_symbol(symbol)
    }

    async fn instrument(&self, native: &str) -> Result<Instrument, VenueError> {
        if let Some(inst) = self.instruments.get(native) {
            return Ok(inst);
        }
        let rows = self.rest.instruments(native).await?;
        let row = rows
            .iter()
            .find(|r| r.inst_id == native)
            .ok_or_else(|| VenueError::UnknownSymbol(format!("{native} (blofin)")))?;
        let inst = parse::instrument(row)?;
        self.instruments.insert(native, inst.clone());
        Ok(inst)
    }

    async fn quote(&self, native: &str) -> Result<Quote, VenueError> {
        let rows = self.rest.mark_price(native).await?;
        let row = rows
            .iter()
            .find(|r| r.inst_id == native)
            .ok_or_else(|| VenueError::UnknownSymbol(format!("{native} (blofin)")))?;
        parse::quote(native, row)
    }

    async fn account_value(&self) -> Result<AccountValue, VenueError> {
        parse::account_value(&self.rest.balance().await?)
    }

    async fn positions(&self) -> Result<Vec<Position>, VenueError> {
        let rows = self.rest.positions(None).await?;
        if rows.iter().any(parse::is_hedge_row) {
            self.mark_hedge(true);
        }
        {
            let mut modes = lock(&self.position_modes);
            modes.clear();
            for row in &rows {
                let mode = match row.margin_mode.as_str() {
                    "isolated" => MarginMode::Isolated,
                    _ => MarginMode::Cross,
                };
                if parse::opt_num(&row.positions).is_some_and(|q| !q.is_zero()) {
                    modes.insert(row.inst_id.clone(), mode);
                }
            }
        }
        parse::positions(&rows, &self.account)
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
        let inst = self.instrument(native).await?;
        let size = wire_number(request.qty, inst.lot);
        let contracts = parse::opt_num(&size).unwrap_or_default();
        if contracts <= Decimal::ZERO || contracts < inst.min_qty {
            return Err(self.local_reject(
                RejectKind::InvalidQuantity,
                format!(
                    "{native}: {} contracts is below the minimum of {} (lot {})",
                    request.qty, inst.min_qty, inst.lot
                ),
            ));
        }
        let price = match (request.kind, request.price) {
            (OrderKind::Market, _) => None,
            (OrderKind::Limit, Some(p)) => Some(wire_number(p, inst.tick)),
            (OrderKind::Limit, None) => {
                return Err(self.local_reject(
                    RejectKind::InvalidPrice,
                    format!("{native}: a limit order needs a price"),
                ))
            }
        };
        if self.is_hedge().await? {
            return Err(parse::hedge_refusal(&self.account));
        }
        let body = CreateOrder {
            inst_id: native,
            margin_mode: wire_mode(self.order_mode(request)),
            position_side: "net",
            side: parse::wire_side(request.side),
            order_type: match request.kind {
                OrderKind::Market => "market",
                OrderKind::Limit => "limit",
            },
            price,
            size,
            reduce_only: if request.reduce_only { "true" } else { "false" },
            client_order_id: &request.client_order_id,
        };
        // Before sending, so that no push about the order is missed.
        let pushed = self.stream_up.pushes(&self.events);
        let item = match self.rest.post_item("/api/v1/trade/order", &body).await {
            Ok(item) => item,
            Err(e) => {
                if parse::is_position_mode_mismatch(&e) {
                    // The mode changed under us: read it again before the next order.
                    *lock(&self.hedge) = None;
                }
                return Err(e);
            }
        };
        Ok(self
            .settle(
                native,
                &request.client_order_id,
                &item.order_id,
                request.kind == OrderKind::Market,
                pushed,
            )
            .await)
    }

    async fn order_by_client_id(
        &self,
        native: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderAck>, VenueError> {
        self.lookup(native, client_order_id).await
    }

    /// BloFin cancels by order id: the order is looked up by our id first, and one that is
    /// finished or unknown is `OrderNotFound`, as BloFin's own 102068 says.
    async fn cancel_order(&self, native: &str, client_order_id: &str) -> Result<(), VenueError> {
        let ack = self.lookup(native, client_order_id).await?;
        let open = ack
            .as_ref()
            .is_some_and(|a| matches!(a.status, OrderStatus::New | OrderStatus::PartiallyFilled));
        let Some(ack) = ack.filter(|_| open) else {
            return Err(self.local_reject(
                RejectKind::OrderNotFound,
                format!("{native}: no open order with client id {client_order_id}"),
            ));
        };
        let body = CancelOrder {
            inst_id: native,
            order_id: &ack.venue_order_id,
        };
        self.rest
            .post_item("/api/v1/trade/cancel-order", &body)
            .await
            .map(|_| ())
    }

    async fn amend_order(
        &self,
        _native: &str,
        _client_order_id: &str,
        _qty: Option<Decimal>,
        _price: Option<Decimal>,
    ) -> Result<OrderAck, VenueError> {
        Err(VenueError::Unsupported(
            "BloFin has no amend endpoint: cancel the order and place a new one".into(),
        ))
    }

    /// Leverage is per instrument and margin mode; it is read first, so that setting the
    /// leverage it already has sends nothing.
    async fn set_leverage(&self, native: &str, leverage: Decimal) -> Result<(), VenueError> {
        let mode = wire_mode(*lock(&self.margin_mode));
        let wanted = wire_leverage(leverage);
        let current = self.rest.leverage(native, mode).await?;
        let same = current.iter().any(|r| {
            r.inst_id == native
                && r.margin_mode == mode
                && parse::opt_num(&r.leverage) == parse::opt_num(&wanted)
        });
        if same {
            return Ok(());
        }
        let body = SetLeverage {
            inst_id: native,
            leverage: wanted,
            margin_mode: mode,
        };
        self.rest
            .post("/api/v1/account/set-leverage", &body)
            .await?;
        Ok(())
    }

    /// BloFin takes the margin mode on every order: this chooses the mode of later orders
    /// (the account default in BloFin's app, which only its UI uses, is left alone).
    async fn set_margin_mode(&self, _native: &str, mode: MarginMode) -> Result<(), VenueError> {
        *lock(&self.margin_mode) = mode;
        Ok(())
    }

    async fn candles(
        &self,
        native: &str,
        interval: CandleInterval,
        limit: u32,
    ) -> Result<Vec<Candle>, VenueError> {
        parse::candles(&self.rest.candles(native, bar(interval), limit).await?)
    }

    fn subscribe(&self) -> Option<broadcast::Receiver<VenueEvent>> {
        let rx = self.events.subscribe();
        let mut stream = lock(&self.stream);
        if stream.is_none() && tokio::runtime::Handle::try_current().is_ok() {
            let config = StreamConfig::new(format!("{}/blofin", self.account), stream::HEARTBEAT);
            *stream = Some(spawn_stream(
                config,
                stream::PrivateStream::new(self.ws_url.clone(), self.signer.clone()),
                self.events.clone(),
            ));
            self.stream_up.follow(&self.events);
        }
        Some(rx)
    }
}

#[cfg(test)]
mod tests;
