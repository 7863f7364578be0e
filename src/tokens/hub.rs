//! The Hugging Face hub and its local cache, as `huggingface_hub` lays it out:
//! where the cache is (`HF_HUB_CACHE`, `HF_HOME`, ...), finding a file of a
//! cached snapshot, listing a repo's files and downloading one into that
//! layout, for model repos (tokenizers) and dataset repos (`--public-dataset`).
//!
//! Hand-written over `ureq` rather than the `hf-hub` crate: `hf-hub`'s blocking
//! client has no connect/response timeouts (an unreachable hub would stall the
//! run's start-up), no size limit, and reads only `HF_HOME`, not `HF_HUB_CACHE`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// An unreachable hub must fail fast, not stall the run's start-up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(8);
/// A tokenizer.json is 2-20 MB; this bounds a slow download, not a dead one.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);
/// Refuse absurd bodies (a misconfigured endpoint serving something else).
const MAX_DOWNLOAD_BYTES: u64 = 256 * 1024 * 1024;

/// Where and how to reach the Hugging Face hub and its local cache, read from
/// the environment like `huggingface_hub` does. Tests build one by hand.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// The hub cache directory (`.../huggingface/hub`).
    pub cache_dir: PathBuf,
    /// Base URL, `https://huggingface.co` unless `HF_ENDPOINT` says otherwise.
    pub endpoint: String,
    /// Bearer token for gated/private repos.
    pub token: Option<String>,
    /// `HF_HUB_OFFLINE`: use the cache only.
    pub offline: bool,
}

impl HubConfig {
    /// `HF_HUB_CACHE`, else `HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`,
    /// else `~/.cache/huggingface/hub`; `HF_ENDPOINT`; `HF_TOKEN`, else the
    /// token file `huggingface-cli login` writes; `HF_HUB_OFFLINE`.
    pub fn from_env() -> HubConfig {
        HubConfig::from_vars(|k| std::env::var(k).ok())
    }

    /// [`HubConfig::from_env`] over any variable lookup (tests pass a map,
    /// so they never race on the process environment).
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> HubConfig {
        let var = |k: &str| lookup(k).filter(|v| !v.is_empty());
        let home = var("HOME").map(PathBuf::from).unwrap_or_default();
        let hf_home = var("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(".cache"))
                .join("huggingface")
        });
        let cache_dir = var("HF_HUB_CACHE")
            .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
            .map(PathBuf::from)
            .unwrap_or_else(|| hf_home.join("hub"));
        let token = var("HF_TOKEN")
            .or_else(|| var("HUGGING_FACE_HUB_TOKEN"))
            .or_else(|| {
                let path = var("HF_TOKEN_PATH")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| hf_home.join("token"));
                fs::read_to_string(path)
                    .ok()
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
            });
        let offline = var("HF_HUB_OFFLINE").is_some_and(|v| {
            matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
        });
        HubConfig {
            cache_dir,
            endpoint: var("HF_ENDPOINT")
                .map(|e| e.trim_end_matches('/').to_string())
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
            token,
            offline,
        }
    }
}

/// Which kind of hub repository: they live under different URLs and cache folders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepoKind {
    Model,
    Dataset,
}

impl RepoKind {
    /// The URL path segment before `org/name` ("" for models).
    fn url_prefix(self) -> &'static str {
        match self {
            RepoKind::Model => "",
            RepoKind::Dataset => "datasets/",
        }
    }

    fn api_segment(self) -> &'static str {
        match self {
            RepoKind::Model => "models",
            RepoKind::Dataset => "datasets",
        }
    }

    /// How big and how slow one download may be: a tokenizer is megabytes,
    /// a dataset shard hundreds of them.
    fn limits(self) -> (u64, Duration) {
        match self {
            RepoKind::Model => (MAX_DOWNLOAD_BYTES, DOWNLOAD_TIMEOUT),
            RepoKind::Dataset => (MAX_DATASET_FILE_BYTES, DATASET_DOWNLOAD_TIMEOUT),
        }
    }
}

/// A dataset file is bounded by the disk, not the tokenizer's 256 MB.
const MAX_DATASET_FILE_BYTES: u64 = 8 * 1024 * 1024 * 1024;
const DATASET_DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(3600);

/// `models--org--name` or `datasets--org--name`: a repo's cache folder.
pub fn repo_folder_of(cache_dir: &Path, kind: RepoKind, repo: &str) -> PathBuf {
    let prefix = match kind {
        RepoKind::Model => "models",
        RepoKind::Dataset => "datasets",
    };
    cache_dir.join(format!("{prefix}--{}", repo.replace('/', "--")))
}

fn repo_folder(cache_dir: &Path, repo: &str) -> PathBuf {
    repo_folder_of(cache_dir, RepoKind::Model, repo)
}

/// A file of a cached snapshot: `refs/<revision>` names the commit, or the
/// revision is the commit itself.
pub fn cached_file(cache_dir: &Path, repo: &str, revision: &str, file: &str) -> Option<PathBuf> {
    let folder = repo_folder(cache_dir, repo);
    let commit = fs::read_to_string(folder.join("refs").join(revision))
        .map(|c| c.trim().to_string())
        .unwrap_or_else(|_| revision.to_string());
    if commit.is_empty() || commit.contains("..") {
        return None;
    }
    let path = folder.join("snapshots").join(commit).join(file);
    path.is_file().then_some(path)
}

/// Fetches `file` of a model repo into the cache layout huggingface_hub uses
/// (`snapshots/<commit>/<file>`, `refs/<revision>`), so Python tools find it
/// too. Returns the cached file, or why it could not.
pub fn download(
    hub: &HubConfig,
    repo: &str,
    revision: &str,
    file: &str,
) -> Result<PathBuf, String> {
    download_file(hub, RepoKind::Model, repo, revision, file)
}

/// [`download`] for any kind of repo; `file` may be a path (`clean/test/0000.parquet`).
pub fn download_file(
    hub: &HubConfig,
    kind: RepoKind,
    repo: &str,
    revision: &str,
    file: &str,
) -> Result<PathBuf, String> {
    if hub.offline {
        return Err("HF_HUB_OFFLINE is set".to_string());
    }
    if file.split('/').any(|c| c.is_empty() || c == "..") {
        return Err(format!("refusing the file name {file:?}"));
    }
    let (max_bytes, timeout) = kind.limits();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_resolve(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(RESPONSE_TIMEOUT))
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        // Redirects by hand: the commit hash is a header of the first
        // (hub) response, and the token must not follow us to the CDN.
        .max_redirects(0)
        .build()
        .into();
    // A revision such as `refs/pr/1` is one path segment to the hub.
    let mut url = format!(
        "{}/{}{repo}/resolve/{}/{file}",
        hub.endpoint,
        kind.url_prefix(),
        revision.replace('/', "%2F")
    );
    let mut commit: Option<String> = None;
    let mut send_token = true;
    for _hop in 0..6 {
        let mut req = agent.get(&url).header("User-Agent", "audioperf");
        if let (Some(token), true) = (&hub.token, send_token) {
            req = req.header("Authorization", &format!("Bearer {token}"));
        }
        let resp = req.call().map_err(|e| format!("GET {url}: {e}"))?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        if commit.is_none() {
            commit = header("x-repo-commit");
        }
        let status = resp.status().as_u16();
        if (300..400).contains(&status) {
            let location = header("location")
                .ok_or_else(|| format!("GET {url}: HTTP {status} without a Location header"))?;
            let next = join_url(&url, &location);
            send_token = same_origin(&url, &next);
            url = next;
            continue;
        }
        if status != 200 {
            let hint = match status {
                401 | 403 => " (gated or private repo: set HF_TOKEN)",
                404 => " (no such repo, revision or file)",
                _ => "",
            };
            return Err(format!("GET {url}: HTTP {status}{hint}"));
        }
        let commit = commit.unwrap_or_else(|| revision.to_string());
        let folder = repo_folder_of(&hub.cache_dir, kind, repo);
        return store(&folder, revision, &commit, file, resp, &url, max_bytes);
    }
    Err(format!("GET {url}: too many redirects"))
}

/// Writes the body to `snapshots/<commit>/<file>` through a temporary
/// file (a crash or a concurrent run never leaves a half file in place), then
/// `refs/<revision>` when the revision is a name, not the commit.
fn store(
    folder: &Path,
    revision: &str,
    commit: &str,
    file: &str,
    resp: ureq::http::Response<ureq::Body>,
    url: &str,
    max_bytes: u64,
) -> Result<PathBuf, String> {
    if commit.contains('/') || commit.contains("..") {
        return Err(format!("GET {url}: unexpected commit {commit:?}"));
    }
    let snapshot = folder.join("snapshots").join(commit);
    let io_err = |what: &Path, e: io::Error| format!("{}: {e}", what.display());
    let dest = snapshot.join(file);
    let dir = dest.parent().unwrap_or(&snapshot).to_path_buf();
    fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.part", std::process::id()));
    let result = (|| {
        let mut out = fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        let mut body = resp
            .into_body()
            .into_with_config()
            .limit(max_bytes)
            .reader();
        io::copy(&mut body, &mut out).map_err(|e| format!("GET {url}: {e}"))?;
        out.sync_all().map_err(|e| io_err(&tmp, e))?;
        fs::rename(&tmp, &dest).map_err(|e| io_err(&dest, e))
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if revision != commit {
        let refs = folder.join("refs").join(revision);
        if let Some(parent) = refs.parent() {
            fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
        }
        fs::write(&refs, commit).map_err(|e| io_err(&refs, e))?;
    }
    Ok(dest)
}

/// Every file path of a repo under `dir` at `revision`, from the hub's tree
/// API (`/api/<kind>s/<repo>/tree/<revision>/<dir>?recursive=true`).
pub fn list_files(
    hub: &HubConfig,
    kind: RepoKind,
    repo: &str,
    revision: &str,
    dir: &str,
) -> Result<Vec<String>, String> {
    if hub.offline {
        return Err("HF_HUB_OFFLINE is set".to_string());
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_resolve(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(RESPONSE_TIMEOUT))
        .timeout_global(Some(RESPONSE_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!(
        "{}/api/{}/{repo}/tree/{}/{dir}?recursive=true",
        hub.endpoint,
        kind.api_segment(),
        revision.replace('/', "%2F")
    );
    let mut req = agent.get(&url).header("User-Agent", "audioperf");
    if let Some(token) = &hub.token {
        req = req.header("Authorization", &format!("Bearer {token}"));
    }
    let resp = req.call().map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status().as_u16();
    if status != 200 {
        let hint = match status {
            401 | 403 => " (gated or private repo: set HF_TOKEN and accept its terms)",
            404 => " (no such repo, revision or folder)",
            _ => "",
        };
        return Err(format!("GET {url}: HTTP {status}{hint}"));
    }
    let body = resp
        .into_body()
        .into_with_config()
        .limit(16 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| format!("GET {url}: {e}"))?;
    let entries: Vec<serde_json::Value> =
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: not a file list ({e})"))?;
    Ok(entries
        .iter()
        .filter(|e| e.get("type").and_then(|t| t.as_str()) == Some("file"))
        .filter_map(|e| e.get("path").and_then(|p| p.as_str()).map(str::to_string))
        .collect())
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}

fn same_origin(a: &str, b: &str) -> bool {
    origin(a).eq_ignore_ascii_case(origin(b))
}

/// Resolves a redirect target: absolute URLs as they are, `/path` against the
/// current origin (the hub redirects renamed repos that way).
fn join_url(base: &str, location: &str) -> String {
    if location.contains("://") {
        location.to_string()
    } else if location.starts_with('/') {
        format!("{}{location}", origin(base))
    } else {
        let dir = base.rfind('/').map_or(base, |i| &base[..=i]);
        format!("{dir}{location}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_config_from_variables() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = HubConfig::from_vars(vars(&[("HOME", "/home/u")]));
        assert_eq!(c.cache_dir, Path::new("/home/u/.cache/huggingface/hub"));
        assert_eq!(c.endpoint, "https://huggingface.co");
        assert!(!c.offline);

        let c = HubConfig::from_vars(vars(&[
            ("HOME", "/home/u"),
            ("XDG_CACHE_HOME", "/xdg"),
            ("HF_ENDPOINT", "http://127.0.0.1:9/"),
            ("HF_HUB_OFFLINE", "1"),
            ("HF_TOKEN", "hf_abc"),
        ]));
        assert_eq!(c.cache_dir, Path::new("/xdg/huggingface/hub"));
        assert_eq!(c.endpoint, "http://127.0.0.1:9");
        assert!(c.offline);
        assert_eq!(c.token.as_deref(), Some("hf_abc"));

        let c = HubConfig::from_vars(vars(&[("HF_HOME", "/hf"), ("HF_HUB_OFFLINE", "0")]));
        assert_eq!(c.cache_dir, Path::new("/hf/hub"));
        assert!(!c.offline);
        let c = HubConfig::from_vars(vars(&[("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/c")]));
        assert_eq!(c.cache_dir, Path::new("/c"));

        // The token file `huggingface-cli login` writes, when HF_TOKEN is unset.
        let home = tempfile::tempdir().unwrap();
        fs::write(home.path().join("token"), "hf_from_file\n").unwrap();
        let hf_home = home.path().to_string_lossy().into_owned();
        let c = HubConfig::from_vars(move |k| (k == "HF_HOME").then(|| hf_home.clone()));
        assert_eq!(c.token.as_deref(), Some("hf_from_file"));
    }

    #[test]
    fn url_helpers() {
        let base = "https://huggingface.co/a/b/resolve/main/tokenizer.json";
        assert_eq!(origin(base), "https://huggingface.co");
        assert_eq!(join_url(base, "/api/x"), "https://huggingface.co/api/x");
        assert_eq!(join_url(base, "https://cdn.x/y"), "https://cdn.x/y");
        assert_eq!(
            join_url(base, "other.json"),
            "https://huggingface.co/a/b/resolve/main/other.json"
        );
        assert!(same_origin(base, "https://HuggingFace.co/z"));
        assert!(!same_origin(base, "https://cdn.x/y"));
    }
}
