//! The audioperf-only flags that choose how the client uses the host:
//! `--cpus` (the worker cores), `--zero-copy` and `--rx-stamps` (the kernel
//! I/O paths).

use super::ProfileArgs;
use crate::config::{FlagError, RxStamps, ZeroCopy};

/// `--cpus` names cores this process may run on; `--zero-copy` sends need
/// the reads that drain their notifications (`--rx-stamps kernel`).
pub(super) fn check(a: &ProfileArgs) -> Result<(), FlagError> {
    if let Some(cpus) = &a.cpus {
        let allowed: Vec<usize> = core_affinity::get_core_ids()
            .unwrap_or_default()
            .iter()
            .map(|c| c.id)
            .collect();
        if let Some(bad) = cpus.0.iter().find(|c| !allowed.contains(c)) {
            return Err(FlagError::new(
                "--cpus",
                format!(
                    "core {bad} is not one this process may run on (allowed: {})",
                    cpu_list(&allowed)
                ),
            ));
        }
    }
    if a.zero_copy == Some(ZeroCopy::On) && a.rx_stamps == Some(RxStamps::User) {
        return Err(FlagError::new(
            "--zero-copy",
            "on needs --rx-stamps kernel: those reads also drain the kernel's zero-copy notifications",
        ));
    }
    Ok(())
}

/// Cores as `taskset -c` lists them: `0-3,6`.
pub(super) fn cpu_list(cpus: &[usize]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            sorted[i].to_string()
        } else {
            format!("{}-{}", sorted[i], sorted[j])
        });
        i = j + 1;
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(",")
    }
}
