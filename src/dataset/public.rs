//! `--public-dataset`: rows of real speech from a Hugging Face ASR dataset,
//! read as AIPerf 0.13's `HFASRDatasetLoader` reads them. Each row's audio
//! (`{bytes, path}` in the audio column) is decoded and sent as WAV with the
//! prompt "Transcribe this audio."; clips longer than 30 s and rows whose
//! audio cannot be decoded are skipped, counted and reported.
//!
//! Owns: finding the dataset's parquet files for a subset and split in the
//! local hub cache, in the layout `huggingface-cli download <repo>
//! --repo-type dataset` leaves (`datasets--org--name/snapshots/<commit>/…`),
//! fetching them when they are missing and the hub is reachable, and reading
//! the audio column row by row (parquet's row API, only that column).

use super::audio::decode::{to_wav, Decoded};
use super::input::{FileEntry, LoadedAudio};
use super::pool::{self, BuildControl};
use crate::config::{AudioFormat, PublicDatasetChoice};
use crate::tokens::hub::{self, HubConfig, RepoKind};
use anyhow::{bail, Context, Result};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::schema::types::Type;
use rayon::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// AIPerf's prompt for every ASR row.
pub const ASR_PROMPT: &str = "Transcribe this audio.";
/// AIPerf skips clips longer than this (standard ASR benchmark practice).
pub const MAX_CLIP_SECONDS: f64 = 30.0;
/// Rows decoded together on all cores before the budget is checked again.
const BATCH_ROWS: usize = 64;
/// Undecodable rows whose reason is kept for the report (the rest are counted).
const REASONS_KEPT: usize = 5;

/// What was read, and what was skipped and why.
#[derive(Debug, Default)]
pub struct PublicLoad {
    pub entries: Vec<FileEntry>,
    /// The parquet files read, in order.
    pub files: Vec<PathBuf>,
    pub rows_read: u64,
    pub skipped_too_long: u64,
    pub skipped_undecodable: u64,
    /// "row N of FILE: why", for the first few undecodable rows.
    pub undecodable_reasons: Vec<String>,
    /// Reading stopped at the memory budget before the wanted count.
    pub capped_by_budget: bool,
}

impl PublicLoad {
    /// One line for the console and the log.
    pub fn summary(&self, choice: &PublicDatasetChoice) -> String {
        let mut s = format!(
            "--public-dataset {}: {} rows of {} ({}, {}) from {} file(s)",
            choice.dataset.name(),
            self.entries.len(),
            choice.dataset.repo(),
            choice.subset,
            choice.dataset.split(),
            self.files.len()
        );
        if self.skipped_too_long > 0 {
            s.push_str(&format!(
                "; skipped {} clip(s) over {MAX_CLIP_SECONDS} s",
                self.skipped_too_long
            ));
        }
        if self.skipped_undecodable > 0 {
            s.push_str(&format!(
                "; skipped {} undecodable row(s) ({})",
                self.skipped_undecodable,
                self.undecodable_reasons.join("; ")
            ));
        }
        if self.capped_by_budget {
            s.push_str("; stopped at the dataset memory budget (--dataset-memory-mb)");
        }
        s
    }
}

/// The download command a user runs to fill the cache.
pub fn download_command(choice: &PublicDatasetChoice) -> String {
    format!(
        "huggingface-cli download {} --repo-type dataset --include '{}/*'",
        choice.dataset.repo(),
        choice.subset
    )
}

/// Loads up to `max_rows` eligible rows (all of them when None), stopping
/// early at `budget_bytes` of request bodies.
pub fn load(
    choice: &PublicDatasetChoice,
    hub: &HubConfig,
    max_rows: Option<u64>,
    budget_bytes: u64,
    ctl: &BuildControl,
) -> Result<PublicLoad> {
    let files = split_files(choice, hub)?;
    let mut out = PublicLoad {
        files: files.clone(),
        ..Default::default()
    };
    let want = max_rows.unwrap_or(u64::MAX);
    let mut held = 0u64;
    'files: for file in &files {
        let rel = file.display().to_string();
        let mut rows = AudioRows::open(file, choice.dataset.audio_column())?;
        loop {
            ctl.check()?;
            let batch = rows.next_batch(BATCH_ROWS)?;
            if batch.is_empty() {
                break;
            }
            // Decoding is the slow part: one batch on all cores, results in row order.
            let decoded: Vec<(u64, Result<Decoded, String>)> = batch
                .into_par_iter()
                .map(|(row, audio)| (row, audio.and_then(|a| decode_row(a, file))))
                .collect();
            for (row, result) in decoded {
                out.rows_read += 1;
                match result {
                    Ok(Decoded::Wav { bytes, seconds }) => {
                        let cost = pool::entry_bytes(
                            ASR_PROMPT.len() as u64,
                            base64_simd::STANDARD.encoded_length(bytes.len()) as u64,
                        );
                        if !out.entries.is_empty() && held.saturating_add(cost) > budget_bytes {
                            out.capped_by_budget = true;
                            break 'files;
                        }
                        held = held.saturating_add(cost);
                        out.entries.push(FileEntry {
                            line: row as usize + 1,
                            texts: vec![ASR_PROMPT.to_string()],
                            audios: vec![LoadedAudio {
                                bytes: Arc::new(bytes),
                                format: AudioFormat::Wav,
                                seconds,
                            }],
                            ..Default::default()
                        });
                        if out.entries.len() as u64 >= want {
                            break 'files;
                        }
                    }
                    Ok(Decoded::TooLong { .. }) => out.skipped_too_long += 1,
                    Err(why) => {
                        out.skipped_undecodable += 1;
                        if out.undecodable_reasons.len() < REASONS_KEPT {
                            out.undecodable_reasons
                                .push(format!("row {} of {rel}: {why}", row + 1));
                        }
                    }
                }
            }
        }
    }
    if out.entries.is_empty() {
        bail!(
            "--public-dataset {}: no usable rows in {} ({} read: {} over {MAX_CLIP_SECONDS} s, \
             {} undecodable{})",
            choice.dataset.name(),
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            out.rows_read,
            out.skipped_too_long,
            out.skipped_undecodable,
            if out.undecodable_reasons.is_empty() {
                String::new()
            } else {
                format!(": {}", out.undecodable_reasons.join("; "))
            }
        );
    }
    Ok(out)
}

/// One row's audio as stored: the file's bytes, or a path to the file.
#[derive(Debug)]
struct RowAudio {
    bytes: Option<Vec<u8>>,
    path: Option<String>,
}

/// Decodes one row's audio, reading it from `path` (absolute, or relative
/// to the parquet file's folder) when the row holds no bytes.
fn decode_row(audio: RowAudio, parquet_file: &Path) -> Result<Decoded, String> {
    let ext = audio
        .path
        .as_deref()
        .and_then(|p| Path::new(p).extension())
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let bytes: Vec<u8> = match (audio.bytes, &audio.path) {
        (Some(b), _) if !b.is_empty() => b,
        (_, Some(p)) if !p.is_empty() => {
            let path = Path::new(p);
            let path = if path.is_absolute() {
                path.to_path_buf()
            } else {
                parquet_file.parent().unwrap_or(Path::new(".")).join(path)
            };
            fs::read(&path).map_err(|e| format!("no audio bytes, and {}: {e}", path.display()))?
        }
        _ => return Err("no audio bytes and no path".into()),
    };
    // A decoder bug on hostile bytes must cost one row, not the run.
    std::panic::catch_unwind(|| to_wav(&bytes, ext.as_deref(), MAX_CLIP_SECONDS))
        .unwrap_or_else(|_| Err("the audio decoder failed on these bytes".into()))
}

/// The rows of one parquet file, only the audio column read.
struct AudioRows {
    iter: parquet::record::reader::RowIter<'static>,
    next_row: u64,
    column: String,
}

impl AudioRows {
    fn open(path: &Path, column: &str) -> Result<AudioRows> {
        let file = fs::File::open(path).with_context(|| format!("{}", path.display()))?;
        let reader = SerializedFileReader::new(file)
            .with_context(|| format!("{}: not a readable parquet file", path.display()))?;
        let schema = reader.metadata().file_metadata().schema();
        let field = schema
            .get_fields()
            .iter()
            .find(|f| f.name() == column)
            .cloned()
            .with_context(|| {
                let names: Vec<&str> = schema.get_fields().iter().map(|f| f.name()).collect();
                format!(
                    "{}: no '{column}' column (columns: {})",
                    path.display(),
                    names.join(", ")
                )
            })?;
        let projection = Type::group_type_builder(schema.name())
            .with_fields(vec![field])
            .build()
            .context("parquet projection")?;
        let iter = parquet::record::reader::RowIter::from_file_into(Box::new(reader))
            .project(Some(projection))
            .with_context(|| format!("{}: cannot read the '{column}' column", path.display()))?;
        Ok(AudioRows {
            iter,
            next_row: 0,
            column: column.to_string(),
        })
    }

    /// Up to `n` rows: (row index, the row's audio or why it has none).
    fn next_batch(&mut self, n: usize) -> Result<Vec<(u64, Result<RowAudio, String>)>> {
        let mut batch = Vec::with_capacity(n);
        for row in self.iter.by_ref().take(n) {
            let row = row.context("reading a parquet row")?;
            let audio = row
                .get_column_iter()
                .find(|(name, _)| *name == &self.column)
                .map(|(_, f)| row_audio(f))
                .unwrap_or_else(|| Err("no audio column".into()));
            batch.push((self.next_row, audio));
            self.next_row += 1;
        }
        Ok(batch)
    }
}

/// `{bytes, path}` (the `datasets` Audio feature's storage), or why not.
fn row_audio(field: &Field) -> Result<RowAudio, String> {
    let Field::Group(group) = field else {
        return Err(format!(
            "the audio column holds a {} value, not {{bytes, path}}",
            field_kind(field)
        ));
    };
    let mut audio = RowAudio {
        bytes: None,
        path: None,
    };
    for (name, value) in group.get_column_iter() {
        match (name.as_str(), value) {
            ("bytes", Field::Bytes(b)) => audio.bytes = Some(b.data().to_vec()),
            ("path", Field::Str(s)) => audio.path = Some(s.clone()),
            _ => {}
        }
    }
    Ok(audio)
}

fn field_kind(f: &Field) -> &'static str {
    match f {
        Field::Null => "null",
        Field::Str(_) => "string",
        Field::Bytes(_) => "binary",
        Field::ListInternal(_) => "list",
        _ => "scalar",
    }
}

/// The parquet files of the subset and split, from the cache, else from the
/// hub; or an error naming the repo, the path searched and the download command.
fn split_files(choice: &PublicDatasetChoice, hub: &HubConfig) -> Result<Vec<PathBuf>> {
    let repo = choice.dataset.repo();
    let split = choice.dataset.split();
    let folder = hub::repo_folder_of(&hub.cache_dir, RepoKind::Dataset, repo);
    if let Some(files) = cached_split_files(&folder, &choice.subset, split) {
        return Ok(files);
    }
    match fetch_split_files(choice, hub) {
        Ok(files) if !files.is_empty() => Ok(files),
        result => {
            let why = match result {
                Err(e) => e,
                Ok(_) => "the hub lists no parquet files for it".to_string(),
            };
            bail!(
                "--public-dataset {}: {repo} (subset {}, split {split}) is not in the Hugging Face \
                 cache: searched {} for */{}/{split}*.parquet; fetching it failed ({why}). \
                 Download it with: {} (HF_HOME or HF_HUB_CACHE choose the cache)",
                choice.dataset.name(),
                choice.subset,
                folder.join("snapshots").display(),
                choice.subset,
                download_command(choice)
            )
        }
    }
}

/// Whether `rel` (a path inside a snapshot, `/`-separated) is a parquet file
/// of `subset`/`split`: `<subset>/<split>/*.parquet` (the hub's parquet
/// conversion, LibriSpeech) or `<subset>/<split>-*.parquet` /
/// `<subset>/<split>.parquet` (`push_to_hub` with a config).
pub fn is_split_file(rel: &str, subset: &str, split: &str) -> bool {
    if !rel.ends_with(".parquet") {
        return false;
    }
    let parts: Vec<&str> = rel.split('/').collect();
    let Some(at) = parts.iter().position(|p| *p == subset) else {
        return false;
    };
    let rest = &parts[at + 1..];
    match rest {
        [dir, _file] => *dir == split,
        [file] => {
            let stem = file.trim_end_matches(".parquet");
            stem == split || stem.starts_with(&format!("{split}-"))
        }
        _ => false,
    }
}

/// The split's files in the snapshot `refs/main` names (else any snapshot
/// that has them), sorted by path; None when no snapshot has any.
fn cached_split_files(folder: &Path, subset: &str, split: &str) -> Option<Vec<PathBuf>> {
    let snapshots = folder.join("snapshots");
    let mut candidates: Vec<PathBuf> = Vec::new();
    for reference in ["main", "convert/parquet"] {
        if let Ok(commit) = fs::read_to_string(folder.join("refs").join(reference)) {
            let commit = commit.trim();
            if !commit.is_empty() && !commit.contains("..") && !commit.contains('/') {
                candidates.push(snapshots.join(commit));
            }
        }
    }
    if let Ok(dir) = fs::read_dir(&snapshots) {
        let mut others: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        others.sort();
        candidates.extend(others);
    }
    for snap in candidates {
        let mut found = Vec::new();
        walk(&snap, &snap, 0, &mut |rel, path| {
            if is_split_file(rel, subset, split) {
                found.push(path.to_path_buf());
            }
        });
        if !found.is_empty() {
            found.sort();
            return Some(found);
        }
    }
    None
}

/// Calls `f(relative path, path)` for every file under `dir` (symlinks
/// followed, as the cache's snapshot files are links to blobs), 6 levels deep.
fn walk(root: &Path, dir: &Path, depth: usize, f: &mut dyn FnMut(&str, &Path)) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            if depth < 6 {
                walk(root, &path, depth + 1, f);
            }
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            f(&rel, &path);
        }
    }
}

/// Lists the subset's files on the hub and downloads the split's.
fn fetch_split_files(
    choice: &PublicDatasetChoice,
    hub: &HubConfig,
) -> Result<Vec<PathBuf>, String> {
    let repo = choice.dataset.repo();
    let split = choice.dataset.split();
    let listed = hub::list_files(hub, RepoKind::Dataset, repo, "main", &choice.subset)?;
    let mut wanted: Vec<String> = listed
        .into_iter()
        .filter(|f| is_split_file(f, &choice.subset, split))
        .collect();
    wanted.sort();
    let mut files = Vec::with_capacity(wanted.len());
    for f in &wanted {
        eprintln!("downloading {repo}/{f} into {}", hub.cache_dir.display());
        files.push(hub::download_file(hub, RepoKind::Dataset, repo, "main", f)?);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PublicDataset;
    use crate::tokens::hf::tests::{http_response, serve};

    fn fixture_parquet() -> Vec<u8> {
        let snaps = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/asr/hub/datasets--openslr--librispeech_asr/snapshots");
        let snap = fs::read_dir(snaps).unwrap().next().unwrap().unwrap().path();
        fs::read(snap.join("clean/test/0000.parquet")).unwrap()
    }

    fn choice() -> PublicDatasetChoice {
        PublicDatasetChoice {
            dataset: PublicDataset::Librispeech,
            subset: "clean".into(),
        }
    }

    /// Missing from the cache, reachable hub: the split's files are listed,
    /// downloaded into the cache layout and read; the next load finds them
    /// cached without asking the hub.
    #[test]
    fn a_missing_split_is_fetched_into_the_cache_layout() {
        let listing = br#"[{"type":"directory","path":"clean/test"},
            {"type":"file","path":"clean/test/0000.parquet","size":1},
            {"type":"file","path":"clean/train.100/0000.parquet","size":1}]"#;
        let (port, server) = serve(vec![
            http_response("200 OK", &[], listing),
            http_response(
                "200 OK",
                &[("X-Repo-Commit", "c0ffee42")],
                &fixture_parquet(),
            ),
        ]);
        let cache = tempfile::tempdir().unwrap();
        let hub = HubConfig {
            cache_dir: cache.path().to_path_buf(),
            endpoint: format!("http://127.0.0.1:{port}"),
            token: None,
            offline: false,
        };
        let ctl = BuildControl::default();
        let loaded = load(&choice(), &hub, None, u64::MAX, &ctl).unwrap();
        assert_eq!(loaded.entries.len(), 5);
        assert_eq!(
            (loaded.skipped_too_long, loaded.skipped_undecodable),
            (1, 1)
        );
        let heads = server.join().unwrap();
        assert!(
            heads[0].starts_with(
                "get /api/datasets/openslr/librispeech_asr/tree/main/clean?recursive=true "
            ),
            "{}",
            heads[0]
        );
        assert!(
            heads[1].starts_with(
                "get /datasets/openslr/librispeech_asr/resolve/main/clean/test/0000.parquet "
            ),
            "{}",
            heads[1]
        );
        let folder = cache.path().join("datasets--openslr--librispeech_asr");
        assert_eq!(
            fs::read_to_string(folder.join("refs/main")).unwrap(),
            "c0ffee42"
        );
        assert!(folder
            .join("snapshots/c0ffee42/clean/test/0000.parquet")
            .is_file());
        // Cached now: an unreachable hub is never asked.
        let offline = HubConfig {
            endpoint: "http://127.0.0.1:9".into(),
            ..hub
        };
        assert_eq!(
            load(&choice(), &offline, Some(2), u64::MAX, &ctl)
                .unwrap()
                .entries
                .len(),
            2
        );
    }

    #[test]
    fn the_memory_budget_stops_reading_rows() {
        let cache = tempfile::tempdir().unwrap();
        let dir = cache
            .path()
            .join("datasets--openslr--librispeech_asr/snapshots/abc/clean/test");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("0000.parquet"), fixture_parquet()).unwrap();
        let hub = HubConfig {
            cache_dir: cache.path().to_path_buf(),
            endpoint: "http://127.0.0.1:9".into(),
            token: None,
            offline: true,
        };
        // One ~3 s 16 kHz clip is ~130 KB of base64: 300 KB holds two.
        let loaded = load(&choice(), &hub, None, 300_000, &BuildControl::default()).unwrap();
        assert_eq!(loaded.entries.len(), 2);
        assert!(loaded.capped_by_budget);
        assert!(loaded
            .summary(&choice())
            .contains("stopped at the dataset memory budget"));
    }

    #[test]
    fn split_files_in_every_layout_the_hub_uses() {
        for rel in [
            "clean/test/0000.parquet",
            "clean/test-00000-of-00002.parquet",
            "clean/test.parquet",
            "data/clean/test/0001.parquet",
        ] {
            assert!(is_split_file(rel, "clean", "test"), "{rel}");
        }
        for rel in [
            "clean/train.100/0000.parquet",
            "other/test/0000.parquet",
            "clean/test/0000.arrow",
            "clean/testing-0.parquet",
            "clean/test/deeper/0000.parquet",
            "README.md",
        ] {
            assert!(!is_split_file(rel, "clean", "test"), "{rel}");
        }
    }
}
