use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `engine.json`: accounts, sources, server, risk, logging and cycle timing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// The JSON Schema an editor validates the file against; ignored by the engine.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub risk: RiskConfig,
    #[serde(default)]
    pub logging: LoggingConfig,
    #[serde(default)]
    pub cycle: CycleConfig,
    #[serde(default)]
    pub files: FilesConfig,
    /// Synthetic symbols: a unified symbol whose target is carried by legs on different
    /// accounts (e.g. BTCEUR = long BTCUSD on a crypto account, short EURUSD on an FX account).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub synthetics: BTreeMap<String, SyntheticConfig>,
}

/// One synthetic symbol; its name is weighted in signal_weights.json like any symbol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyntheticConfig {
    /// At least two; the first leg's account value and leverage size the synthetic.
    pub legs: Vec<SyntheticLeg>,
    /// How long the legs may stay unequal (one filled, another refused) before the filled
    /// leg is reduced back to the hedged amount.
    #[serde(default = "default_max_unhedged")]
    pub max_unhedged_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyntheticLeg {
    /// The account (engine.json `accounts[].name`) that carries this leg.
    pub account: String,
    /// The unified symbol the leg trades on that account.
    pub symbol: String,
    /// 1: the leg holds the synthetic's direction; -1: the opposite one.
    pub side: i64,
}

fn default_max_unhedged() -> u64 {
    60
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    pub name: String,
    pub venue: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Entry name in credentials.json; the sim venue needs none.
    #[serde(default)]
    pub credentials: Option<String>,
    #[serde(default)]
    pub rest_url: Option<String>,
    #[serde(default)]
    pub ws_url: Option<String>,
    #[serde(default)]
    pub testnet: bool,
    /// Deadline of one REST request; an order without an answer by then has an unknown
    /// outcome and is looked up by its client order id.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub leverage_override: Option<Decimal>,
    #[serde(default)]
    pub min_order_notional_usd: Decimal,
    #[serde(default = "default_max_concurrent_symbols")]
    pub max_concurrent_symbols: usize,
    /// Only reduce exposure on this account (e.g. while winding it down).
    #[serde(default)]
    pub close_only: bool,
    /// Plan and log every order without sending it.
    #[serde(default)]
    pub dry_run: bool,
    /// Unified symbol -> venue-native symbol, overriding the venue's default spelling.
    #[serde(default)]
    pub symbol_map: BTreeMap<String, String>,
    /// Parameters of the simulated venue (ignored by real venues).
    #[serde(default)]
    pub sim: Option<SimParams>,
    /// Venue-specific settings (margin mode, key version, …), validated by the venue's own
    /// folder through the venue registry.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The unified symbols this account trades; `None`: every weighted symbol its venue lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbols: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimParams {
    #[serde(default = "default_sim_seed")]
    pub seed: u64,
    #[serde(default = "default_sim_balance")]
    pub starting_balance_usd: Decimal,
    #[serde(default = "default_sim_slippage")]
    pub slippage_bps: Decimal,
    #[serde(default = "default_sim_fee")]
    pub fee_bps: Decimal,
    /// Standard deviation of the per-second random-walk step, in basis points.
    #[serde(default = "default_sim_volatility")]
    pub volatility_bps: Decimal,
}

impl Default for SimParams {
    fn default() -> Self {
        SimParams {
            seed: default_sim_seed(),
            starting_balance_usd: default_sim_balance(),
            slippage_bps: default_sim_slippage(),
            fee_bps: default_sim_fee(),
            volatility_bps: default_sim_volatility(),
        }
    }
}

/// A signal source. Its kind-specific fields stay in `params` and are read by the source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SourceConfig {
    pub name: String,
    pub kind: String,
    #[serde(flatten)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Connections served at once; more wait in the listen backlog, so idle clients cannot
    /// use up the process's file descriptors (keep it well below `LimitNOFILE=`).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Time a client gets to send a request's headers, counted from the connection's opening
    /// or the end of the previous answer, so it also closes idle keep-alive connections.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
    /// Time a request gets for its body and its answer; 408 after that.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    /// The credentials.json entry whose `api_key` is the token that enables control over HTTP
    /// (`POST /control/halt`, `/control/resume`); null (the default) leaves control off.
    #[serde(default)]
    pub control_token: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            control_token: None,
            max_connections: default_max_connections(),
            header_read_timeout_secs: default_header_read_timeout(),
            request_timeout_secs: default_request_timeout(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    #[serde(default = "default_max_leverage")]
    pub max_leverage: Decimal,
    #[serde(default)]
    pub max_symbol_notional_usd: Option<Decimal>,
    #[serde(default)]
    pub max_account_notional_usd: Option<Decimal>,
    /// File name in the state directory whose presence stops all new exposure.
    #[serde(default = "default_kill_switch")]
    pub kill_switch_file: String,
    /// A mark price older than this only allows reducing orders.
    #[serde(default = "default_max_price_age")]
    pub max_price_age_secs: u64,
    /// An account value older than this only allows reducing orders.
    #[serde(default = "default_max_price_age")]
    pub max_account_value_age_secs: u64,
    /// After a venue refuses new orders ("trading disabled", maintenance), the account is
    /// close-only for this long before opening is tried again; the wait doubles while the
    /// venue keeps refusing (at most 30 minutes).
    #[serde(default = "default_close_only_retry")]
    pub close_only_retry_secs: u64,
}

fn default_close_only_retry() -> u64 {
    60
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            max_leverage: default_max_leverage(),
            max_symbol_notional_usd: None,
            max_account_notional_usd: None,
            kill_switch_file: default_kill_switch(),
            max_price_age_secs: default_max_price_age(),
            max_account_value_age_secs: default_max_price_age(),
            close_only_retry_secs: default_close_only_retry(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    /// A tracing filter such as `info` or `trade_engine=debug`; when unset, `RUST_LOG` (else `info`).
    #[serde(default)]
    pub level: Option<String>,
    /// `json` or `pretty`; the `--log-format` flag wins when given.
    #[serde(default)]
    pub format: Option<String>,
    /// Also write JSON lines to rotating files: `/var/log/trade-engine/engine.log` becomes
    /// `engine.<date>.log` in that directory. A relative path is under the state directory.
    /// Read at start (a change needs a restart).
    #[serde(default)]
    pub file: Option<std::path::PathBuf>,
    /// When a new file starts: `daily` (default), `hourly` or `never`.
    #[serde(default)]
    pub rotation: LogRotation,
    /// Rotated files kept; older ones are deleted.
    #[serde(default = "default_keep_files")]
    pub keep_files: usize,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: None,
            format: None,
            file: None,
            rotation: LogRotation::default(),
            keep_files: default_keep_files(),
        }
    }
}

fn default_keep_files() -> usize {
    7
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogRotation {
    #[default]
    Daily,
    Hourly,
    Never,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CycleConfig {
    #[serde(default = "default_reconcile")]
    pub reconcile_interval_secs: u64,
    #[serde(default = "default_debounce")]
    pub debounce_ms: u64,
}

impl Default for CycleConfig {
    fn default() -> Self {
        CycleConfig {
            reconcile_interval_secs: default_reconcile(),
            debounce_ms: default_debounce(),
        }
    }
}

/// Names of the other files of the set, relative to the config directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    #[serde(default = "default_weights_file")]
    pub signal_weights: String,
    #[serde(default = "default_mapping_file")]
    pub asset_mapping: String,
    #[serde(default = "default_credentials_file")]
    pub credentials: String,
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            signal_weights: default_weights_file(),
            asset_mapping: default_mapping_file(),
            credentials: default_credentials_file(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_timeout_ms() -> u64 {
    10_000
}
fn default_max_concurrent_symbols() -> usize {
    10
}
fn default_listen() -> String {
    "127.0.0.1:8787".into()
}
fn default_max_connections() -> usize {
    256
}
fn default_header_read_timeout() -> u64 {
    10
}
fn default_request_timeout() -> u64 {
    30
}
fn default_max_leverage() -> Decimal {
    dec!(20)
}
/// The kill switch file name used when engine.json names none, and always honoured as well,
/// so that `halt` works even when engine.json cannot be read.
pub const DEFAULT_KILL_SWITCH: &str = "KILL";

/// Whether `name` names a file directly inside a directory (no path, not `.` or `..`).
pub fn plain_file_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '\\']) && name != "." && name != ".."
}

fn default_kill_switch() -> String {
    DEFAULT_KILL_SWITCH.into()
}
fn default_max_price_age() -> u64 {
    60
}
fn default_reconcile() -> u64 {
    30
}
fn default_debounce() -> u64 {
    100
}
fn default_weights_file() -> String {
    "signal_weights.json".into()
}
fn default_mapping_file() -> String {
    "asset_mapping.json".into()
}
fn default_credentials_file() -> String {
    "credentials.json".into()
}
fn default_sim_seed() -> u64 {
    42
}
fn default_sim_balance() -> Decimal {
    dec!(10000)
}
fn default_sim_slippage() -> Decimal {
    dec!(2)
}
fn default_sim_fee() -> Decimal {
    dec!(5.5)
}
fn default_sim_volatility() -> Decimal {
    dec!(5)
}
