use super::{Checks, ConfigError, ConfigFile, ConfigSet};
use crate::input::excerpt;
use rust_decimal::Decimal;
use std::collections::BTreeSet;

/// A shorter control token could be guessed by whoever reaches the port.
const MIN_CONTROL_TOKEN_CHARS: usize = 16;

/// Checks the set as a whole; the first problem found is returned, phrased with file and path.
pub(super) fn validate(mut set: ConfigSet, checks: &Checks) -> Result<ConfigSet, ConfigError> {
    let engine_file = set.path_of(ConfigFile::Engine);
    let weights_file = set.path_of(ConfigFile::Weights);
    let mapping_file = set.path_of(ConfigFile::Mapping);
    let e = &set.engine;

    let risk = &e.risk;
    if risk.max_leverage < Decimal::ONE {
        return Err(ConfigError::invalid(
            &engine_file,
            "risk.max_leverage",
            format!("{} is below 1", risk.max_leverage),
            "a number >= 1",
        ));
    }
    for (field, value) in [
        ("risk.max_symbol_notional_usd", risk.max_symbol_notional_usd),
        (
            "risk.max_account_notional_usd",
            risk.max_account_notional_usd,
        ),
    ] {
        if let Some(v) = value {
            if v < Decimal::ZERO {
                return Err(ConfigError::invalid(
                    &engine_file,
                    field,
                    format!("{v} is negative"),
                    "null or a number >= 0",
                ));
            }
        }
    }
    if !crate::config::engine::plain_file_name(&risk.kill_switch_file) {
        return Err(ConfigError::invalid(
            &engine_file,
            "risk.kill_switch_file",
            format!(
                "{} is not a plain file name",
                excerpt(&risk.kill_switch_file)
            ),
            "a file name inside the state directory, such as \"KILL\"",
        ));
    }
    if e.cycle.reconcile_interval_secs == 0 {
        return Err(ConfigError::invalid(
            &engine_file,
            "cycle.reconcile_interval_secs",
            "0 would reconcile in a busy loop",
            "a number of seconds >= 1",
        ));
    }
    if let Some(name) = &e.server.control_token {
        let key_len = set
            .credentials
            .get(name)
            .and_then(|c| c.api_key.as_ref())
            .map(|k| k.expose().chars().count());
        if key_len.is_none_or(|n| n < MIN_CONTROL_TOKEN_CHARS) {
            return Err(ConfigError::invalid(
                &engine_file,
                "server.control_token",
                format!(
                    "credentials.json has no entry {} with an api_key of at least \
                     {MIN_CONTROL_TOKEN_CHARS} characters",
                    excerpt(name)
                ),
                "the name of a credentials.json entry whose api_key is the control token, or null",
            ));
        }
    }
    if e.server.listen.parse::<std::net::SocketAddr>().is_err() {
        return Err(ConfigError::invalid(
            &engine_file,
            "server.listen",
            format!("{} is not an address", excerpt(&e.server.listen)),
            "host:port such as \"127.0.0.1:8787\"",
        ));
    }
    for (field, value) in [
        ("server.max_connections", e.server.max_connections as u64),
        (
            "server.header_read_timeout_secs",
            e.server.header_read_timeout_secs,
        ),
        ("server.request_timeout_secs", e.server.request_timeout_secs),
    ] {
        if value == 0 {
            return Err(ConfigError::invalid(
                &engine_file,
                field,
                "0 would refuse every request",
                "a number >= 1",
            ));
        }
    }

    if e.logging.file.is_some() && e.logging.keep_files == 0 {
        return Err(ConfigError::invalid(
            &engine_file,
            "logging.keep_files",
            "0 would delete every log file as soon as it rotates",
            "a number >= 1 (default 7)",
        ));
    }
    if let Some(format) = &e.logging.format {
        if !matches!(format.as_str(), "json" | "pretty") {
            return Err(ConfigError::invalid(
                &engine_file,
                "logging.format",
                format!("{} is not a log format", excerpt(format)),
                "\"json\", \"pretty\" or null",
            ));
        }
    }

    let mut names = BTreeSet::new();
    let mut account_warnings = Vec::new();
    for (i, a) in e.accounts.iter().enumerate() {
        let at = |field: &str| format!("accounts[{i}].{field}");
        if a.name.is_empty()
            || a.name.len() > 64
            || !a
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ConfigError::invalid(
                &engine_file,
                at("name"),
                format!("account name {} is not usable", excerpt(&a.name)),
                "letters, digits, '_' or '-', at most 64",
            ));
        }
        if !names.insert(a.name.to_ascii_lowercase()) {
            return Err(ConfigError::invalid(
                &engine_file,
                at("name"),
                format!("account \"{}\" is defined twice", a.name),
                "unique account names (case-insensitive)",
            ));
        }
        if a.max_concurrent_symbols == 0 {
            return Err(ConfigError::invalid(
                &engine_file,
                at("max_concurrent_symbols"),
                "0 would never trade",
                "a number >= 1",
            ));
        }
        if let Some(l) = a.leverage_override {
            if l < Decimal::ONE || l > risk.max_leverage {
                return Err(ConfigError::invalid(
                    &engine_file,
                    at("leverage_override"),
                    format!("leverage {l} is outside 1..={}", risk.max_leverage),
                    "null or a leverage between 1 and risk.max_leverage",
                ));
            }
        }
        if !(100..=120_000).contains(&a.timeout_ms) {
            return Err(ConfigError::invalid(
                &engine_file,
                at("timeout_ms"),
                format!("{} ms is not a usable request deadline", a.timeout_ms),
                "a deadline between 100 and 120000 ms",
            ));
        }
        if a.min_order_notional_usd < Decimal::ZERO {
            return Err(ConfigError::invalid(
                &engine_file,
                at("min_order_notional_usd"),
                format!("{} is negative", a.min_order_notional_usd),
                "a number >= 0",
            ));
        }
        for (field, url) in [("rest_url", &a.rest_url), ("ws_url", &a.ws_url)] {
            if let Some(u) = url {
                if url::Url::parse(u).is_err() {
                    return Err(ConfigError::invalid(
                        &engine_file,
                        at(field),
                        format!("{} is not a URL", excerpt(u)),
                        "an absolute URL such as https://api.example.com",
                    ));
                }
            }
        }
        if let Some(list) = &a.symbols {
            let mut seen = BTreeSet::new();
            for (j, sym) in list.iter().enumerate() {
                if sym.trim().is_empty() || !seen.insert(sym.to_ascii_uppercase()) {
                    return Err(ConfigError::invalid(
                        &engine_file,
                        at(&format!("symbols[{j}]")),
                        format!("symbol {} is empty or listed twice", excerpt(sym)),
                        "unified symbols such as BTCUSDT, each once",
                    ));
                }
                if !set
                    .weights
                    .0
                    .iter()
                    .any(|w| w.symbol.eq_ignore_ascii_case(sym))
                {
                    account_warnings.push(format!(
                        "account \"{}\": symbols lists {} but signal_weights.json does not weight it; nothing is traded there",
                        a.name,
                        excerpt(sym)
                    ));
                }
            }
        }
        // The account's venue, its params and the credential fields it needs are the venue
        // registry's business (see `Checks`).
        match (checks.account)(a, &set.credentials) {
            Ok(warnings) => account_warnings.extend(warnings),
            Err(p) => {
                let (file, path) = match p.file {
                    ConfigFile::Engine => (engine_file.clone(), at(&p.path)),
                    other => (set.path_of(other), p.path),
                };
                return Err(ConfigError::invalid(file, path, p.problem, p.expected));
            }
        }
    }
    set.warnings.extend(account_warnings);

    let mut source_names = BTreeSet::new();
    for (i, s) in e.sources.iter().enumerate() {
        if s.name.is_empty() || !source_names.insert(s.name.to_ascii_lowercase()) {
            return Err(ConfigError::invalid(
                &engine_file,
                format!("sources[{i}].name"),
                format!("source name {} is empty or used twice", excerpt(&s.name)),
                "a unique name per source",
            ));
        }
        if let Err(problem) = (checks.source)(s, &set.credentials) {
            return Err(ConfigError::invalid(
                &engine_file,
                format!("sources[{i}]"),
                format!("source {}: {}", excerpt(&s.name), problem.problem),
                problem.expected,
            ));
        }
    }

    let mut symbols = BTreeSet::new();
    let mut warnings = Vec::new();
    for (i, w) in set.weights.0.iter().enumerate() {
        let at = |field: &str| format!("[{i}].{field}");
        if w.symbol.trim().is_empty() {
            return Err(ConfigError::invalid(
                &weights_file,
                at("symbol"),
                "empty symbol",
                "a unified symbol such as BTCUSDT",
            ));
        }
        let ticker = w.symbol.trim();
        if ticker.len() > 40
            || !ticker
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:/-!".contains(c))
        {
            return Err(ConfigError::invalid(
                &weights_file,
                at("symbol"),
                format!("{} is not a ticker", excerpt(&w.symbol)),
                "a unified symbol such as BTCUSDT (letters, digits and . _ : / - !, at most 40)",
            ));
        }
        if !symbols.insert(w.symbol.to_ascii_uppercase()) {
            return Err(ConfigError::invalid(
                &weights_file,
                at("symbol"),
                format!("{} is listed twice", excerpt(&w.symbol)),
                "each symbol once",
            ));
        }
        if w.leverage < Decimal::ONE {
            return Err(ConfigError::invalid(
                &weights_file,
                at("leverage"),
                format!("leverage {} for {} is below 1", w.leverage, w.symbol),
                "a leverage >= 1",
            ));
        }
        if w.leverage > risk.max_leverage {
            return Err(ConfigError::invalid(
                &weights_file,
                at("leverage"),
                format!(
                    "leverage {} for {} is above risk.max_leverage {}",
                    w.leverage, w.symbol, risk.max_leverage
                ),
                "a leverage <= risk.max_leverage in engine.json",
            ));
        }
        for (j, s) in w.sources.iter().enumerate() {
            if s.weight < Decimal::ZERO || s.weight > Decimal::ONE {
                return Err(ConfigError::invalid(
                    &weights_file,
                    format!("[{i}].sources[{j}].weight"),
                    format!(
                        "weight {} of {} for {} is outside 0..=1",
                        s.weight,
                        excerpt(&s.source),
                        w.symbol
                    ),
                    "a weight between 0 and 1",
                ));
            }
            if s.weight > Decimal::ZERO && !source_names.contains(&s.source.to_ascii_lowercase()) {
                warnings.push(format!(
                    "{}: {} gives weight {} to source {}, which engine.json does not define; it counts as depth 0",
                    weights_file.display(),
                    w.symbol,
                    s.weight,
                    excerpt(&s.source)
                ));
            }
        }
        let sum = w.weight_sum();
        if sum > Decimal::ONE {
            return Err(ConfigError::invalid(
                &weights_file,
                at("sources"),
                format!("weights for {} sum to {} > 1", w.symbol, sum.normalize()),
                "weights that sum to at most 1",
            ));
        }
    }

    for (source, section) in &set.mapping.0 {
        let mut spellings = BTreeSet::new();
        for (from, to) in section {
            let at = format!("{}.{}", excerpt(source), excerpt(from));
            if to.trim().is_empty() {
                return Err(ConfigError::invalid(
                    &mapping_file,
                    at,
                    "maps to an empty symbol",
                    "a unified symbol such as BTCUSDT",
                ));
            }
            if !spellings.insert(from.trim().to_ascii_uppercase()) {
                return Err(ConfigError::invalid(
                    &mapping_file,
                    at,
                    format!(
                        "{} is listed twice in the section (symbols are case-insensitive)",
                        excerpt(from)
                    ),
                    "each source symbol once per section",
                ));
            }
        }
        if !source_names.contains(&source.to_ascii_lowercase()) {
            warnings.push(format!(
                "{}: section {} names no source of engine.json; it maps nothing",
                mapping_file.display(),
                excerpt(source)
            ));
        }
    }

    set.warnings.extend(warnings);
    let synthetic_warnings = super::validate_synthetics::validate(&set)?;
    set.warnings.extend(synthetic_warnings);
    Ok(set)
}
