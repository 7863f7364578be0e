//! The servers of a run: every `--url` (`--url-strategy`) and the Prometheus
//! endpoints scraped during it (`--server-metrics`, `--no-server-metrics`,
//! `--server-metrics-formats`), checked once into a [`Fleet`].

use std::time::Duration;

use super::parse::{normalize_choice, normalize_url, parse_target, split_list};
use super::ProfileArgs;
use crate::config::{
    FlagError, Fleet, Scheme, ServerMetricsConfig, ServerMetricsFormat, Target, TlsOptions,
    UrlStrategy,
};

/// AIPerf's variable for the scrape interval (seconds).
pub const INTERVAL_ENV: &str = "AIPERF_SERVER_METRICS_COLLECTION_INTERVAL";

/// The validated servers; `urls` is the `--url` list as given (non-empty).
pub(super) fn fleet(a: &ProfileArgs, urls: &[String]) -> Result<Fleet, FlagError> {
    let targets = urls
        .iter()
        .map(|u| parse_target(u))
        .collect::<Result<Vec<Target>, _>>()?;
    if targets.len() > usize::from(u16::MAX) {
        return Err(FlagError::new("--url", "more than 65535 servers"));
    }
    let strategy = match a.url_strategy.as_deref().map(normalize_choice).as_deref() {
        None | Some("round-robin") => UrlStrategy::RoundRobin,
        Some(_) => {
            return Err(FlagError::new(
                "--url-strategy",
                format!(
                    "'{}' is not a URL strategy; allowed: round_robin",
                    a.url_strategy.as_deref().unwrap_or_default()
                ),
            ))
        }
    };
    let tls = tls_of(a);
    for t in targets.iter().skip(1) {
        if t.scheme == Scheme::Https {
            crate::tls::server_name(t, &tls)?;
        }
    }
    Ok(Fleet {
        server_metrics: server_metrics(a, urls)?,
        targets,
        strategy,
    })
}

/// The TLS flags as given, unchecked (`validate` checks them for the first
/// server, `fleet` for the others).
pub(super) fn tls_of(a: &ProfileArgs) -> TlsOptions {
    TlsOptions {
        roots: a.tls_roots.unwrap_or_default(),
        ca_file: a.ca_file.clone(),
        insecure: a.insecure,
        server_name: a.tls_server_name.clone(),
    }
}

/// AIPerf's `normalize_metrics_endpoint_url`: `http://` when no scheme, no
/// trailing '/', and `/metrics` appended unless it is there.
pub fn metrics_url(url: &str) -> String {
    let full = normalize_url(url.trim());
    let trimmed = full.trim_end_matches('/');
    if trimmed.ends_with("/metrics") {
        trimmed.to_string()
    } else {
        format!("{trimmed}/metrics")
    }
}

fn server_metrics(a: &ProfileArgs, urls: &[String]) -> Result<ServerMetricsConfig, FlagError> {
    let mut cfg = ServerMetricsConfig {
        enabled: !a.no_server_metrics,
        ..Default::default()
    };
    if a.no_server_metrics && a.server_metrics.is_some() {
        return Err(FlagError::new(
            "--server-metrics",
            "cannot be used with --no-server-metrics; use one or the other",
        ));
    }
    if !a.server_metrics_formats.is_empty() {
        let mut formats = Vec::new();
        for f in split_list(&a.server_metrics_formats) {
            let format =
                match normalize_choice(&f).as_str() {
                    "json" => ServerMetricsFormat::Json,
                    "csv" => ServerMetricsFormat::Csv,
                    "jsonl" => ServerMetricsFormat::Jsonl,
                    "parquet" => return Err(FlagError::new(
                        "--server-metrics-formats",
                        "'parquet' is not supported by audioperf (a parquet writer would double \
                         the build time); allowed: json, csv, jsonl",
                    )),
                    _ => {
                        return Err(FlagError::new(
                            "--server-metrics-formats",
                            format!("'{f}' is not a format; allowed: json, csv, jsonl"),
                        ))
                    }
                };
            if !formats.contains(&format) {
                formats.push(format);
            }
        }
        cfg.formats = formats;
    }
    if let Some(text) = std::env::var_os(INTERVAL_ENV) {
        let text = text.to_string_lossy();
        let secs: f64 = text.trim().parse().unwrap_or(f64::NAN);
        if !(0.01..=3600.0).contains(&secs) {
            return Err(FlagError::new(
                INTERVAL_ENV,
                format!("'{text}' is not a number of seconds in 0.01..3600"),
            ));
        }
        cfg.interval = Duration::from_secs_f64(secs);
    }
    let extra = split_list(a.server_metrics.as_deref().unwrap_or_default());
    let mut seen: Vec<String> = Vec::new();
    for u in urls.iter().chain(extra.iter().filter(|u| !u.is_empty())) {
        let m = metrics_url(u);
        if seen.contains(&m) {
            continue;
        }
        let target = parse_target(&m).map_err(|e| FlagError::new("--server-metrics", e.message))?;
        seen.push(m);
        cfg.endpoints.push(target);
    }
    if !cfg.enabled {
        cfg.endpoints.clear();
    }
    Ok(cfg)
}

/// The `server_metrics` section of the input_config export, as AIPerf
/// writes it (the `--server-metrics` URLs normalised, formats as given).
pub(super) fn input_config_json(a: &ProfileArgs) -> serde_json::Value {
    let urls: Vec<String> = split_list(a.server_metrics.as_deref().unwrap_or_default())
        .iter()
        .filter(|u| u.starts_with("http") || u.contains(':'))
        .map(|u| metrics_url(u))
        .collect();
    let formats: Vec<String> = if a.server_metrics_formats.is_empty() {
        vec!["json".into(), "csv".into()]
    } else {
        split_list(&a.server_metrics_formats)
            .iter()
            .map(|f| f.to_ascii_lowercase())
            .collect()
    };
    serde_json::json!({ "enabled": true, "urls": urls, "formats": formats })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_url_like_aiperf() {
        assert_eq!(
            metrics_url("localhost:8000"),
            "http://localhost:8000/metrics"
        );
        assert_eq!(metrics_url("http://h:1/"), "http://h:1/metrics");
        assert_eq!(metrics_url("h:9/metrics/"), "http://h:9/metrics");
        assert_eq!(metrics_url("https://h/v1"), "https://h/v1/metrics");
    }
}
