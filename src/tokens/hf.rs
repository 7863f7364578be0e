//! The model's own tokenizer, for exact ISL/OSL token counts.
//!
//! Owns: resolving `--tokenizer` the way AIPerf (transformers) does — a local
//! directory or `tokenizer.json` file, else a Hugging Face repo id looked up in
//! the local Hugging Face cache, else downloaded from the hub into that cache
//! ([`super::hub`]) — and counting tokens with the `tokenizers` crate ([`HfTokenizer`], a
//! [`TokenCounter`]). Loading never panics: every failure is a
//! [`TokenizerError`] whose message says what was tried, so the caller can warn
//! and fall back to server-reported usage.
//!
//! Must not: run on the request hot path. Counting OSL for a whole run happens
//! after it, in bulk, with [`HfTokenizer::count_many`].

use super::hub::{self, HubConfig};
use super::{ApproxTokenCounter, TokenCounter};
use rayon::prelude::*;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// The file we load; AIPerf's tokenizers are "fast" ones, which all ship it.
const TOKENIZER_FILE: &str = "tokenizer.json";
const DEFAULT_REVISION: &str = "main";
/// Below this many texts, threads cost more than they save.
const PARALLEL_MIN_TEXTS: usize = 64;

/// Why a tokenizer could not be loaded. `Display` is the whole story, meant to
/// be shown to the user in the fallback warning.
#[derive(Debug)]
pub enum TokenizerError {
    /// A local directory that holds no `tokenizer.json`.
    MissingFile { dir: PathBuf },
    /// Neither an existing path nor something that can be a repo id.
    InvalidSpec { spec: String },
    /// The file exists but could not be read or parsed as a tokenizer.
    Load { path: PathBuf, reason: String },
    /// A repo id that is not in the cache and could not be downloaded.
    NotCached {
        repo: String,
        revision: String,
        cache: PathBuf,
        reason: String,
    },
}

impl fmt::Display for TokenizerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenizerError::MissingFile { dir } => {
                write!(f, "no {TOKENIZER_FILE} in {}", dir.display())
            }
            TokenizerError::InvalidSpec { spec } => write!(
                f,
                "tokenizer {spec:?} is neither an existing path nor a Hugging Face repo id \
                 (org/name)"
            ),
            TokenizerError::Load { path, reason } => {
                write!(f, "cannot load tokenizer {}: {reason}", path.display())
            }
            TokenizerError::NotCached {
                repo,
                revision,
                cache,
                reason,
            } => write!(
                f,
                "{repo} (revision {revision}) not in the Hugging Face cache at {} and the hub \
                 could not be reached: {reason}",
                cache.display()
            ),
        }
    }
}

impl std::error::Error for TokenizerError {}

/// A loaded Hugging Face tokenizer. Cheap to share: counting takes `&self`
/// and the type is `Send + Sync`.
pub struct HfTokenizer {
    inner: tokenizers::Tokenizer,
    name: String,
    path: PathBuf,
}

impl fmt::Debug for HfTokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HfTokenizer")
            .field("name", &self.name)
            .field("path", &self.path)
            .finish()
    }
}

impl HfTokenizer {
    /// Loads a `tokenizer.json` file; `name` is what [`TokenCounter::name`]
    /// reports (the user's `--tokenizer` value).
    pub fn from_file(path: &Path, name: &str) -> Result<HfTokenizer, TokenizerError> {
        let load_err = |reason: String| TokenizerError::Load {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = fs::read(path).map_err(|e| load_err(e.to_string()))?;
        let mut inner =
            tokenizers::Tokenizer::from_bytes(&bytes).map_err(|e| load_err(e.to_string()))?;
        // Some tokenizer.json files carry truncation/padding settings; a count
        // must be of the whole text, unpadded.
        inner
            .with_truncation(None)
            .map_err(|e| load_err(e.to_string()))?;
        inner.with_padding(None);
        Ok(HfTokenizer {
            inner,
            name: name.to_string(),
            path: path.to_path_buf(),
        })
    }

    /// The `tokenizer.json` this was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Token ids of `text` without special tokens (no BOS/EOS, no template),
    /// as AIPerf counts ISL and OSL.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        self.inner
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| e.to_string())
    }

    /// Decodes ids back to text (special tokens skipped); for checks and logs.
    pub fn decode(&self, ids: &[u32]) -> Result<String, String> {
        self.inner.decode(ids, true).map_err(|e| e.to_string())
    }

    /// Token counts of many texts, in order, spread over all cores. For OSL
    /// over thousands of responses after a run.
    pub fn count_many(&self, texts: &[&str]) -> Vec<usize> {
        if texts.len() < PARALLEL_MIN_TEXTS {
            return texts.iter().map(|t| self.count(t)).collect();
        }
        texts.par_iter().map(|t| self.count(t)).collect()
    }
}

impl TokenCounter for HfTokenizer {
    fn count(&self, text: &str) -> usize {
        match self.inner.encode_fast(text, false) {
            Ok(enc) => enc.len(),
            // The trait is infallible and byte-level BPE covers every byte, so
            // this is not expected; an estimate beats a zero.
            Err(_) => ApproxTokenCounter.count(text),
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// Resolves and loads `--tokenizer`: a directory holding `tokenizer.json` or
/// the file itself; else a Hugging Face repo id from the local cache at
/// `revision` (default `main`; a branch, tag or commit hash); else downloaded
/// from the hub into that cache. Configured from the environment
/// ([`HubConfig::from_env`]).
pub fn load(spec: &str, revision: Option<&str>) -> Result<HfTokenizer, TokenizerError> {
    load_with(spec, revision, &HubConfig::from_env())
}

/// [`load`] with an explicit hub configuration (no environment reads).
pub fn load_with(
    spec: &str,
    revision: Option<&str>,
    hub: &HubConfig,
) -> Result<HfTokenizer, TokenizerError> {
    let path = Path::new(spec);
    // A local path wins over a repo id of the same spelling, as in transformers.
    if path.is_dir() {
        let file = path.join(TOKENIZER_FILE);
        if !file.is_file() {
            return Err(TokenizerError::MissingFile {
                dir: path.to_path_buf(),
            });
        }
        return HfTokenizer::from_file(&file, spec);
    }
    if path.is_file() {
        return HfTokenizer::from_file(path, spec);
    }
    if !is_repo_id(spec) {
        return Err(TokenizerError::InvalidSpec {
            spec: spec.to_string(),
        });
    }
    let revision = revision.unwrap_or(DEFAULT_REVISION);
    let file = match hub::cached_file(&hub.cache_dir, spec, revision, TOKENIZER_FILE) {
        Some(file) => file,
        None => hub::download(hub, spec, revision, TOKENIZER_FILE).map_err(|reason| {
            TokenizerError::NotCached {
                repo: spec.to_string(),
                revision: revision.to_string(),
                cache: hub.cache_dir.clone(),
                reason,
            }
        })?,
    };
    HfTokenizer::from_file(&file, spec)
}

/// `name` or `org/name`, each part of letters, digits, `-`, `_`, `.` and not
/// `.`/`..` (huggingface_hub's rule, less its length limit). Anything else
/// must have been meant as a path.
fn is_repo_id(spec: &str) -> bool {
    let parts: Vec<&str> = spec.split('/').collect();
    parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::hub::cached_file;
    use super::*;
    use crate::dataset::prompt::PromptGenerator;
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    fn fixture_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tokenizers/qwen3")
    }

    /// Parsing the 11 MB file takes a while in a dev build; share one.
    fn qwen() -> &'static HfTokenizer {
        static TOK: OnceLock<HfTokenizer> = OnceLock::new();
        TOK.get_or_init(|| match load(&fixture_dir().to_string_lossy(), None) {
            Ok(t) => t,
            Err(e) => panic!("fixture tokenizer: {e}"),
        })
    }

    fn offline_hub(cache_dir: &Path) -> HubConfig {
        HubConfig {
            cache_dir: cache_dir.to_path_buf(),
            // Port 9 (discard) on loopback: nothing listens, connect is refused.
            endpoint: "http://127.0.0.1:9".to_string(),
            token: None,
            offline: false,
        }
    }

    #[test]
    fn reference_texts_are_four_tokens() {
        let t = qwen();
        for text in ["Transcribe this.", "What is said?", "Summarize."] {
            assert_eq!(t.count(text), 4, "{text:?}");
        }
        assert_eq!(t.count(""), 0);
        assert_eq!(t.encode("Hello world").unwrap(), vec![9707, 1879]);
        assert_eq!(t.decode(&[9707, 1879]).unwrap(), "Hello world");
        // Special tokens in the text are one token each, but none are added.
        assert_eq!(t.count("<|im_start|>"), 1);
    }

    /// fancy-regex must split like the Python tokenizers' Oniguruma: the
    /// numbers are `tokenizers` 0.22 (Python) on the same file.
    #[test]
    fn counts_match_python_tokenizers() {
        let t = qwen();
        let corpus = crate::dataset::prompt::CORPUS_TEXT;
        assert_eq!(t.count(corpus), 77_019);
        let joined = corpus.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(t.count(&joined), 68_352);
        assert_eq!(
            t.encode("naïve café 日本語 🎉").unwrap(),
            vec![3376, 37572, 586, 51950, 75402, 21894, 102819, 11162, 236, 231]
        );
    }

    #[test]
    fn loads_by_directory_and_by_file() {
        let dir = fixture_dir();
        let by_file = load(&dir.join("tokenizer.json").to_string_lossy(), None).unwrap();
        assert_eq!(by_file.count("Transcribe this."), 4);
        assert_eq!(by_file.path(), dir.join("tokenizer.json"));
        assert_eq!(qwen().path(), dir.join("tokenizer.json"));
        assert_eq!(qwen().name(), dir.to_string_lossy());
    }

    #[test]
    fn local_path_errors_say_what_was_tried() {
        let tmp = tempfile::tempdir().unwrap();
        let err = load(&tmp.path().to_string_lossy(), None).unwrap_err();
        assert!(matches!(err, TokenizerError::MissingFile { .. }));
        assert_eq!(
            err.to_string(),
            format!("no tokenizer.json in {}", tmp.path().display())
        );

        let bad = tmp.path().join("tokenizer.json");
        fs::write(&bad, b"{not json").unwrap();
        let err = load(&bad.to_string_lossy(), None).unwrap_err();
        assert!(matches!(err, TokenizerError::Load { .. }), "{err}");
        assert!(
            err.to_string().starts_with("cannot load tokenizer"),
            "{err}"
        );

        let missing = tmp.path().join("nope").join("deeper").join("x");
        let err = load(&missing.to_string_lossy(), None).unwrap_err();
        assert!(matches!(err, TokenizerError::InvalidSpec { .. }), "{err}");
    }

    #[test]
    fn repo_ids() {
        assert!(is_repo_id("Qwen/Qwen2-Audio-7B-Instruct"));
        assert!(is_repo_id("gpt2"));
        assert!(is_repo_id("org/name.v1_2"));
        assert!(!is_repo_id("/abs/path"));
        assert!(!is_repo_id("a/b/c"));
        assert!(!is_repo_id("../x"));
        assert!(!is_repo_id("org/"));
        assert!(!is_repo_id("has space/x"));
    }

    #[test]
    fn resolves_from_the_hf_cache_offline() {
        let cache = tempfile::tempdir().unwrap();
        let repo = cache.path().join("models--Qwen--Fake");
        let snap = repo.join("snapshots/abc123");
        fs::create_dir_all(&snap).unwrap();
        fs::create_dir_all(repo.join("refs")).unwrap();
        fs::copy(
            fixture_dir().join("tokenizer.json"),
            snap.join("tokenizer.json"),
        )
        .unwrap();
        fs::write(repo.join("refs/main"), "abc123\n").unwrap();
        let hub = offline_hub(cache.path());

        let t = load_with("Qwen/Fake", None, &hub).unwrap();
        assert_eq!(t.path(), snap.join("tokenizer.json"));
        assert_eq!(t.name(), "Qwen/Fake");
        assert_eq!(t.count("What is said?"), 4);
        // A commit hash as the revision needs no ref.
        let t = load_with("Qwen/Fake", Some("abc123"), &hub).unwrap();
        assert_eq!(t.path(), snap.join("tokenizer.json"));
        assert_eq!(
            cached_file(cache.path(), "Qwen/Fake", "main", "tokenizer.json"),
            Some(snap.join("tokenizer.json"))
        );
        assert_eq!(
            cached_file(cache.path(), "Qwen/Fake", "dev", "tokenizer.json"),
            None
        );

        // Real caches link snapshot files to content-addressed blobs.
        let blob = repo.join("blobs/0123abcd");
        fs::create_dir_all(blob.parent().unwrap()).unwrap();
        fs::copy(fixture_dir().join("tokenizer.json"), &blob).unwrap();
        let linked = repo.join("snapshots/fedcba9/tokenizer.json");
        fs::create_dir_all(linked.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("../../blobs/0123abcd", &linked).unwrap();
        fs::create_dir_all(repo.join("refs/refs/pr")).unwrap();
        fs::write(repo.join("refs/refs/pr/1"), "fedcba9").unwrap();
        let t = load_with("Qwen/Fake", Some("refs/pr/1"), &hub).unwrap();
        assert_eq!(t.path(), linked);
        assert_eq!(t.count("Transcribe this."), 4);
    }

    #[test]
    fn missing_repo_with_unreachable_hub_fails_fast_and_clearly() {
        let cache = tempfile::tempdir().unwrap();
        let hub = offline_hub(cache.path());
        let started = Instant::now();
        let err = load_with("Qwen/NotThere", Some("v1"), &hub).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let msg = err.to_string();
        let prefix = format!(
            "Qwen/NotThere (revision v1) not in the Hugging Face cache at {} and the hub could \
             not be reached: GET http://127.0.0.1:9/Qwen/NotThere/resolve/v1/tokenizer.json: ",
            cache.path().display()
        );
        assert!(msg.starts_with(&prefix), "{msg}");
        // Nothing half-written was left in the cache.
        assert_eq!(fs::read_dir(cache.path()).unwrap().count(), 0);

        let offline = HubConfig {
            offline: true,
            ..hub
        };
        let err = load_with("Qwen/NotThere", None, &offline).unwrap_err();
        assert!(
            err.to_string().ends_with(": HF_HUB_OFFLINE is set"),
            "{err}"
        );
    }

    /// A one-shot HTTP server on 127.0.0.1: answers the i-th connection with
    /// `responses[i]` and closes it; returns the request heads it read. Gives
    /// up after 10 s so a broken client cannot hang the test run.
    pub(crate) fn serve(responses: Vec<Vec<u8>>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let handle = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut heads = Vec::new();
            for response in responses {
                let mut conn = loop {
                    match listener.accept() {
                        Ok((c, _)) => break c,
                        Err(_) if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(5))
                        }
                        Err(_) => return heads,
                    }
                };
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                heads.push(String::from_utf8_lossy(&head).to_ascii_lowercase());
                let _ = conn.write_all(&response);
            }
            heads
        });
        (port, handle)
    }

    pub(crate) fn http_response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
        let mut r = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
        for (k, v) in headers {
            r.push_str(&format!("{k}: {v}\r\n"));
        }
        r.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut r = r.into_bytes();
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn downloads_into_the_hf_cache_layout() {
        let body = fs::read(fixture_dir().join("tokenizer.json")).unwrap();
        // The file server ("CDN") must not see the hub token.
        let (cdn_port, cdn) = serve(vec![http_response("200 OK", &[], &body)]);
        let location = format!("http://127.0.0.1:{cdn_port}/blobs/xyz?sig=1");
        let (hub_port, hub_server) = serve(vec![http_response(
            "302 Found",
            &[("Location", &location), ("X-Repo-Commit", "deadbeef42")],
            b"",
        )]);
        let cache = tempfile::tempdir().unwrap();
        let hub = HubConfig {
            cache_dir: cache.path().to_path_buf(),
            endpoint: format!("http://127.0.0.1:{hub_port}"),
            token: Some("hf_secret".to_string()),
            offline: false,
        };
        let t = load_with("Qwen/Remote", None, &hub).unwrap();
        assert_eq!(t.count("Summarize."), 4);

        let repo = cache.path().join("models--Qwen--Remote");
        let file = repo.join("snapshots/deadbeef42/tokenizer.json");
        assert_eq!(t.path(), file);
        assert_eq!(fs::read(&file).unwrap(), body);
        assert_eq!(
            fs::read_to_string(repo.join("refs/main")).unwrap(),
            "deadbeef42"
        );
        // No temporary file left beside it.
        assert_eq!(fs::read_dir(file.parent().unwrap()).unwrap().count(), 1);

        let hub_heads = hub_server.join().unwrap();
        assert_eq!(hub_heads.len(), 1);
        assert!(
            hub_heads[0].starts_with("get /qwen/remote/resolve/main/tokenizer.json http/1.1\r\n")
        );
        assert!(hub_heads[0].contains("\r\nauthorization: bearer hf_secret\r\n"));
        let cdn_heads = cdn.join().unwrap();
        assert_eq!(cdn_heads.len(), 1);
        assert!(cdn_heads[0].starts_with("get /blobs/xyz?sig=1 http/1.1\r\n"));
        assert!(!cdn_heads[0].contains("authorization"), "{}", cdn_heads[0]);

        // Now cached: found again with the hub gone.
        let gone = HubConfig {
            endpoint: "http://127.0.0.1:9".to_string(),
            ..hub
        };
        assert_eq!(load_with("Qwen/Remote", None, &gone).unwrap().path(), file);
    }

    #[test]
    fn hub_http_errors_are_reported() {
        let (port, server) = serve(vec![http_response("404 Not Found", &[], b"nope")]);
        let cache = tempfile::tempdir().unwrap();
        let hub = HubConfig {
            endpoint: format!("http://127.0.0.1:{port}"),
            ..offline_hub(cache.path())
        };
        let err = load_with("org/missing", None, &hub).unwrap_err();
        assert!(
            err.to_string().ends_with(&format!(
                "GET http://127.0.0.1:{port}/org/missing/resolve/main/tokenizer.json: HTTP 404 \
                 (no such repo, revision or file)"
            )),
            "{err}"
        );
        assert_eq!(server.join().unwrap().len(), 1);
        assert_eq!(fs::read_dir(cache.path()).unwrap().count(), 0);
    }

    #[test]
    fn prompts_hit_exact_token_counts() {
        let t = qwen();
        let mut g = PromptGenerator::new(t, [7, 8]);
        for target in [1, 2, 5, 100, 550] {
            for _ in 0..4 {
                let p = g.generate(target).unwrap();
                assert_eq!(t.count(&p), target, "{p:?}");
            }
        }
        // Many starting points: some runs of words cannot be cut to the target
        // (a BPE prefix of the last word jumps by two tokens); the generator
        // must then find another run, never settle one token short.
        let mut g = PromptGenerator::new(t, [1, 2]);
        for target in (1..=120).chain([127, 300, 1000]) {
            for _ in 0..3 {
                let p = g.generate(target).unwrap();
                assert_eq!(t.count(&p), target, "{p:?}");
            }
        }
    }

    #[test]
    fn count_many_matches_count_in_order() {
        let t = qwen();
        let words: Vec<&str> = crate::dataset::prompt::CORPUS_TEXT
            .split_whitespace()
            .take(3000)
            .collect();
        let texts: Vec<String> = words.chunks(7).map(|c| c.join(" ")).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let many = t.count_many(&refs);
        let one: Vec<usize> = refs.iter().map(|s| t.count(s)).collect();
        assert_eq!(many.len(), refs.len());
        assert_eq!(many, one);
        assert_eq!(
            t.count_many(&["Summarize.", "", "What is said?"]),
            vec![4, 0, 4]
        );
    }
}
