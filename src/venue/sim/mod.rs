//! `sim`: an in-process simulated exchange, the default venue of the example config, so the
//! daemon trades on any machine without credentials or network.
//!
//! Its folder differs from the real venues' (no auth/rest/stream): `market.rs` is the price
//! walk, `book.rs` the account and matching, this file the `Venue` impl and persistence.

mod book;
mod market;

use crate::config::{AccountConfig, Credential, SimParams};
use crate::domain::{
    AccountValue, Candle, ContractKind, Instrument, OpenOrder, OrderAck, OrderRequest, OrderStatus,
    Position, Quote, Symbol,
};
use crate::state::{atomic_write_json, read_json};
use crate::venue::registry::no_params;
use crate::venue::registry::VenueKind;
use crate::venue::{CandleInterval, MarginMode, RejectKind, Venue, VenueError};
use async_trait::async_trait;
use book::{Book, Costs};
use chrono::{TimeZone, Utc};
use market::Walk;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;

pub const KIND: VenueKind = VenueKind {
    name: "sim",
    title: "built-in simulated venue (no network, no credentials)",
    credentials: &[],
    // The sim's settings live in the account's `sim` block.
    params: no_params,
    build: Some(build),
};

fn build(
    account: &AccountConfig,
    _credential: Option<&Credential>,
    state_dir: &Path,
) -> Result<Arc<dyn Venue>, VenueError> {
    Ok(Arc::new(SimVenue::open(
        &account.name,
        account.sim.clone().unwrap_or_default(),
        state_dir,
    )?))
}

/// (symbol, tick, lot, starting price)
const MARKETS: [(&str, Decimal, Decimal, Decimal); 5] = [
    ("BTCUSDT", dec!(0.1), dec!(0.001), dec!(60000)),
    ("ETHUSDT", dec!(0.01), dec!(0.01), dec!(3000)),
    ("SOLUSDT", dec!(0.001), dec!(0.1), dec!(150)),
    ("XRPUSDT", dec!(0.0001), dec!(1), dec!(0.6)),
    ("DOGEUSDT", dec!(0.00001), dec!(10), dec!(0.15)),
];

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct SimFile {
    book: Book,
    walks: BTreeMap<String, Walk>,
}

pub struct SimVenue {
    params: SimParams,
    path: PathBuf,
    state: Mutex<Loaded>,
}

/// The in-memory copy and the file version it came from: another process (`trade-engine
/// flatten`) may trade the same simulated account, so a changed file is re-read first.
struct Loaded {
    file: SimFile,
    modified: Option<std::time::SystemTime>,
}

impl SimVenue {
    /// Opens (or creates) the simulated account `account`, persisted in the state directory.
    pub fn open(
        account: &str,
        params: SimParams,
        state_dir: &Path,
    ) -> Result<SimVenue, VenueError> {
        let path = state_dir.join("sim").join(format!("{account}.json"));
        let file = match read_json::<SimFile>(&path) {
            Ok(Some(file)) => file,
            Ok(None) => SimFile {
                book: Book {
                    balance_usd: params.starting_balance_usd,
                    ..Default::default()
                },
                walks: BTreeMap::new(),
            },
            Err(e) => return Err(VenueError::Local(e.to_string())),
        };
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        Ok(SimVenue {
            params,
            path,
            state: Mutex::new(Loaded { file, modified }),
        })
    }

    fn market(
        native: &str,
    ) -> Result<&'static (&'static str, Decimal, Decimal, Decimal), VenueError> {
        MARKETS
            .iter()
            .find(|m| m.0 == native)
            .ok_or_else(|| VenueError::UnknownSymbol(native.to_string()))
    }

    fn lock(&self) -> SimGuard<'_> {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if modified.is_some() && modified != guard.modified {
            if let Ok(Some(file)) = read_json::<SimFile>(&self.path) {
                guard.file = file;
                guard.modified = modified;
            }
        }
        SimGuard { guard }
    }

    /// Advances the walk of `native` to now and returns the mark.
    fn mark(&self, file: &mut SimFile, native: &str) -> Result<Decimal, VenueError> {
        let market = Self::market(native)?;
        let now = Utc::now().timestamp();
        let walk = file.walks.entry(native.to_string()).or_insert(Walk {
            price: market.3,
            second: now,
        });
        Ok(walk.advance(
            self.params.seed,
            market::salt(native),
            self.params.volatility_bps,
            now,
        ))
    }

    /// Balance plus the unrealised PnL of every position at its mark.
    fn equity(&self, file: &mut SimFile) -> Result<Decimal, VenueError> {
        let natives: Vec<String> = file.book.positions.keys().cloned().collect();
        let mut equity = file.book.balance_usd;
        for native in natives {
            let mark = self.mark(file, &native)?;
            equity += file.book.unrealised(&native, mark, Decimal::ONE);
        }
        Ok(equity)
    }

    fn persist(&self, file: &mut SimGuard<'_>) -> Result<(), VenueError> {
        atomic_write_json(&self.path, &file.guard.file)
            .map_err(|e| VenueError::Local(e.to_string()))?;
        file.guard.modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        Ok(())
    }
}

struct SimGuard<'a> {
    guard: std::sync::MutexGuard<'a, Loaded>,
}

impl std::ops::Deref for SimGuard<'_> {
    type Target = SimFile;
    fn deref(&self) -> &SimFile {
        &self.guard.file
    }
}

impl std::ops::DerefMut for SimGuard<'_> {
    fn deref_mut(&mut self) -> &mut SimFile {
        &mut self.guard.file
    }
}

#[async_trait]
impl Venue for SimVenue {
    fn kind(&self) -> &'static str {
        "sim"
    }

    fn native_symbol(&self, symbol: &Symbol) -> String {
        symbol.as_str().to_string()
    }

    async fn instrument(&self, native: &str) -> Result<Instrument, VenueError> {
        let (name, tick, lot, _) = *Self::market(native)?;
        Ok(Instrument {
            symbol: Symbol::new(name),
            native: name.to_string(),
            kind: ContractKind::Linear,
            tick,
            lot,
            min_qty: lot,
            max_qty: None,
            contract_value: Decimal::ONE,
            min_notional_usd: dec!(1),
            max_leverage: Some(dec!(50)),
        })
    }

    async fn quote(&self, native: &str) -> Result<Quote, VenueError> {
        let mut file = self.lock();
        let mark = self.mark(&mut file, native)?;
        Ok(Quote {
            native: native.to_string(),
            mark,
            quote_to_usd: Decimal::ONE,
            at: Utc::now(),
        })
    }

    async fn account_value(&self) -> Result<AccountValue, VenueError> {
        let mut file = self.lock();
        let equity = self.equity(&mut file)?;
        let available = (equity - file.book.margin_in_use(Decimal::ONE)).max(Decimal::ZERO);
        Ok(AccountValue {
            equity_usd: equity.round_dp(8),
            available_usd: Some(available.round_dp(8)),
            at: Utc::now(),
        })
    }

    async fn positions(&self) -> Result<Vec<Position>, VenueError> {
        let file = self.lock();
        Ok(file
            .book
            .positions
            .iter()
            .map(|(native, p)| Position {
                native: native.clone(),
                qty: p.qty,
                entry_price: Some(p.entry),
            })
            .collect())
    }

    async fn open_orders(&self) -> Result<Vec<OpenOrder>, VenueError> {
        let file = self.lock();
        Ok(file
            .book
            .orders
            .values()
            .filter(|o| !o.ack.status.is_terminal())
            .map(|o| OpenOrder {
                native: o.request.native.clone(),
                venue_order_id: o.ack.venue_order_id.clone(),
                client_order_id: Some(o.request.client_order_id.clone()),
                side: o.request.side,
                qty: o.request.qty,
                remaining: o.request.qty - o.ack.filled_qty,
                price: o.request.price,
                reduce_only: o.request.reduce_only,
            })
            .collect())
    }

    async fn place_order(&self, request: &OrderRequest) -> Result<OrderAck, VenueError> {
        let mut file = self.lock();
        let mark = self.mark(&mut file, &request.native)?;
        let costs = Costs {
            slippage_bps: self.params.slippage_bps,
            fee_bps: self.params.fee_bps,
        };
        let equity = self.equity(&mut file)?;
        file.book
            .check_margin(request, mark, Decimal::ONE, equity)?;
        let ack = file.book.execute(request, mark, Decimal::ONE, &costs)?;
        self.persist(&mut file)?;
        Ok(ack)
    }

    async fn order_by_client_id(
        &self,
        _native: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderAck>, VenueError> {
        Ok(self
            .lock()
            .book
            .orders
            .get(client_order_id)
            .map(|o| o.ack.clone()))
    }

    async fn cancel_order(&self, _native: &str, client_order_id: &str) -> Result<(), VenueError> {
        let mut file = self.lock();
        let Some(order) = file.book.orders.get_mut(client_order_id) else {
            return Err(VenueError::rejected(
                RejectKind::OrderNotFound,
                "order_not_found",
                format!("no order {client_order_id}"),
            ));
        };
        if order.ack.status.is_terminal() {
            return Err(VenueError::rejected(
                RejectKind::OrderNotFound,
                "order_finished",
                format!("order {client_order_id} is already {}", order.ack.status),
            ));
        }
        order.ack.status = OrderStatus::Cancelled;
        self.persist(&mut file)
    }

    async fn amend_order(
        &self,
        _native: &str,
        client_order_id: &str,
        qty: Option<Decimal>,
        price: Option<Decimal>,
    ) -> Result<OrderAck, VenueError> {
        let mut file = self.lock();
        let Some(order) = file.book.orders.get_mut(client_order_id) else {
            return Err(VenueError::rejected(
                RejectKind::OrderNotFound,
                "order_not_found",
                format!("no order {client_order_id}"),
            ));
        };
        if order.ack.status.is_terminal() {
            return Err(VenueError::rejected(
                RejectKind::OrderNotFound,
                "order_finished",
                format!("order {client_order_id} is already {}", order.ack.status),
            ));
        }
        if let Some(q) = qty {
            order.request.qty = q;
        }
        if price.is_some() {
            order.request.price = price;
        }
        let ack = order.ack.clone();
        self.persist(&mut file)?;
        Ok(ack)
    }

    async fn set_leverage(&self, native: &str, leverage: Decimal) -> Result<(), VenueError> {
        Self::market(native)?;
        let mut file = self.lock();
        if file.book.leverage.get(native) == Some(&leverage) {
            return Ok(());
        }
        file.book.leverage.insert(native.to_string(), leverage);
        self.persist(&mut file)
    }

    async fn set_margin_mode(&self, native: &str, _mode: MarginMode) -> Result<(), VenueError> {
        Self::market(native).map(|_| ())
    }

    async fn candles(
        &self,
        native: &str,
        interval: CandleInterval,
        limit: u32,
    ) -> Result<Vec<Candle>, VenueError> {
        // A flat history ending at the current mark: the sim has no stored trades.
        let mark = self.quote(native).await?.mark;
        let step = interval.seconds();
        let now = Utc::now().timestamp();
        let last_open = now - now.rem_euclid(step);
        Ok((0..limit as i64)
            .rev()
            .filter_map(|k| Utc.timestamp_opt(last_open - k * step, 0).single())
            .map(|open_time| Candle {
                open_time,
                open: mark,
                high: mark,
                low: mark,
                close: mark,
                volume: Decimal::ZERO,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderKind, Side};

    #[tokio::test]
    async fn positions_and_balance_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let params = SimParams::default();
        {
            let sim = SimVenue::open("a", params.clone(), dir.path()).unwrap();
            sim.place_order(&OrderRequest {
                client_order_id: "c1".into(),
                native: "ETHUSDT".into(),
                side: Side::Sell,
                qty: dec!(0.5),
                kind: OrderKind::Market,
                price: None,
                reduce_only: false,
                leverage: None,
                margin_mode: None,
            })
            .await
            .unwrap();
        }
        let sim = SimVenue::open("a", params, dir.path()).unwrap();
        let positions = sim.positions().await.unwrap();
        assert_eq!(positions.len(), 1);
        assert_eq!(positions[0].qty, dec!(-0.5));
        assert!(sim
            .order_by_client_id("ETHUSDT", "c1")
            .await
            .unwrap()
            .is_some());
        let value = sim.account_value().await.unwrap();
        assert!(value.equity_usd < dec!(10000) + dec!(100));
        assert!(value.equity_usd > dec!(9000));
    }

    #[tokio::test]
    async fn unknown_symbol_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let sim = SimVenue::open("a", SimParams::default(), dir.path()).unwrap();
        assert!(matches!(
            sim.quote("NOPEUSDT").await,
            Err(VenueError::UnknownSymbol(_))
        ));
    }
}
