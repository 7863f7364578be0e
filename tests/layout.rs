//! The crate's layout rules, checked on the source tree itself:
//! - every module imports only from modules of an earlier stage (`STAGES`),
//! - no import cycles between the files of a module directory (a child that
//!   reaches back up into its parent while the parent uses the child is one),
//! - no source file over `MAX_CODE_LINES` lines of non-test code.
//!
//! Imports are read from `crate::…` and `super::…` paths in the code above
//! each file's `#[cfg(test)]` module (tests may use any helper).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Top-level modules in stage order: each may use only those before it.
/// `mock` is the server side and shares only the low-level modules.
const STAGES: &[&str] = &[
    "sys",
    "audio_file",
    "record",
    "config",
    "tls",
    "tokens",
    "dataset",
    "http",
    "openai",
    "engine",
    "metrics",
    "report",
    "servermetrics",
    "collect",
    "cli",
    "profile",
    "plot",
    "sweep",
    "merge",
];
const MOCK_MAY_USE: &[&str] = &["sys", "audio_file"];
const MAX_CODE_LINES: usize = 800;

/// A source file as a module path (`engine::worker`; `""` for lib.rs).
struct SourceFile {
    module: Vec<String>,
    /// Code above the first top-level `#[cfg(test)]`.
    code: String,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn load_sources() -> Vec<SourceFile> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let mut files = Vec::new();
    for p in paths {
        let rel = p.strip_prefix(&src).expect("under src");
        let mut module: Vec<String> = rel
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        match module.last().map(String::as_str) {
            Some("main") if module.len() == 1 => continue,
            Some("lib") if module.len() == 1 => module.clear(),
            Some("mod") => {
                module.pop();
            }
            // Test-only files hold no product code.
            Some("tests") => continue,
            _ => {}
        }
        let text = fs::read_to_string(&p).expect("read source");
        let code = match text.find("\n#[cfg(test)]") {
            Some(i) => text[..i].to_string(),
            None => text,
        };
        files.push(SourceFile { module, code });
    }
    files
}

/// Every module path named after `crate::` or `super::` in `code`, as
/// segment lists (`use crate::{a, b::c}` yields `a` and `b::c`), with
/// `super` resolved against `module`. Comments are skipped.
fn referenced_paths(module: &[String], code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // Comments out, lines joined: a `use` group may span lines.
    let text: String = code
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    {
        let line = text.as_str();
        for (prefix, base) in [("crate::", Vec::new()), ("super::", parent(module))] {
            let mut rest = line;
            while let Some(i) = rest.find(prefix) {
                // `super::` inside `crate::x::super::`-like text is not a path start.
                let before = rest[..i].chars().last();
                rest = &rest[i + prefix.len()..];
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                let mut base = base.clone();
                let mut tail = rest;
                // super::super::x
                while let Some(t) = tail.strip_prefix("super::") {
                    base = parent(&base);
                    tail = t;
                }
                for path in expand(tail) {
                    let mut full = base.clone();
                    full.extend(path);
                    out.push(full);
                }
            }
        }
    }
    out
}

/// The paths of a use tree at the start of `tail`: `a::b::C`, or groups
/// such as `{x, y::{z, w}}`, each as its list of segments.
fn expand(tail: &str) -> Vec<Vec<String>> {
    let mut pos = 0;
    use_tree(tail.as_bytes(), &mut pos)
}

fn skip_space(b: &[u8], pos: &mut usize) {
    while *pos < b.len() && b[*pos].is_ascii_whitespace() {
        *pos += 1;
    }
}

fn use_tree(b: &[u8], pos: &mut usize) -> Vec<Vec<String>> {
    skip_space(b, pos);
    if b.get(*pos) == Some(&b'{') {
        *pos += 1;
        let mut all = Vec::new();
        loop {
            skip_space(b, pos);
            match b.get(*pos) {
                None => return all,
                Some(b'}') => {
                    *pos += 1;
                    return all;
                }
                Some(b',') => *pos += 1,
                Some(_) => {
                    let before = *pos;
                    all.extend(use_tree(b, pos));
                    if *pos == before {
                        // Not a path (`*`, `self as x`…): skip one byte.
                        *pos += 1;
                    }
                }
            }
        }
    }
    let start = *pos;
    while *pos < b.len() && (b[*pos].is_ascii_alphanumeric() || b[*pos] == b'_') {
        *pos += 1;
    }
    if *pos == start {
        return Vec::new();
    }
    let seg = String::from_utf8_lossy(&b[start..*pos]).into_owned();
    if b[*pos..].starts_with(b"::") {
        *pos += 2;
        let rest = use_tree(b, pos);
        if rest.is_empty() {
            return vec![vec![seg]];
        }
        return rest
            .into_iter()
            .map(|p| std::iter::once(seg.clone()).chain(p).collect())
            .collect();
    }
    vec![vec![seg]]
}

fn parent(module: &[String]) -> Vec<String> {
    module[..module.len().saturating_sub(1)].to_vec()
}

/// The longest prefix of `path` that is a module of the crate.
fn resolve(modules: &BTreeSet<Vec<String>>, path: &[String]) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
}

fn stage(top: &str) -> Option<usize> {
    STAGES.iter().position(|s| *s == top)
}

#[test]
fn modules_import_only_from_earlier_stages() {
    let files = load_sources();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    let mut violations = Vec::new();
    for f in files.iter().filter(|f| !f.module.is_empty()) {
        let top = f.module[0].as_str();
        for path in referenced_paths(&f.module, &f.code) {
            let Some(target) = resolve(&modules, &path) else {
                continue;
            };
            let Some(other) = target.first().map(String::as_str) else {
                continue;
            };
            if other == top {
                continue;
            }
            let allowed = if top == "mock" {
                MOCK_MAY_USE.contains(&other)
            } else {
                match (stage(top), stage(other)) {
                    (Some(a), Some(b)) => b < a,
                    _ => false,
                }
            };
            if !allowed {
                violations.push(format!("{} uses {}", f.module.join("::"), path.join("::")));
            }
        }
    }
    violations.sort();
    violations.dedup();
    assert!(
        violations.is_empty(),
        "imports against the stage order {STAGES:?}:\n{}",
        violations.join("\n")
    );
}

#[test]
fn no_import_cycles_between_files() {
    let files = load_sources();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    // File-level graph: module -> modules it names (itself excluded).
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for f in &files {
        let deps = graph.entry(f.module.clone()).or_default();
        for path in referenced_paths(&f.module, &f.code) {
            if let Some(t) = resolve(&modules, &path) {
                if t != f.module && !t.is_empty() {
                    deps.insert(t);
                }
            }
        }
    }
    // A parent re-exporting or calling into a child depends on it; find any
    // cycle with a depth-first search.
    fn visit(
        n: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
        cycles: &mut Vec<String>,
    ) {
        match state.get(n) {
            Some(2) => return,
            Some(1) => {
                let from = stack.iter().position(|s| s == n).unwrap_or(0);
                let names: Vec<String> = stack[from..]
                    .iter()
                    .chain(std::iter::once(n))
                    .map(|m| m.join("::"))
                    .collect();
                cycles.push(names.join(" -> "));
                return;
            }
            _ => {}
        }
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for d in graph.get(n).into_iter().flatten() {
            visit(d, graph, state, stack, cycles);
        }
        stack.pop();
        state.insert(n.clone(), 2);
    }
    let mut state = BTreeMap::new();
    let mut cycles = Vec::new();
    for n in graph.keys() {
        visit(n, &graph, &mut state, &mut Vec::new(), &mut cycles);
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn no_source_file_is_too_long() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let mut long = Vec::new();
    for p in paths {
        let text = fs::read_to_string(&p).expect("read source");
        let code = text.split("\n#[cfg(test)]").next().unwrap_or("");
        let is_tests_file = p.file_name().is_some_and(|n| n == "tests.rs");
        let n = code.lines().count();
        if !is_tests_file && n > MAX_CODE_LINES {
            long.push(format!("{}: {n} lines of non-test code", p.display()));
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_CODE_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checker_sees_imports() {
    // The parser itself, on known input, so the checks above cannot pass vacuously.
    let m = vec!["engine".to_string(), "worker".to_string()];
    let code = "use crate::{record::{A, B},\n    units};\nuse super::exchange::X;\nlet t = crate::sys::clock::now();\n// crate::ignored\n";
    let paths: Vec<String> = referenced_paths(&m, code)
        .into_iter()
        .map(|p| p.join("::"))
        .collect();
    assert!(paths.contains(&"record::A".to_string()), "{paths:?}");
    assert!(paths.contains(&"record::B".to_string()), "{paths:?}");
    assert!(paths.contains(&"units".to_string()), "{paths:?}");
    assert!(
        paths.contains(&"engine::exchange::X".to_string()),
        "{paths:?}"
    );
    assert!(paths.contains(&"sys::clock::now".to_string()), "{paths:?}");
    assert!(!paths.iter().any(|p| p.contains("ignored")), "{paths:?}");
    assert!(load_sources().len() > 20);
}
