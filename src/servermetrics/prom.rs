//! A small parser of the Prometheus text exposition format (0.0.4): `# TYPE`
//! lines and samples `name{label="value",...} value [timestamp]`. Server
//! bytes are hostile: every line that does not parse is skipped and
//! counted, nothing panics (a property test feeds it arbitrary bytes), and
//! a body is capped before it gets here (`scrape::MAX_BODY`).

use std::collections::BTreeMap;

/// A metric family's type, from its `# TYPE` line (untyped without one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
            Kind::Untyped => "unknown",
        }
    }

    fn parse(s: &str) -> Kind {
        match s {
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            "histogram" => Kind::Histogram,
            "summary" => Kind::Summary,
            _ => Kind::Untyped,
        }
    }
}

/// Label pairs in name order.
pub type Labels = BTreeMap<String, String>;

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
}

/// A parsed scrape: the families' types and every sample in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exposition {
    pub types: BTreeMap<String, Kind>,
    /// `# HELP` texts by the name on the line.
    pub help: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
    /// Lines that were neither comments, blank nor a valid sample.
    pub bad_lines: u64,
}

impl Exposition {
    /// The family a sample belongs to and its type: `x_bucket`, `x_sum`
    /// and `x_count` of a histogram `x` belong to `x`, and a counter's
    /// family drops `_total` (as Prometheus' own parsers and AIPerf name it:
    /// `vllm:prompt_tokens_total` is `vllm:prompt_tokens`).
    pub fn family<'a>(&self, name: &'a str) -> (&'a str, Kind) {
        let counter = |n: &'a str| n.strip_suffix("_total").unwrap_or(n);
        if let Some(k) = self.types.get(name) {
            return match k {
                Kind::Counter => (counter(name), *k),
                _ => (name, *k),
            };
        }
        if let Some(base) = name.strip_suffix("_total") {
            if self.types.get(base) == Some(&Kind::Counter) {
                return (base, Kind::Counter);
            }
        }
        for suffix in ["_bucket", "_sum", "_count", "_created"] {
            if let Some(base) = name.strip_suffix(suffix) {
                match self.types.get(base) {
                    Some(k @ (Kind::Histogram | Kind::Summary)) => return (base, *k),
                    Some(Kind::Counter) if suffix == "_created" => return (base, Kind::Counter),
                    _ => {}
                }
                if suffix == "_created"
                    && self.types.get(&format!("{base}_total")) == Some(&Kind::Counter)
                {
                    return (base, Kind::Counter);
                }
            }
        }
        (name, Kind::Untyped)
    }

    /// A family's type, by family name (a counter's without `_total`).
    pub fn kind_of(types: &BTreeMap<String, Kind>, family: &str) -> Kind {
        types
            .get(family)
            .or_else(|| types.get(&format!("{family}_total")))
            .copied()
            .unwrap_or(Kind::Untyped)
    }
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_name_char(c: u8) -> bool {
    is_name_start(c) || c.is_ascii_digit()
}

/// Parses a whole body.
pub fn parse(text: &str) -> Exposition {
    let mut out = Exposition::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let mut words = rest.split_whitespace();
            match words.next() {
                Some("TYPE") => {
                    if let (Some(name), Some(kind)) = (words.next(), words.next()) {
                        out.types.insert(name.to_string(), Kind::parse(kind));
                    }
                }
                Some("HELP") => {
                    if let Some(name) = words.next() {
                        let text: Vec<&str> = words.collect();
                        out.help.insert(name.to_string(), text.join(" "));
                    }
                }
                _ => {}
            }
            continue;
        }
        match parse_sample(line) {
            Some(s) => out.samples.push(s),
            None => out.bad_lines += 1,
        }
    }
    out
}

/// One sample line, or None when it is not one.
pub fn parse_sample(line: &str) -> Option<Sample> {
    let b = line.as_bytes();
    if b.is_empty() || !is_name_start(b[0]) {
        return None;
    }
    let mut i = 1;
    while i < b.len() && is_name_char(b[i]) {
        i += 1;
    }
    let name = line[..i].to_string();
    let mut labels = Labels::new();
    if b.get(i) == Some(&b'{') {
        i += 1;
        loop {
            while b.get(i) == Some(&b' ') {
                i += 1;
            }
            match b.get(i)? {
                b'}' => {
                    i += 1;
                    break;
                }
                _ => {
                    let start = i;
                    while i < b.len() && is_name_char(b[i]) {
                        i += 1;
                    }
                    if i == start || b.get(i) != Some(&b'=') || b.get(i + 1) != Some(&b'"') {
                        return None;
                    }
                    let key = line[start..i].to_string();
                    i += 2;
                    let mut value = String::new();
                    loop {
                        match *b.get(i)? {
                            b'"' => break,
                            b'\\' => {
                                match *b.get(i + 1)? {
                                    b'n' => value.push('\n'),
                                    b'\\' => value.push('\\'),
                                    b'"' => value.push('"'),
                                    _ => return None,
                                }
                                i += 2;
                                continue;
                            }
                            _ => {
                                // A whole UTF-8 character (the line is a str).
                                let ch = line[i..].chars().next()?;
                                value.push(ch);
                                i += ch.len_utf8();
                                continue;
                            }
                        }
                    }
                    i += 1;
                    labels.insert(key, value);
                    while b.get(i) == Some(&b' ') {
                        i += 1;
                    }
                    match b.get(i)? {
                        b',' => i += 1,
                        b'}' => {}
                        _ => return None,
                    }
                }
            }
        }
    }
    let mut rest = line.get(i..)?.split_whitespace();
    let value = parse_value(rest.next()?)?;
    // An optional timestamp (ms); nothing may follow it.
    if let Some(ts) = rest.next() {
        ts.parse::<i64>().ok()?;
    }
    if rest.next().is_some() {
        return None;
    }
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// A sample value: a float, or `+Inf`, `-Inf`, `NaN` (Go's spellings).
pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse::<f64>().ok().filter(|v| v.is_finite()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_text_format() {
        let text = "# HELP a_total Things.\n# TYPE a_total counter\n\
            a_total{model_name=\"m\",x=\"q\\\"uo\\\\te\\n\"} 12 1700000000000\n\
            # TYPE h histogram\nh_bucket{le=\"0.5\"} 3\nh_bucket{le=\"+Inf\"} 4\nh_sum 1.5\nh_count 4\n\
            g 3.25e-1\nbad line here\nx{unterminated=\"1} 2\n";
        let e = parse(text);
        assert_eq!(e.bad_lines, 2);
        assert_eq!(e.samples.len(), 6);
        let a = &e.samples[0];
        assert_eq!(a.name, "a_total");
        assert_eq!(a.value, 12.0);
        assert_eq!(a.labels["x"], "q\"uo\\te\n");
        assert_eq!(e.family("a_total"), ("a", Kind::Counter));
        assert_eq!(e.family("h_bucket"), ("h", Kind::Histogram));
        assert_eq!(e.family("h_count"), ("h", Kind::Histogram));
        assert_eq!(e.family("g"), ("g", Kind::Untyped));
        assert_eq!(e.samples[2].labels["le"], "+Inf");
        assert_eq!(e.samples[5].value, 0.325);
    }

    #[test]
    fn reads_what_the_mock_serves() {
        let m = crate::mock::prometheus::Metrics::default();
        m.served(7, 3, "stop");
        m.observe_ttft(30_000_000);
        let e = parse(&m.render("m\"odel"));
        assert_eq!(e.bad_lines, 0);
        let get = |n: &str| e.samples.iter().find(|s| s.name == n).map(|s| s.value);
        assert_eq!(get("vllm:prompt_tokens_total"), Some(7.0));
        assert_eq!(get("vllm:time_to_first_token_seconds_count"), Some(1.0));
        assert_eq!(e.samples[0].labels["model_name"], "m\"odel");
        assert_eq!(
            e.family("vllm:time_to_first_token_seconds_bucket").1,
            Kind::Histogram
        );
    }

    proptest! {
        /// Hostile bytes: never a panic, and a line is a sample or counted bad.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let e = parse(&text);
            let lines = text.lines().filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#')).count();
            prop_assert_eq!(e.samples.len() as u64 + e.bad_lines, lines as u64);
        }

        #[test]
        fn near_valid_lines_never_panic(name in "[a-z:_]{1,8}", k in "[a-z]{0,4}", v in "[ -~]{0,12}", val in "[-+0-9.eInfa]{0,8}") {
            let line = format!("{name}{{{k}=\"{v}\"}} {val}");
            let _ = parse_sample(&line);
            let cut: String = line.chars().take(line.len() / 2).collect();
            let _ = parse_sample(&cut);
        }
    }
}
