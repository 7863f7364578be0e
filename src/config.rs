//! The validated run configuration. `cli` parses flags (AIPerf's names) and
//! turns them into these types once; every later stage reads only these, with
//! units in the types (Hz, bits, `Duration`), never raw flag strings.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A configuration error: which flag, and what is wrong with its value.
/// Shared by the command-line checks (`cli`) and the TLS set-up (`tls`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagError {
    /// The flag as the user can type it, e.g. `--audio-depths`.
    pub flag: &'static str,
    pub message: String,
}

impl FlagError {
    pub fn new(flag: &'static str, message: impl Into<String>) -> Self {
        FlagError {
            flag,
            message: message.into(),
        }
    }
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.flag, self.message)
    }
}

impl std::error::Error for FlagError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// Where requests go: parsed from `--url` (with or without `http://`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    /// Value of the `Host` header (`host` or `host:port`).
    pub host_header: String,
    /// Path prefix from the URL (e.g. "" or "/api"), without trailing '/'.
    pub base_path: String,
    /// The URL's query with its '?' (e.g. "?api-version=2"), or "".
    pub query: String,
}

pub use crate::audio_file::AudioFormat;

/// Which trust anchors verify an `https://` server (`--tls-roots`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsRoots {
    /// Mozilla's roots compiled in (webpki-roots): the same everywhere.
    #[default]
    Webpki,
    /// The operating system's store (rustls-native-certs).
    System,
    /// Both of the above.
    Both,
}

/// TLS client options for `https://` targets (audioperf extensions; AIPerf
/// has no TLS flags). Ignored for `http://`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TlsOptions {
    pub roots: TlsRoots,
    /// Extra PEM (or DER) CA certificates trusted on top of `roots` (`--ca-file`).
    pub ca_file: Option<PathBuf>,
    /// Skip certificate chain and name checks (`--insecure`); signatures are
    /// still verified so the handshake stays a real one.
    pub insecure: bool,
    /// SNI and certificate name override (`--tls-server-name`); default: the URL's host.
    pub server_name: Option<String>,
}

/// Synthetic audio: AIPerf's `--audio-*` options.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioConfig {
    /// Mean clip length in seconds; 0 disables audio.
    pub length_mean_s: f64,
    pub length_stddev_s: f64,
    pub format: AudioFormat,
    /// Candidate sample rates in Hz (from kHz on the command line); one is picked per clip.
    pub sample_rates_hz: Vec<u32>,
    /// Candidate bit depths (8, 16, 24, 32); one is picked per clip.
    pub depths_bits: Vec<u16>,
    /// 1 or 2.
    pub channels: u16,
    /// Audio parts per request.
    pub batch_size: u32,
}

/// Synthetic text prompt and output length options.
#[derive(Clone, Debug, PartialEq)]
pub struct PromptConfig {
    pub input_tokens_mean: u32,
    pub input_tokens_stddev: f64,
    /// `--output-tokens-mean`: when set, sent as `max_completion_tokens`.
    pub output_tokens_mean: Option<u32>,
    pub output_tokens_stddev: f64,
    /// Send `max_tokens` instead of `max_completion_tokens`.
    pub use_legacy_max_tokens: bool,
    /// Text parts per request (`--batch-size-text`).
    pub text_batch_size: u32,
}

/// `--custom-dataset-type`: the file formats AIPerf 0.13 knows. audioperf
/// reads only [`CustomDatasetType::SingleTurn`]; the others are named so a
/// refusal can say "not supported" rather than "unknown".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CustomDatasetType {
    SingleTurn,
    MultiTurn,
    RandomPool,
    MooncakeTrace,
    BailianTrace,
    BasetenTrace,
    BurstGptTrace,
    RawPayload,
    InputsJson,
    DagJsonl,
}

impl CustomDatasetType {
    /// Every type, in AIPerf's order.
    pub const ALL: [CustomDatasetType; 10] = [
        CustomDatasetType::SingleTurn,
        CustomDatasetType::MultiTurn,
        CustomDatasetType::RandomPool,
        CustomDatasetType::MooncakeTrace,
        CustomDatasetType::BailianTrace,
        CustomDatasetType::BasetenTrace,
        CustomDatasetType::BurstGptTrace,
        CustomDatasetType::RawPayload,
        CustomDatasetType::InputsJson,
        CustomDatasetType::DagJsonl,
    ];

    /// AIPerf's name (underscore spelling), as exported.
    pub fn as_str(self) -> &'static str {
        match self {
            CustomDatasetType::SingleTurn => "single_turn",
            CustomDatasetType::MultiTurn => "multi_turn",
            CustomDatasetType::RandomPool => "random_pool",
            CustomDatasetType::MooncakeTrace => "mooncake_trace",
            CustomDatasetType::BailianTrace => "bailian_trace",
            CustomDatasetType::BasetenTrace => "baseten_trace",
            CustomDatasetType::BurstGptTrace => "burst_gpt_trace",
            CustomDatasetType::RawPayload => "raw_payload",
            CustomDatasetType::InputsJson => "inputs_json",
            CustomDatasetType::DagJsonl => "dag_jsonl",
        }
    }

    /// The type with this underscore name, if AIPerf has one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for CustomDatasetType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `--endpoint-type`: which OpenAI API the requests speak.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EndpointType {
    /// `POST /v1/chat/completions`, a JSON body with `input_audio` parts.
    #[default]
    Chat,
    /// `POST /v1/audio/transcriptions`, a `multipart/form-data` body with
    /// the clip as its `file` part (Whisper-style speech-to-text servers).
    AudioTranscription,
}

impl EndpointType {
    /// AIPerf's name, as exported.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointType::Chat => "chat",
            EndpointType::AudioTranscription => "audio_transcription",
        }
    }

    /// The request path when `--custom-endpoint` does not give one.
    pub fn default_path(self) -> &'static str {
        match self {
            EndpointType::Chat => "/v1/chat/completions",
            EndpointType::AudioTranscription => "/v1/audio/transcriptions",
        }
    }
}

/// `--public-dataset`: AIPerf 0.13's ASR datasets on the Hugging Face hub,
/// with the repository, subset (config) and split its loader registry names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublicDataset {
    Librispeech,
    Voxpopuli,
    Gigaspeech,
    Ami,
    Spgispeech,
}

impl PublicDataset {
    pub const ALL: [PublicDataset; 5] = [
        PublicDataset::Librispeech,
        PublicDataset::Voxpopuli,
        PublicDataset::Gigaspeech,
        PublicDataset::Ami,
        PublicDataset::Spgispeech,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PublicDataset::Librispeech => "librispeech",
            PublicDataset::Voxpopuli => "voxpopuli",
            PublicDataset::Gigaspeech => "gigaspeech",
            PublicDataset::Ami => "ami",
            PublicDataset::Spgispeech => "spgispeech",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The dataset repository on the hub.
    pub fn repo(self) -> &'static str {
        match self {
            PublicDataset::Librispeech => "openslr/librispeech_asr",
            PublicDataset::Voxpopuli => "facebook/voxpopuli",
            PublicDataset::Gigaspeech => "speechcolab/gigaspeech",
            PublicDataset::Ami => "edinburghcstr/ami",
            PublicDataset::Spgispeech => "kensho/spgispeech",
        }
    }

    /// The subset (config) AIPerf loads; `--hf-subset` overrides it.
    pub fn subset(self) -> &'static str {
        match self {
            PublicDataset::Librispeech => "clean",
            PublicDataset::Voxpopuli => "en",
            PublicDataset::Gigaspeech => "xs",
            PublicDataset::Ami => "ihm",
            PublicDataset::Spgispeech => "test",
        }
    }

    /// Every one of them is read from its `test` split.
    pub fn split(self) -> &'static str {
        "test"
    }

    /// The column holding each row's audio (`{bytes, path}`).
    pub fn audio_column(self) -> &'static str {
        "audio"
    }
}

/// The public dataset a run reads and the subset chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicDatasetChoice {
    pub dataset: PublicDataset,
    /// `--hf-subset`, else the dataset's own.
    pub subset: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UiType {
    None,
    Simple,
    Dashboard,
}

/// `--export-level`: which files a run writes besides the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExportLevel {
    /// Only the aggregate files (CSV, JSON, console text, inputs).
    Summary,
    /// Also `profile_export.jsonl`, one line per request (the default).
    Records,
    /// Also `profile_export_raw.jsonl`: each request's payload and response.
    Raw,
}

impl ExportLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportLevel::Summary => "summary",
            ExportLevel::Records => "records",
            ExportLevel::Raw => "raw",
        }
    }
}

/// One `--goodput` SLO: a per-request metric's tag (checked against the
/// metric table when parsed) and its threshold in the metric's display unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GoodputSlo {
    pub tag: &'static str,
    pub threshold: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrivalPattern {
    Constant,
    Poisson,
    Gamma,
}

/// `--shard-index I --shard-count N` (audioperf extension): this process
/// runs shard `index` of `count`, i.e. the requests, arrivals and
/// connections `k` with `k % count == index` of the whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// The whole run: shard 0 of 1.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// How many of `n` items dealt round-robin fall to this shard (the first
    /// `n % count` shards take one more).
    pub fn share(self, n: u64) -> u64 {
        let count = u64::from(self.count.max(1));
        n / count + u64::from(u64::from(self.index) < n % count)
    }
}

/// `--zero-copy`: how request bodies are handed to the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ZeroCopy {
    /// `MSG_ZEROCOPY` for sends of at least [`ZERO_COPY_MIN_BYTES`]; a
    /// connection goes back to copying once the kernel reports that it
    /// copied anyway (every send to this host does).
    #[default]
    Auto,
    /// `MSG_ZEROCOPY` for every send, whatever the kernel reports (measuring).
    On,
    /// Copying sends only.
    Off,
}

/// Sends smaller than this copy even under `--zero-copy auto`: pinning pages
/// and handling the notification cost more than copying a few pages. The
/// kernel's documentation puts the break-even "around 10 KB"; on loopback
/// (where the kernel copies every zero-copy send) a 16 KiB zero-copy send
/// cost the sender 1.66× a copying one, a 64 KiB one 1.28× and a 216 kB one
/// 0.89× (scripts/bench-zerocopy.py, docs/PERFORMANCE.md).
pub const ZERO_COPY_MIN_BYTES: usize = 16 * 1024;

/// `--read-batch-us` when not given. At c=64 against the one-core mock
/// (docs/PERFORMANCE.md, "Read batching") 100 µs took CPU per request from
/// 173-180 µs (30 µs windows) to 120-131 µs for tiny text requests, and
/// TTFT error against the mock's kernel stamps did not move; it can merge
/// only tokens of one stream that come less than 100 µs apart (10,000
/// tokens/s per stream), which no served model streams.
pub const DEFAULT_READ_BATCH_US: u32 = 100;
/// The longest `--read-batch-us` accepted.
pub const MAX_READ_BATCH_US: u32 = 1000;

/// `--cpus`: core numbers, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

/// `--rx-stamps`: which clock says when response bytes arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RxStamps {
    /// The kernel's receive stamp of the newest segment each read consumed
    /// (`SO_TIMESTAMPNS`, read with `recvmsg`); the read's completion time
    /// where the kernel gives none (TLS, or stamping not yet on).
    #[default]
    Kernel,
    /// The moment each read completed in user space (io_uring reads).
    User,
}

/// The whole validated `profile` configuration.
#[derive(Clone, Debug)]
pub struct ProfileConfig {
    /// First of `--model` names; the one sent in requests.
    pub model: String,
    pub model_names: Vec<String>,
    pub target: Target,
    /// Every `--url` server and the `/metrics` scraping (multi-server runs).
    pub fleet: Fleet,
    /// `--endpoint-type`: chat completions or audio transcriptions.
    pub endpoint_type: EndpointType,
    /// Request path, the endpoint type's own unless `--endpoint` overrides it.
    pub endpoint_path: String,
    pub streaming: bool,
    pub request_count: u64,
    pub warmup_request_count: u64,
    pub concurrency: u32,
    /// Whether the user set `--concurrency` explicitly (artifact naming).
    pub concurrency_set: bool,
    pub request_rate: Option<f64>,
    pub arrival_pattern: ArrivalPattern,
    pub arrival_smoothness: Option<f64>,
    pub benchmark_duration: Option<Duration>,
    pub benchmark_grace_period: Duration,
    pub request_timeout: Duration,
    /// Percentage (0..=100) of profiling requests cancelled on purpose.
    pub request_cancellation_rate: f64,
    /// Delay after the request is fully sent before such a cancellation.
    pub request_cancellation_delay: Duration,
    /// Open loop: measure latency and TTFT from the intended send time
    /// (`--latency-from-schedule`), so queueing in the client is visible.
    pub latency_from_schedule: bool,
    /// `--show-trace-timing`: the console prints the HTTP trace table.
    pub show_trace_timing: bool,
    /// `--goodput` SLOs; empty: no goodput metrics.
    pub goodput: Vec<GoodputSlo>,
    /// `--slice-duration`: write the time-sliced exports.
    pub slice_duration: Option<Duration>,
    pub audio: AudioConfig,
    pub prompt: PromptConfig,
    pub random_seed: Option<u64>,
    /// Distinct dataset entries to build (`--conversation-num`/`--num-dataset-entries`).
    pub num_dataset_entries: u32,
    /// The flag that set `num_dataset_entries` (`--num-dataset-entries` or
    /// `--conversation-num`); None when it was implied by `--request-count`
    /// or the default. An explicit count that cannot fit the dataset memory
    /// budget is refused; an implied one is capped to what fits.
    pub num_dataset_entries_flag: Option<&'static str>,
    /// `--dataset-memory-mb`: the most memory (MB, 10^6 bytes) the unique
    /// request bodies may take; past it, requests reuse the pool.
    pub dataset_memory_mb: u64,
    /// Directory the exports are written into (already joined with the run name).
    pub artifact_dir: PathBuf,
    /// `--profile-export-prefix` with AIPerf's known suffixes stripped: the
    /// base name of every export (None: AIPerf's historical names).
    pub export_prefix: Option<String>,
    pub export_level: ExportLevel,
    /// `--export-raw-audio`: keep base64 audio in the raw export.
    pub export_raw_audio: bool,
    /// `--failed-request-threshold`: stop the run once errors / records of
    /// the profiling phase exceed this ratio (armed after
    /// max(concurrency, 10) records).
    pub failed_request_threshold: Option<f64>,
    pub api_key: Option<String>,
    /// TLS client options, used when `target.scheme` is `Https`.
    pub tls: TlsOptions,
    /// Extra headers, in order, as given.
    pub headers: Vec<(String, String)>,
    /// Merged into the top level of every request body.
    pub extra_inputs: serde_json::Map<String, serde_json::Value>,
    pub input_file: Option<PathBuf>,
    /// `--public-dataset`: rows of real speech from the Hugging Face cache.
    pub public_dataset: Option<PublicDatasetChoice>,
    pub custom_dataset_type: Option<CustomDatasetType>,
    pub tokenizer: Option<String>,
    /// `--tokenizer-revision`: branch, tag or commit in the Hugging Face cache/hub.
    pub tokenizer_revision: Option<String>,
    pub use_server_token_count: bool,
    pub ui_type: UiType,
    /// Upper bound on worker threads (`--workers-max`); None = one per core.
    pub workers_max: Option<usize>,
    /// `--cpus`: the cores the workers are pinned to, in order (None: every
    /// core this process may use).
    pub cpus: Option<Vec<usize>>,
    pub zero_copy: ZeroCopy,
    pub rx_stamps: RxStamps,
    /// `--read-batch-us`: the read-batching window, 0 = off (`sys::batch`).
    pub read_batch_us: u32,
    /// The command line as typed, for the console and exports.
    pub cli_command: String,
    /// The full input configuration as AIPerf-style JSON, for `profile_export_aiperf.json`.
    pub input_config_json: serde_json::Value,
    /// `--shard-index`/`--shard-count`: None for an unsharded run (which
    /// writes no shard result file).
    pub shard: Option<Shard>,
    /// `--start-at`: wall-clock time (ns since the Unix epoch) at which the
    /// first phase starts, after the dataset is built and connections opened.
    pub start_at_wall_ns: Option<u64>,
}

impl ProfileConfig {
    /// "http://host:port/v1/chat/completions", for logs and exports.
    pub fn url(&self) -> String {
        let scheme = match self.target.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        format!(
            "{}://{}:{}{}",
            scheme,
            self.target.host,
            self.target.port,
            self.request_path()
        )
    }

    /// `base_path` + `endpoint_path` + the URL's query, joined as AIPerf joins
    /// them: a base that already ends with the endpoint (the user gave the
    /// whole endpoint URL) is used as is, and a base ending in `/v1` drops the
    /// endpoint's leading `v1/` (`--url host/v1` is not `/v1/v1/chat/...`).
    pub fn request_path(&self) -> String {
        let base = self.target.base_path.trim_end_matches('/');
        let mut sub = self.endpoint_path.trim_start_matches('/');
        let path = if sub.is_empty() || base.ends_with(&format!("/{sub}")) {
            base.to_string()
        } else {
            if base.ends_with("/v1") {
                sub = sub.strip_prefix("v1/").unwrap_or(sub);
            }
            format!("{base}/{sub}")
        };
        let path = if path.is_empty() { "/".into() } else { path };
        format!("{path}{}", self.target.query)
    }
}

/// How requests are spread over several `--url` servers (`--url-strategy`).
/// AIPerf 0.13 knows one: request `k` goes to server `k % n`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UrlStrategy {
    #[default]
    RoundRobin,
}

/// An export format of the server metrics (`--server-metrics-formats`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerMetricsFormat {
    Json,
    Csv,
    Jsonl,
}

impl ServerMetricsFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerMetricsFormat::Json => "json",
            ServerMetricsFormat::Csv => "csv",
            ServerMetricsFormat::Jsonl => "jsonl",
        }
    }
}

/// Prometheus `/metrics` scraping during the run (`--server-metrics`,
/// `--no-server-metrics`, `--server-metrics-formats`).
#[derive(Clone, Debug, PartialEq)]
pub struct ServerMetricsConfig {
    pub enabled: bool,
    /// Every endpoint scraped: each `--url` server's base + `/metrics`, then
    /// the `--server-metrics` URLs, without duplicates.
    pub endpoints: Vec<Target>,
    pub formats: Vec<ServerMetricsFormat>,
    /// Time between scrapes of one endpoint.
    pub interval: Duration,
}

impl Default for ServerMetricsConfig {
    fn default() -> Self {
        ServerMetricsConfig {
            enabled: false,
            endpoints: Vec::new(),
            formats: vec![ServerMetricsFormat::Json, ServerMetricsFormat::Csv],
            interval: Duration::from_millis(333),
        }
    }
}

/// The servers a run drives and watches. `targets` holds every `--url` in
/// order (the first is `ProfileConfig::target`); empty means that one only.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fleet {
    pub targets: Vec<Target>,
    pub strategy: UrlStrategy,
    pub server_metrics: ServerMetricsConfig,
}

impl Target {
    /// "http://host:port" plus the base path: the server as the user named it.
    pub fn base_url(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{host}:{}{}", self.port, self.base_path)
    }
}

impl ProfileConfig {
    /// Every `--url` server, in the order given.
    pub fn targets(&self) -> &[Target] {
        if self.fleet.targets.is_empty() {
            std::slice::from_ref(&self.target)
        } else {
            &self.fleet.targets
        }
    }

    /// The configuration as seen by requests to server `i`: the same, with
    /// that server as `target` (request path and Host header follow it).
    pub fn for_server(&self, i: usize) -> ProfileConfig {
        let mut c = self.clone();
        if let Some(t) = self.targets().get(i) {
            c.target = t.clone();
        }
        c
    }
}
