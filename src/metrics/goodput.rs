//! Goodput (AIPerf's, after DistServe): a request is good when it meets
//! every `--goodput` SLO. Thresholds are given in the metric's display unit
//! (ms for latencies) and compared in native units; metrics where larger is
//! better pass with `>=`, the others with `<=`. A request without a value for
//! an SLO's metric is not good.

use super::defs::{def_by_tag, MetricId, MetricKind};
use crate::config::GoodputSlo;

/// Metrics AIPerf flags `LARGER_IS_BETTER` (its `MetricFlags`), among those
/// audioperf measures per request.
pub const LARGER_IS_BETTER: &[MetricId] = &[
    MetricId::OutputTokenThroughputPerUser,
    MetricId::E2eOutputTokenThroughput,
    MetricId::OutputSequenceLength,
    MetricId::InputSequenceLength,
    MetricId::OutputTokenCount,
    MetricId::ReasoningTokenCount,
    MetricId::UsagePromptTokens,
    MetricId::UsageCompletionTokens,
    MetricId::UsageReasoningTokens,
    MetricId::UsageTotalTokens,
    MetricId::Rtfx,
    MetricId::PrefillThroughputPerUser,
];

/// Parses `--goodput "KEY:VALUE KEY:VALUE"` (space-separated, as AIPerf).
/// KEY must be a per-request metric tag; VALUE a finite number.
pub fn parse(text: &str) -> Result<Vec<GoodputSlo>, String> {
    let items: Vec<&str> = text.split_whitespace().collect();
    if items.is_empty() {
        return Err("expected space-separated 'KEY:VALUE' pairs, e.g. 'time_to_first_token:200 inter_token_latency:20'".into());
    }
    let mut out: Vec<GoodputSlo> = Vec::new();
    for item in items {
        let Some((key, value)) = item.split_once(':') else {
            return Err(format!("'{item}' is not KEY:VALUE"));
        };
        let def = def_by_tag(key)
            .filter(|d| d.kind == MetricKind::Record)
            .ok_or_else(|| {
                format!(
                    "unknown metric tag '{key}'; allowed: {}",
                    slo_tags().join(", ")
                )
            })?;
        let threshold: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| format!("'{value}' (for {key}) is not a finite number"))?;
        out.retain(|s| s.tag != def.tag);
        out.push(GoodputSlo {
            tag: def.tag,
            threshold,
        });
    }
    Ok(out)
}

/// Tags an SLO may name.
pub fn slo_tags() -> Vec<&'static str> {
    super::METRICS
        .iter()
        .filter(|d| d.kind == MetricKind::Record)
        .map(|d| d.tag)
        .collect()
}

/// SLOs resolved to metric ids, thresholds in native units.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Slos(Vec<(MetricId, f64, bool)>);

impl Slos {
    pub fn new(slos: &[GoodputSlo]) -> Slos {
        Slos(
            slos.iter()
                .filter_map(|s| {
                    let d = def_by_tag(s.tag)?;
                    Some((
                        d.id,
                        s.threshold * d.display_scale,
                        LARGER_IS_BETTER.contains(&d.id),
                    ))
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a successful request with these native values meets every SLO.
    pub fn is_good(&self, values: &[(MetricId, f64)]) -> bool {
        self.0.iter().all(|&(id, threshold, larger)| {
            values
                .iter()
                .find(|(v, _)| *v == id)
                .is_some_and(|&(_, v)| {
                    if larger {
                        v >= threshold
                    } else {
                        v <= threshold
                    }
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_converts_display_units() {
        let slos = parse("time_to_first_token:51  output_token_throughput_per_user:100").unwrap();
        assert_eq!(slos.len(), 2);
        let s = Slos::new(&slos);
        // 51 ms = 51e6 ns; TTFT at most, tokens/s at least.
        let good = [
            (MetricId::TimeToFirstToken, 51e6),
            (MetricId::OutputTokenThroughputPerUser, 100.0),
        ];
        assert!(s.is_good(&good));
        let slow = [
            (MetricId::TimeToFirstToken, 51e6 + 1.0),
            (MetricId::OutputTokenThroughputPerUser, 100.0),
        ];
        assert!(!s.is_good(&slow));
        let few = [
            (MetricId::TimeToFirstToken, 1e6),
            (MetricId::OutputTokenThroughputPerUser, 99.9),
        ];
        assert!(!s.is_good(&few));
        // A missing value fails its SLO.
        assert!(!s.is_good(&[(MetricId::TimeToFirstToken, 1e6)]));
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values() {
        assert!(parse("ttft:5")
            .unwrap_err()
            .contains("unknown metric tag 'ttft'"));
        assert!(
            parse("request_throughput:5").is_err(),
            "run-level metrics are not SLOs"
        );
        assert!(parse("request_latency:abc")
            .unwrap_err()
            .contains("not a finite number"));
        assert!(parse("request_latency:inf").is_err());
        assert!(parse("request_latency").unwrap_err().contains("KEY:VALUE"));
        assert!(parse("  ").is_err());
    }
}
