//! Turning flag text into values: clap value parsers (their messages are
//! prefixed with the flag's name by clap), AIPerf's list and `key:value`
//! syntax, `--url` into a [`Target`], the AIPerf options audioperf refuses by
//! name, and the command line as typed (for the console and exports).

use serde_json::{Map, Value};

use crate::config::{
    ArrivalPattern, CpuList, ExportLevel, FlagError, RxStamps, Scheme, Target, TlsRoots, UiType,
    ZeroCopy, MAX_READ_BATCH_US,
};

// ---------------------------------------------------------------------------
// Value parsers: clap prefixes their messages with the flag's name.
// ---------------------------------------------------------------------------

fn parse_f64(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number"))?;
    if v.is_nan() {
        return Err(format!("'{s}' is not a number"));
    }
    Ok(v)
}

pub(super) fn parse_positive_f64(s: &str) -> Result<f64, String> {
    let v = parse_f64(s)?;
    if v > 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{s} is out of range; allowed: a finite number > 0"))
    }
}

pub(super) fn parse_non_negative_f64(s: &str) -> Result<f64, String> {
    let v = parse_f64(s)?;
    // `inf` is allowed on purpose: AIPerf documents `--benchmark-grace-period inf`.
    if v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("{s} is out of range; allowed: a number >= 0"))
    }
}

pub(super) fn parse_percentage(s: &str) -> Result<f64, String> {
    let v = parse_f64(s)?;
    if v > 0.0 && v <= 100.0 {
        Ok(v)
    } else {
        Err(format!(
            "{s} is out of range; allowed: a percentage > 0 and <= 100"
        ))
    }
}

fn parse_int<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    let t = s.trim();
    if t.contains(',') {
        // AIPerf turns a list here into a parameter sweep; audioperf runs one point.
        return Err(format!(
            "'{s}' is a list; parameter sweeps are not supported by audioperf, pass one value"
        ));
    }
    t.parse().map_err(|_| {
        let digits = t.strip_prefix('-').unwrap_or(t);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            format!("'{s}' is not a whole number >= 0")
        } else if t.starts_with('-') {
            format!("'{s}' is negative; allowed: a whole number >= 0")
        } else {
            format!("'{s}' is too large; allowed: at most {}", max_of::<T>())
        }
    })
}

/// The largest value of an unsigned integer type, found by parsing (the
/// types here are u32 and u64).
fn max_of<T: std::str::FromStr>() -> u64 {
    if u32::MAX.to_string().parse::<T>().is_ok() && u64::MAX.to_string().parse::<T>().is_err() {
        u64::from(u32::MAX)
    } else {
        u64::MAX
    }
}

pub(super) fn parse_u32(s: &str) -> Result<u32, String> {
    parse_int(s)
}

pub(super) fn parse_seed(s: &str) -> Result<u64, String> {
    parse_int(s)
}

pub(super) fn parse_positive_u32(s: &str) -> Result<u32, String> {
    match parse_int::<u32>(s)? {
        0 => Err("0 is out of range; allowed: a whole number >= 1".into()),
        v => Ok(v),
    }
}

pub(super) fn parse_positive_u64(s: &str) -> Result<u64, String> {
    match parse_int::<u64>(s)? {
        0 => Err("0 is out of range; allowed: a whole number >= 1".into()),
        v => Ok(v),
    }
}

pub(super) fn parse_positive_usize(s: &str) -> Result<usize, String> {
    match parse_int::<usize>(s)? {
        0 => Err("0 is out of range; allowed: a whole number >= 1".into()),
        v => Ok(v),
    }
}

/// AIPerf 0.13 `profile` options audioperf does not implement. Named here so
/// a command line using one gets a clear refusal instead of clap's bare
/// "unexpected argument".
pub const UNSUPPORTED_AIPERF_FLAGS: &[&str] = &[
    "--export-outputs-json",
    "--warmup-duration",
    "--warmup-concurrency",
    "--warmup-request-rate",
    "--num-warmup-sessions",
    "--warmup-grace-period",
    "--model-selection-strategy",
    "--dataset-sampling-strategy",
    "--conversation-turn-mean",
    "--conversation-turn-stddev",
    "--conversation-turn-delay-mean",
    "--system-prompt",
    "--shared-system-prompt-length",
    "--concurrency-ramp-duration",
    "--request-rate-ramp-duration",
    "--prefill-concurrency",
    "--wait-for-model-timeout",
    "--gpu-telemetry",
    "--fixed-schedule",
    "--config",
];

/// The first AIPerf option in `args` that audioperf does not implement, with
/// a message saying so.
pub fn unsupported_aiperf_flag(args: &[String]) -> Option<String> {
    args.iter().find_map(|a| {
        let name = a.split('=').next().unwrap_or(a);
        (UNSUPPORTED_AIPERF_FLAGS.contains(&name) || name == "-f").then(|| {
            format!(
                "{name} is an AIPerf option that audioperf does not support; see `audioperf profile --help` for the options it has"
            )
        })
    })
}

/// AIPerf matches enum values case-insensitively with `-` and `_` alike.
pub(super) fn normalize_choice(s: &str) -> String {
    s.trim().to_ascii_lowercase().replace('_', "-")
}

pub(super) fn parse_arrival_pattern(s: &str) -> Result<ArrivalPattern, String> {
    match normalize_choice(s).as_str() {
        "constant" => Ok(ArrivalPattern::Constant),
        "poisson" => Ok(ArrivalPattern::Poisson),
        "gamma" => Ok(ArrivalPattern::Gamma),
        "concurrency-burst" => Err(
            "'concurrency-burst' is not supported by audioperf; allowed: constant, poisson, gamma"
                .into(),
        ),
        _ => Err(format!(
            "'{s}' is not an arrival pattern; allowed: constant, poisson, gamma"
        )),
    }
}

pub(super) fn parse_ui_type(s: &str) -> Result<UiType, String> {
    match normalize_choice(s).as_str() {
        "none" => Ok(UiType::None),
        "simple" => Ok(UiType::Simple),
        "dashboard" => Ok(UiType::Dashboard),
        _ => Err(format!(
            "'{s}' is not a UI type; allowed: none, simple, dashboard"
        )),
    }
}

pub(super) fn parse_zero_copy(s: &str) -> Result<ZeroCopy, String> {
    match normalize_choice(s).as_str() {
        "auto" => Ok(ZeroCopy::Auto),
        "on" => Ok(ZeroCopy::On),
        "off" => Ok(ZeroCopy::Off),
        _ => Err(format!(
            "'{s}' is not a zero-copy mode; allowed: auto, on, off"
        )),
    }
}

pub(super) fn parse_rx_stamps(s: &str) -> Result<RxStamps, String> {
    match normalize_choice(s).as_str() {
        "kernel" => Ok(RxStamps::Kernel),
        "user" => Ok(RxStamps::User),
        _ => Err(format!(
            "'{s}' is not a stamp source; allowed: kernel, user"
        )),
    }
}

/// `--read-batch-us`: 0 (off) to [`MAX_READ_BATCH_US`]. A longer window
/// would let tokens of one stream merge under one stamp by as much.
pub(super) fn parse_read_batch_us(s: &str) -> Result<u32, String> {
    match parse_int::<u32>(s)? {
        v if v <= MAX_READ_BATCH_US => Ok(v),
        _ => Err(format!(
            "{s} is out of range; allowed: 0 (off) to {MAX_READ_BATCH_US} microseconds"
        )),
    }
}

/// Largest core number `--cpus` accepts (Linux's CONFIG_NR_CPUS maximum).
const MAX_CPU: usize = 8191;

/// `--cpus`: core numbers and inclusive ranges, comma-separated (`0-3,6`),
/// as `taskset -c` takes them; each core once.
pub(super) fn parse_cpu_list(s: &str) -> Result<CpuList, String> {
    let mut cpus: Vec<usize> = Vec::new();
    let num = |t: &str| -> Result<usize, String> {
        let t = t.trim();
        match t.parse::<usize>() {
            Ok(v) if v <= MAX_CPU => Ok(v),
            _ => Err(format!(
                "'{t}' is not a core number; allowed: 0 to {MAX_CPU}, as in --cpus 0-3,6"
            )),
        }
    };
    for part in s.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let v = num(part)?;
                (v, v)
            }
        };
        if lo > hi {
            return Err(format!(
                "'{}' is an empty range; write low-high",
                part.trim()
            ));
        }
        for c in lo..=hi {
            if cpus.contains(&c) {
                return Err(format!("core {c} is listed twice"));
            }
            cpus.push(c);
        }
    }
    Ok(CpuList(cpus))
}

pub(super) fn parse_export_level(s: &str) -> Result<ExportLevel, String> {
    match normalize_choice(s).as_str() {
        "summary" => Ok(ExportLevel::Summary),
        "records" => Ok(ExportLevel::Records),
        "raw" => Ok(ExportLevel::Raw),
        _ => Err(format!(
            "'{s}' is not an export level; allowed: summary, records, raw"
        )),
    }
}

/// A ratio in [0, 1] (`--failed-request-threshold`).
pub(super) fn parse_ratio(s: &str) -> Result<f64, String> {
    let v = parse_f64(s)?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "{s} is out of range; allowed: a ratio >= 0 and <= 1"
        ))
    }
}

pub(super) fn parse_tls_roots(s: &str) -> Result<TlsRoots, String> {
    match normalize_choice(s).as_str() {
        "webpki" => Ok(TlsRoots::Webpki),
        "system" => Ok(TlsRoots::System),
        "both" => Ok(TlsRoots::Both),
        _ => Err(format!(
            "'{s}' is not a root store; allowed: webpki, system, both"
        )),
    }
}

/// `--log-level`: AIPerf's levels (accepted for compatibility; audioperf
/// only records the level in `input_config`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Notice,
    Warning,
    Success,
    Error,
    Critical,
}

impl LogLevel {
    const ALL: [LogLevel; 8] = [
        LogLevel::Trace,
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Notice,
        LogLevel::Warning,
        LogLevel::Success,
        LogLevel::Error,
        LogLevel::Critical,
    ];

    /// AIPerf's spelling (upper case), as exported.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Notice => "NOTICE",
            LogLevel::Warning => "WARNING",
            LogLevel::Success => "SUCCESS",
            LogLevel::Error => "ERROR",
            LogLevel::Critical => "CRITICAL",
        }
    }
}

pub(super) fn parse_log_level(s: &str) -> Result<LogLevel, String> {
    let up = s.trim().to_ascii_uppercase();
    LogLevel::ALL
        .into_iter()
        .find(|l| l.as_str() == up)
        .ok_or_else(|| {
            format!(
                "'{s}' is not a log level; allowed: trace, debug, info, notice, warning, success, error, critical"
            )
        })
}

// ---------------------------------------------------------------------------
// List and key:value syntax (AIPerf's parse_str_or_list / coerce_value).
// ---------------------------------------------------------------------------

/// Each occurrence may itself be a comma-separated list (AIPerf splits on ',').
pub(super) fn split_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .collect()
}

/// AIPerf's `coerce_value`: true/false, none/null, integers without leading
/// zeros, and plain decimals become typed values; everything else stays text.
fn coerce_value(v: &str) -> Value {
    let lower = v.to_ascii_lowercase();
    if lower == "true" || lower == "false" {
        return Value::Bool(lower == "true");
    }
    if lower == "none" || lower == "null" {
        return Value::Null;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = v.strip_prefix('-').unwrap_or(v);
    if digits(unsigned) && (!unsigned.starts_with('0') || unsigned == "0") {
        if let Ok(i) = v.parse::<i64>() {
            return Value::from(i);
        }
    }
    if v.matches('.').count() == 1 && digits(&unsigned.replace('.', "")) {
        if let Ok(f) = v.parse::<f64>() {
            return Value::from(f);
        }
    }
    Value::String(v.to_string())
}

/// Parses repeated `key:value[,key:value]` / JSON-object occurrences into pairs.
pub(super) fn parse_pairs(
    flag: &'static str,
    values: &[String],
) -> Result<Vec<(String, Value)>, FlagError> {
    let mut out = Vec::new();
    for raw in values {
        let item = raw.trim();
        if item.starts_with('{') {
            let obj: Map<String, Value> = serde_json::from_str(item).map_err(|e| {
                FlagError::new(flag, format!("'{raw}' is not a valid JSON object ({e})"))
            })?;
            out.extend(obj);
            continue;
        }
        for part in item.split(',') {
            let Some((k, v)) = part.split_once(':') else {
                return Err(FlagError::new(
                    flag,
                    format!("'{part}' is not in 'key:value' form (or a JSON object)"),
                ));
            };
            let key = k.trim();
            if key.is_empty() {
                return Err(FlagError::new(flag, format!("'{part}' has an empty key")));
            }
            out.push((key.to_string(), coerce_value(v.trim())));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// URL
// ---------------------------------------------------------------------------

/// AIPerf's `normalize_http_url`: prepend `http://` when there is no `://`.
pub(super) fn normalize_url(url: &str) -> String {
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

/// Parses `--url` (scheme optional) into a [`Target`].
pub fn parse_target(url: &str) -> Result<Target, FlagError> {
    const FLAG: &str = "--url";
    let full = normalize_url(url.trim());
    let (scheme_str, rest) = full
        .split_once("://")
        .ok_or_else(|| FlagError::new(FLAG, format!("'{url}' is not a URL")))?;
    let scheme = match scheme_str.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => {
            return Err(FlagError::new(
                FLAG,
                format!("'{url}': scheme '{other}' is not supported; allowed: http, https"),
            ))
        }
    };
    let default_port = match scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    };
    // A fragment is never sent; a query is (Azure's api-version), as AIPerf does.
    let rest = rest.split('#').next().unwrap_or("");
    let (rest, query) = match rest.find('?') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, String::new()),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(FlagError::new(
            FLAG,
            format!("'{url}': user info in the URL is not supported; use --api-key or --header"),
        ));
    }
    let (host, port_str) = if let Some(after) = authority.strip_prefix('[') {
        let end = after
            .find(']')
            .ok_or_else(|| FlagError::new(FLAG, format!("'{url}': unterminated IPv6 address")))?;
        let host = &after[..end];
        let tail = &after[end + 1..];
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p),
            None if tail.is_empty() => None,
            None => {
                return Err(FlagError::new(
                    FLAG,
                    format!("'{url}': unexpected '{tail}' after the IPv6 address"),
                ))
            }
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(FlagError::new(FLAG, format!("'{url}' has no host")));
    }
    let port = match port_str {
        None | Some("") => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(FlagError::new(
                    FLAG,
                    format!("'{url}' has an invalid port '{p}'; allowed: 1..65535"),
                ))
            }
        },
    };
    let host_for_header = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let host_header = if port == default_port {
        host_for_header
    } else {
        format!("{host_for_header}:{port}")
    };
    Ok(Target {
        scheme,
        host: host.to_string(),
        port,
        host_header,
        base_path: path.trim_end_matches('/').to_string(),
        query,
    })
}

// ---------------------------------------------------------------------------
// Numbers as Python prints them, and the command line as typed
// ---------------------------------------------------------------------------

/// Python's `repr(float)`: shortest round-trip digits, `.0` on integral values,
/// exponent form below 1e-4 and from 1e16 (`1e-05`, `1e+16`).
pub fn python_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // `{:e}` gives the shortest round-trip mantissa, e.g. "1.5e-5".
    let sci = format!("{v:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    if (-4..16).contains(&exp) {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// The command line as typed, like AIPerf's "CLI Command:": the program's
/// name (not its path), then each argument quoted for a POSIX shell when it
/// needs it.
pub fn command_line(raw_args: &[String]) -> String {
    raw_args
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if i == 0 {
                "audioperf".to_string()
            } else {
                shell_quote(a)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@%+".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Whether stdout is a terminal (the default UI and the input config depend on it).
pub(super) fn stdout_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}
