//! `bybit`: Bybit v5, unified trading account, USDT/USDC linear perpetuals and inverse
//! contracts. This file is the `Venue` impl and its small caches (instruments, position mode);
//! signing is in `auth.rs`, endpoints in `rest.rs`, wire types in `model.rs`, wire → domain
//! in `parse.rs` and the private stream in `stream.rs`. See docs/venues/bybit.md.

mod auth;
mod model;
mod parse;
mod rest;
mod stream;

use crate::config::{AccountConfig, Credential, Secret};
use crate::domain::{
    AccountValue, Candle, Instrument, OpenOrder, OrderAck, OrderKind, OrderRequest, OrderStatus,
    Position, Quote, Side, Symbol,
};
use crate::venue::common::{self, confirm, CredentialField, StreamUp, TtlCache};
use crate::venue::http::RestConfig;
use crate::venue::registry::{no_params, VenueKind};
use crate::venue::stream::{spawn_stream, StreamConfig, StreamTask};
use crate::venue::{
    CandleInterval, Capabilities, MarginMode, RejectKind, Venue, VenueError, VenueEvent,
};
use async_trait::async_trait;
use auth::BybitSigner;
use model::{
    AmendOrder, CancelOrder, Category, CreateBatch, CreateOrder, MarginModeResult, SetLeverage,
    SetMarginMode,
};
use rest::{wire_leverage, wire_number, Rest};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use url::Url;

pub const KIND: VenueKind = VenueKind {
    name: "bybit",
    title: "Bybit v5 (USDT/USDC linear and inverse)",
    credentials: &[CredentialField::ApiKey, CredentialField::ApiSecret],
    params: no_params,
    build: Some(build),
};

fn build(
    account: &AccountConfig,
    credential: Option<&Credential>,
    _state_dir: &Path,
) -> Result<Arc<dyn Venue>, VenueError> {
    Ok(Arc::new(BybitVenue::from_account(account, credential)?))
}

/// Instruments change rarely (a tick or step change is announced days ahead).
const INSTRUMENT_TTL: Duration = Duration::from_secs(3600);

/// Orders per `create-batch` request (linear and inverse, since 2025-02).
const MAX_BATCH: usize = 20;

/// How long a market order's fill may take to arrive on the private stream before it is
/// looked up over REST.
const STREAM_CONFIRM: Duration = Duration::from_millis(300);

/// Linear settle coins and the inverse category: every place a position or order can live.
const GROUPS: [(Category, Option<&str>); 3] = [
    (Category::Linear, Some("USDT")),
    (Category::Linear, Some("USDC")),
    (Category::Inverse, None),
];

/// Everything needed to talk to Bybit for one account.
#[derive(Clone, Debug)]
pub struct BybitConfig {
    pub account: String,
    pub rest_url: Url,
    pub ws_url: String,
    pub timeout: Duration,
    pub api_key: Secret,
    pub api_secret: Secret,
}

impl BybitConfig {
    /// From an account of `engine.json` and its credentials entry: `rest_url`/`ws_url`
    /// override the hosts, `testnet` selects the testnet hosts, `timeout_ms` is the deadline.
    pub fn from_account(
        account: &AccountConfig,
        credential: Option<&Credential>,
    ) -> Result<BybitConfig, VenueError> {
        let credential = |field| common::required("bybit", account, credential, field);
        let api_key = credential(CredentialField::ApiKey)?;
        let api_secret = credential(CredentialField::ApiSecret)?;
        let rest_url = common::rest_url(account, &rest::HOSTS)?;
        Ok(BybitConfig {
            account: account.name.clone(),
            rest_url,
            ws_url: common::stream_url(account, &stream::HOSTS)?.to_string(),
            timeout: Duration::from_millis(account.timeout_ms.max(1)),
            api_key,
            api_secret,
        })
    }
}

pub struct BybitVenue {
    account: String,
    rest: Rest,
    signer: Arc<BybitSigner>,
    ws_url: String,
    instruments: TtlCache<Instrument>,
    /// Position mode per symbol, learnt from position lists: true = hedge (two legs).
    hedge: Mutex<HashMap<String, bool>>,
    events: broadcast::Sender<VenueEvent>,
    /// Started by the first `subscribe`, so one-shot commands never open a socket.
    stream: Mutex<Option<StreamTask>>,
    /// Whether the private stream is connected (its order pushes confirm fills).
    stream_up: StreamUp,
    /// One bulk instruments read at a time; the others wait for its result.
    instrument_load: tokio::sync::Mutex<()>,
    /// Leverage per symbol as the venue reported it in position rows, or as we last set it.
    leverage: Mutex<HashMap<String, Decimal>>,
}

impl BybitVenue {
    pub fn new(config: BybitConfig) -> Result<BybitVenue, VenueError> {
        let signer = Arc::new(BybitSigner::new(config.api_key, config.api_secret));
        let rest = Rest::new(
            RestConfig {
                venue: "bybit",
                base: config.rest_url,
                timeout: config.timeout,
                policy: rest::limit_policy(),
                read_retries: 2,
            },
            signer.clone(),
            config.account.clone(),
        )?;
        Ok(BybitVenue {
            account: config.account,
            rest,
            signer,
            ws_url: config.ws_url,
            instruments: TtlCache::new(INSTRUMENT_TTL),
            hedge: Mutex::new(HashMap::new()),
            events: broadcast::channel(1024).0,
            stream: Mutex::new(None),
            stream_up: StreamUp::default(),
            instrument_load: tokio::sync::Mutex::new(()),
            leverage: Mutex::new(HashMap::new()),
        })
    }

    pub fn from_account(
        account: &AccountConfig,
        credential: Option<&Credential>,
    ) -> Result<BybitVenue, VenueError> {
        BybitVenue::new(BybitConfig::from_account(account, credential)?)
    }

    fn remember_modes(&self, rows: &[model::PositionRow]) {
        let mut modes = self.hedge.lock().unwrap_or_else(|p| p.into_inner());
        for (symbol, hedge) in parse::hedge_symbols(rows) {
            modes.insert(symbol, hedge);
        }
        drop(modes);
        let mut leverage = self.leverage.lock().unwrap_or_else(|p| p.into_inner());
        for row in rows {
            if let Some(l) = parse::opt_num(&row.leverage).filter(|l| *l > Decimal::ZERO) {
                leverage.insert(row.symbol.clone(), l);
            }
        }
    }

    /// The symbol's rows by symbol (listed even when flat): its position mode and leverage.
    async fn learn_symbol(&self, native: &str, category: Category) -> Result<(), VenueError> {
        let rows = self.rest.positions(category, None, Some(native)).await?;
        self.remember_modes(&rows);
        Ok(())
    }

    fn known_leverage(&self, native: &str) -> Option<Decimal> {
        self.leverage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(native)
            .copied()
    }

    /// Whether `native` is in hedge mode; asked once per symbol (a position list by symbol
    /// lists rows even when flat) and then taken from every position list.
    async fn is_hedge(&self, native: &str, category: Category) -> Result<bool, VenueError> {
        if category == Category::Inverse {
            return Ok(false); // inverse contracts are one-way only
        }
        if let Some(h) = self
            .hedge
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(native)
        {
            return Ok(*h);
        }
        self.learn_symbol(native, category).await?;
        Ok(self
            .hedge
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(native)
            .copied()
            .unwrap_or(false))
    }

    fn forget_mode(&self, native: &str) {
        self.hedge
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(native);
    }

    /// The order as Bybit sees it now; `None` when neither the live list nor the history
    /// knows the id.
    async fn lookup(&self, native: &str, link_id: &str) -> Result<Option<OrderAck>, VenueError> {
        let category = Category::for_symbol(native);
        for path in ["/v5/order/realtime", "/v5/order/history"] {
            if let Some(row) = self
                .rest
                .order_by_link_id(path, category, native, link_id)
                .await?
            {
                return parse::order_ack(&row).map(Some);
            }
        }
        Ok(None)
    }

    /// The state of an order just accepted. `order/create` only acknowledges; a market order
    /// normally fills within milliseconds, so a few short lookups usually see it filled. If
    /// the lookup fails the order is reported as accepted (New): the next cycle reads the
    /// venue's positions and never trades twice.
    async fn settle(
        &self,
        native: &str,
        link_id: &str,
        venue_id: &str,
        market: bool,
        pushed: Option<broadcast::Receiver<VenueEvent>>,
    ) -> OrderAck {
        if let Some(ack) = self.confirmed_by_stream(link_id, pushed).await {
            return ack;
        }
        let accepted = OrderAck {
            client_order_id: link_id.to_string(),
            venue_order_id: venue_id.to_string(),
            status: OrderStatus::New,
            filled_qty: Decimal::ZERO,
            avg_price: None,
            native: None,
            side: None,
            qty: None,
        };
        let mut last = accepted;
        for wait_ms in [0u64, 100, 250, 500] {
            if wait_ms > 0 {
                tokio::time::sleep(Duration::from_millis(wait_ms)).await;
            }
            match self.lookup(native, link_id).await {
                Ok(Some(ack)) => last = ack,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(account = %self.account, client_order_id = link_id, error = %e, "lookup after placing failed; reporting the order as accepted");
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

    /// The order's final state from the private stream's pushes (subscribed to before the
    /// order was sent, so none is missed), when the stream is up and pushes it in time.
    async fn confirmed_by_stream(
        &self,
        link_id: &str,
        pushed: Option<broadcast::Receiver<VenueEvent>>,
    ) -> Option<OrderAck> {
        confirm::final_state(link_id, pushed, STREAM_CONFIRM).await
    }

    /// A receiver of the private stream's pushes, when the stream is connected.
    fn pushes(&self) -> Option<broadcast::Receiver<VenueEvent>> {
        self.stream_up.pushes(&self.events)
    }

    /// The wire body of an order: quantity and price on the instrument's grid, the position
    /// index in hedge mode; refused locally when the quantity rounds to nothing.
    async fn prepare<'a>(&self, request: &'a OrderRequest) -> Result<CreateOrder<'a>, VenueError> {
        let native = request.native.as_str();
        let category = Category::for_symbol(native);
        let inst = self.instrument(native).await?;
        let qty = wire_number(request.qty, inst.lot);
        if parse::opt_num(&qty).unwrap_or_default() <= Decimal::ZERO {
            return Err(self.local_reject(
                RejectKind::InvalidQuantity,
                format!(
                    "{native}: quantity {} is below one step of {}",
                    request.qty, inst.lot
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
        let position_idx = if self.is_hedge(native, category).await? {
            Some(hedge_index(request.side, request.reduce_only))
        } else {
            None
        };
        Ok(CreateOrder {
            category: category.as_str(),
            symbol: native,
            side: parse::wire_side(request.side),
            order_type: match request.kind {
                OrderKind::Market => "Market",
                OrderKind::Limit => "Limit",
            },
            qty,
            time_in_force: price.as_ref().map(|_| "GTC"),
            price,
            reduce_only: request.reduce_only,
            order_link_id: &request.client_order_id,
            position_idx,
        })
    }

    /// One `create-batch` request for `chunk` (indexes into `requests`), its items' results
    /// written into `results`.
    async fn send_batch(
        &self,
        category: Category,
        chunk: Vec<(usize, CreateOrder<'_>)>,
        requests: &[OrderRequest],
        results: &mut [Option<Result<OrderAck, VenueError>>],
    ) {
        let link_ids: Vec<&str> = chunk.iter().map(|(_, b)| b.order_link_id).collect();
        let indexes: Vec<usize> = chunk.iter().map(|(i, _)| *i).collect();
        let body = CreateBatch {
            category: category.as_str(),
            request: chunk.into_iter().map(|(_, b)| b).collect(),
        };
        let pushed = self.pushes();
        let items = match self.rest.create_batch(&body, &link_ids, category).await {
            Ok(items) => items,
            // One answer for the whole batch (lost, refused, rate limited): every item's.
            Err(e) => {
                for i in indexes {
                    results[i] = Some(Err(e.clone()));
                }
                return;
            }
        };
        let mut accepted = Vec::new();
        for (i, item) in indexes.iter().zip(items) {
            let request = &requests[*i];
            match item {
                Some(Ok(venue_id)) => accepted.push((*i, venue_id)),
                Some(Err(e)) => {
                    if parse::is_position_mode_mismatch(&e) {
                        self.forget_mode(&request.native);
                    }
                    results[*i] = Some(Err(e));
                }
                None => {
                    results[*i] = Some(Err(VenueError::Unknown(format!(
                        "bybit account \"{}\": the batch answer does not account for order {}",
                        self.account, request.client_order_id
                    ))))
                }
            }
        }
        let wanted: Vec<&str> = accepted
            .iter()
            .map(|(i, _)| requests[*i].client_order_id.as_str())
            .collect();
        let mut confirmed = self.confirmed_many_by_stream(&wanted, pushed).await;
        for (i, venue_id) in accepted {
            let request = &requests[i];
            let ack = match confirmed.remove(&request.client_order_id) {
                Some(ack) => ack,
                None => {
                    self.settle(
                        &request.native,
                        &request.client_order_id,
                        &venue_id,
                        request.kind == OrderKind::Market,
                        None,
                    )
                    .await
                }
            };
            results[i] = Some(Ok(ack));
        }
    }

    /// Final states of several orders from the private stream (see `confirmed_by_stream`).
    async fn confirmed_many_by_stream(
        &self,
        link_ids: &[&str],
        pushed: Option<broadcast::Receiver<VenueEvent>>,
    ) -> HashMap<String, OrderAck> {
        confirm::final_states(link_ids, pushed, STREAM_CONFIRM).await
    }

    fn local_reject(&self, kind: RejectKind, message: String) -> VenueError {
        VenueError::rejected(
            kind,
            "local",
            format!("bybit account \"{}\": {message}", self.account),
        )
    }
}

/// How many of `n` orders go out as single orders beside a batch: those the batch bucket has
/// no room for now, as far as the single-order bucket has room (the rest wait for the batch
/// bucket).
fn single_share(n: usize, batch_room: u32, single_room: u32) -> usize {
    if n <= 1 {
        return 0;
    }
    let over = n.saturating_sub(batch_room as usize);
    over.min(single_room as usize)
}

/// The `positionIdx` of an order in hedge mode: opening buys and closing sells act on the
/// long leg (1), opening sells and closing buys on the short leg (2).
fn hedge_index(side: Side, reduce_only: bool) -> u8 {
    match (side, reduce_only) {
        (Side::Buy, false) | (Side::Sell, true) => 1,
        (Side::Sell, false) | (Side::Buy, true) => 2,
    }
}

fn interval(i: CandleInterval) -> &'static str {
    match i {
        CandleInterval::M1 => "1",
        CandleInterval::M5 => "5",
        CandleInterval::H1 => "60",
        CandleInterval::D1 => "D",
    }
}

#[async_trait]
impl Venue for BybitVenue {
    fn kind(&self) -> &'static str {
        "bybit"
    }

    /// Bybit spells unified symbols the same way: BTCUSDT is the linear perpetual, BTCUSD the
    /// inverse one; the category follows from the name (see `Category::for_symbol`).
    fn native_symbol(&self, symbol: &Symbol) -> String {
        symbol.as_str().to_string()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_batch_orders: MAX_BATCH,
            ..Capabilities::default()
        }
    }

    async fn instrument(&self, native: &str) -> Result<Instrument, VenueError> {
        if let Some(inst) = self.instruments.get(native) {
            return Ok(inst);
        }
        // One bulk read per category fills the cache for every symbol; symbols asking while
        // it runs wait for it instead of reading again.
        let _loading = self.instrument_load.lock().await;
        if let Some(inst) = self.instruments.get(native) {
            return Ok(inst);
        }
        let category = Category::for_symbol(native);
        let rows = self.rest.instruments(category).await?;
        let mut found = None;
        for row in &rows {
            match parse::instrument(row, category) {
                Ok(inst) => {
                    if row.symbol == native {
                        found = Some(inst.clone());
                    }
                    self.instruments.insert(row.symbol.as_str(), inst);
                }
                Err(e) if row.symbol == native => return Err(e),
                Err(_) => {}
            }
        }
        found.ok_or_else(|| {
            VenueError::UnknownSymbol(format!("{native} ({} on bybit)", category.as_str()))
        })
    }

    async fn quote(&self, native: &str) -> Result<Quote, VenueError> {
        let category = Category::for_symbol(native);
        let (rows, time) = self.rest.tickers(category, Some(native)).await?;
        let row = rows
            .iter()
            .find(|t| t.symbol == native)
            .ok_or_else(|| VenueError::UnknownSymbol(native.to_string()))?;
        parse::quote(native, row, time)
    }

    /// One `tickers` read per category for all of `natives`.
    async fn quotes(&self, natives: &[String]) -> Vec<Result<Quote, VenueError>> {
        if natives.len() <= 1 {
            let mut out = Vec::new();
            for n in natives {
                out.push(self.quote(n).await);
            }
            return out;
        }
        let categories: Vec<Category> = [Category::Linear, Category::Inverse]
            .into_iter()
            .filter(|c| natives.iter().any(|n| Category::for_symbol(n) == *c))
            .collect();
        let reads =
            futures::future::join_all(categories.iter().map(|c| self.rest.tickers(*c, None))).await;
        let by_category: Vec<(
            Category,
            Result<(Vec<model::TickerRow>, Option<i64>), VenueError>,
        )> = categories.into_iter().zip(reads).collect();
        natives
            .iter()
            .map(|native| {
                let category = Category::for_symbol(native);
                let (_, read) = by_category
                    .iter()
                    .find(|(c, _)| *c == category)
                    .ok_or_else(|| VenueError::UnknownSymbol(native.clone()))?;
                let (rows, time) = read.as_ref().map_err(Clone::clone)?;
                let row = rows
                    .iter()
                    .find(|t| t.symbol == *native)
                    .ok_or_else(|| VenueError::UnknownSymbol(native.clone()))?;
                parse::quote(native, row, *time)
            })
            .collect()
    }

    async fn account_value(&self) -> Result<AccountValue, VenueError> {
        parse::account_value(&self.rest.wallet().await?)
    }

    async fn positions(&self) -> Result<Vec<Position>, VenueError> {
        let lists = futures::future::try_join_all(
            GROUPS
                .iter()
                .map(|(category, settle)| self.rest.positions(*category, *settle, None)),
        )
        .await?;
        let rows: Vec<model::PositionRow> = lists.into_iter().flatten().collect();
        self.remember_modes(&rows);
        parse::positions(&rows)
    }

    async fn open_orders(&self) -> Result<Vec<OpenOrder>, VenueError> {
        let lists = futures::future::try_join_all(
            GROUPS
                .iter()
                .map(|(category, settle)| self.rest.open_orders(*category, *settle)),
        )
        .await?;
        lists.iter().flatten().map(parse::open_order).collect()
    }

    async fn place_order(&self, request: &OrderRequest) -> Result<OrderAck, VenueError> {
        let native = request.native.as_str();
        let category = Category::for_symbol(native);
        let body = self.prepare(request).await?;
        let pushed = self.pushes();
        let created: serde_json::Value = match self
            .rest
            .post("/v5/order/create", &body, Some(category))
            .await
        {
            Ok(v) => v,
            Err(e) => {
                // The position mode changed under us: learn it again.
                if parse::is_position_mode_mismatch(&e) {
                    self.forget_mode(native);
                }
                return Err(e);
            }
        };
        let venue_id = created
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
                pushed,
            )
            .await)
    }

    /// Up to [`MAX_BATCH`] orders of one category per `create-batch` request. Each item keeps
    /// the single-order rules: a refused item is that order's refusal, an item the answer
    /// does not account for (or a batch whose answer is lost) is `Unknown` and is looked up by
    /// its client id, never sent again.
    async fn place_orders(&self, requests: &[OrderRequest]) -> Vec<Result<OrderAck, VenueError>> {
        if requests.len() <= 1 {
            let mut out = Vec::new();
            for r in requests {
                out.push(self.place_order(r).await);
            }
            return out;
        }
        let mut results: Vec<Option<Result<OrderAck, VenueError>>> =
            requests.iter().map(|_| None).collect();
        let mut ready: Vec<(usize, CreateOrder<'_>)> = Vec::new();
        for (i, request) in requests.iter().enumerate() {
            match self.prepare(request).await {
                Ok(body) => ready.push((i, body)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        for category in [Category::Linear, Category::Inverse] {
            let items: Vec<(usize, CreateOrder<'_>)> = ready
                .iter()
                .filter(|(_, b)| b.category == category.as_str())
                .map(|(i, b)| {
                    (
                        *i,
                        CreateOrder {
                            category: "",
                            symbol: b.symbol,
                            side: b.side,
                            order_type: b.order_type,
                            qty: b.qty.clone(),
                            price: b.price.clone(),
                            time_in_force: b.time_in_force,
                            reduce_only: b.reduce_only,
                            order_link_id: b.order_link_id,
                            position_idx: b.position_idx,
                        },
                    )
                })
                .collect();
            // Batches and single orders are metered in separate buckets of the same size:
            // what the batch bucket cannot take now goes out as single orders beside it.
            let singles = single_share(
                items.len(),
                self.rest.room("/v5/order/create-batch", category),
                self.rest.room("/v5/order/create", category),
            );
            let alone: Vec<usize> = items.iter().rev().take(singles).map(|(i, _)| *i).collect();
            let batched: Vec<(usize, CreateOrder<'_>)> = items
                .into_iter()
                .filter(|(i, _)| !alone.contains(i))
                .collect();
            let batches = async {
                let mut out = Vec::new();
                let mut batched = batched.into_iter().peekable();
                while batched.peek().is_some() {
                    let chunk: Vec<(usize, CreateOrder<'_>)> =
                        batched.by_ref().take(MAX_BATCH).collect();
                    let mut part: Vec<Option<Result<OrderAck, VenueError>>> =
                        requests.iter().map(|_| None).collect();
                    self.send_batch(category, chunk, requests, &mut part).await;
                    out.extend(
                        part.into_iter()
                            .enumerate()
                            .filter_map(|(i, r)| Some((i, r?))),
                    );
                }
                out
            };
            let single = futures::future::join_all(
                alone
                    .iter()
                    .map(|i| async move { (*i, self.place_order(&requests[*i]).await) }),
            );
            let (from_batches, from_singles) = tokio::join!(batches, single);
            for (i, r) in from_batches.into_iter().chain(from_singles) {
                results[i] = Some(r);
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(VenueError::Unknown(
                        "the batch ended without an answer for this order".into(),
                    ))
                })
            })
            .collect()
    }

    async fn order_by_client_id(
        &self,
        native: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderAck>, VenueError> {
        self.lookup(native, client_order_id).await
    }

    async fn cancel_order(&self, native: &str, client_order_id: &str) -> Result<(), VenueError> {
        let category = Category::for_symbol(native);
        let body = CancelOrder {
            category: category.as_str(),
            symbol: native,
            order_link_id: client_order_id,
        };
        let _: serde_json::Value = self
            .rest
            .post("/v5/order/cancel", &body, Some(category))
            .await?;
        Ok(())
    }

    async fn amend_order(
        &self,
        native: &str,
        client_order_id: &str,
        qty: Option<Decimal>,
        price: Option<Decimal>,
    ) -> Result<OrderAck, VenueError> {
        let category = Category::for_symbol(native);
        let inst = self.instrument(native).await?;
        let body = AmendOrder {
            category: category.as_str(),
            symbol: native,
            order_link_id: client_order_id,
            qty: qty.map(|q| wire_number(q, inst.lot)),
            price: price.map(|p| wire_number(p, inst.tick)),
        };
        let amended: serde_json::Value = self
            .rest
            .post("/v5/order/amend", &body, Some(category))
            .await?;
        let venue_id = amended
            .get("orderId")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        Ok(self
            .settle(native, client_order_id, venue_id, false, None)
            .await)
    }

    async fn set_leverage(&self, native: &str, leverage: Decimal) -> Result<(), VenueError> {
        let category = Category::for_symbol(native);
        if self.known_leverage(native).is_none() {
            // The rows by symbol say the leverage (and the position mode the order needs).
            self.learn_symbol(native, category).await?;
        }
        let lev = wire_leverage(leverage);
        let wanted = parse::opt_num(&lev);
        if wanted.is_some() && self.known_leverage(native) == wanted {
            return Ok(());
        }
        let body = SetLeverage {
            category: category.as_str(),
            symbol: native,
            buy_leverage: lev.clone(),
            sell_leverage: lev,
        };
        match self
            .rest
            .post::<_, serde_json::Value>("/v5/position/set-leverage", &body, Some(category))
            .await
        {
            // 110043 "Set leverage has not been modified": already at that leverage.
            Ok(_) => {}
            Err(VenueError::Rejected { code, .. }) if code == "110043" => {}
            Err(e) => return Err(e),
        }
        if let Some(l) = wanted {
            self.leverage
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(native.to_string(), l);
        }
        Ok(())
    }

    /// Margin mode is account-wide on a unified account. Cross is satisfied by regular and by
    /// portfolio margin (both cross), so a portfolio-margin account is never downgraded.
    async fn set_margin_mode(&self, _native: &str, mode: MarginMode) -> Result<(), VenueError> {
        let current = self.rest.account_info().await?.margin_mode;
        let wanted = match mode {
            MarginMode::Cross => "REGULAR_MARGIN",
            MarginMode::Isolated => "ISOLATED_MARGIN",
        };
        let satisfied = match mode {
            MarginMode::Cross => matches!(current.as_str(), "REGULAR_MARGIN" | "PORTFOLIO_MARGIN"),
            MarginMode::Isolated => current == "ISOLATED_MARGIN",
        };
        if satisfied {
            return Ok(());
        }
        let body = SetMarginMode {
            set_margin_mode: wanted,
        };
        match self
            .rest
            .post::<_, MarginModeResult>("/v5/account/set-margin-mode", &body, None)
            .await
        {
            Ok(r) if r.reasons.is_empty() => Ok(()),
            Ok(r) => Err(VenueError::rejected(
                RejectKind::Other,
                r.reasons
                    .first()
                    .map(|x| x.reason_code.clone())
                    .unwrap_or_default(),
                format!(
                    "bybit account \"{}\": margin mode {wanted} refused: {}",
                    self.account,
                    r.reasons
                        .iter()
                        .map(|x| x.reason_msg.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            )),
            // 110026 "Cross/isolated margin mode is not modified".
            Err(VenueError::Rejected { code, .. }) if code == "110026" => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn candles(
        &self,
        native: &str,
        interval_: CandleInterval,
        limit: u32,
    ) -> Result<Vec<Candle>, VenueError> {
        let category = Category::for_symbol(native);
        let rows = self
            .rest
            .kline(category, native, interval(interval_), limit)
            .await?;
        parse::candles(&rows)
    }

    fn subscribe(&self) -> Option<broadcast::Receiver<VenueEvent>> {
        let rx = self.events.subscribe();
        let mut stream = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        if stream.is_none() && tokio::runtime::Handle::try_current().is_ok() {
            let config = StreamConfig::new(format!("{}/bybit", self.account), stream::HEARTBEAT);
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
