//! Planning a run: how many worker threads, and what each does in each phase
//! (warmup, then profiling). Pure arithmetic on the configuration, done once
//! before any thread starts.

use super::schedule::ScheduleSpec;
use crate::config::{ProfileConfig, Shard};
use crate::sys::clock::Nanos;
use std::time::Duration;

/// What one phase (warmup or profiling) asks of one worker.
#[derive(Clone, Debug, Default)]
pub struct PhasePlan {
    pub warmup: bool,
    /// Closed loop: this worker's request count (None = until the duration ends).
    pub count: Option<u64>,
    /// Open loop: the run's arrival schedule; this worker sends arrivals
    /// `worker`, `worker + workers`, … of it.
    pub arrivals: Option<ScheduleSpec>,
    /// Connections this worker may hold (closed loop: exactly this many).
    pub connections: u32,
    /// Stop issuing requests this long after the phase start.
    pub duration: Option<Duration>,
    /// After `duration`, in-flight requests may finish for this long.
    pub grace: Duration,
    /// Share of requests (0..=1) cancelled `cancel_delay` after being sent.
    pub cancel_rate: f64,
    pub cancel_delay: Duration,
}

/// The slice of the run one worker executes.
#[derive(Clone, Debug)]
pub struct WorkerPlan {
    pub worker: u16,
    pub workers: u16,
    /// The run's shard this process is (`Shard::WHOLE` unsharded).
    pub shard: Shard,
    pub core: Option<core_affinity::CoreId>,
    pub phases: Vec<PhasePlan>,
}

/// Even split of `n` over `parts`: the first `n % parts` get one more.
fn share(n: u64, w: usize, parts: usize) -> u64 {
    n / parts as u64 + u64::from((w as u64) < n % parts as u64)
}

/// How many worker threads, and what each does in each phase (warmup, then
/// profiling). A shard plans its share of the connections and of the
/// closed-loop request counts; an open-loop schedule stays the whole run's
/// (its rate and count), each worker taking its lane of it.
pub fn plan(cfg: &ProfileConfig) -> Vec<WorkerPlan> {
    let mut cores = core_affinity::get_core_ids().unwrap_or_default();
    if let Some(cpus) = &cfg.cpus {
        // Validated: each is a core this process may use.
        cores = cpus
            .iter()
            .map(|&id| core_affinity::CoreId { id })
            .collect();
    }
    let n_cores = cores.len().max(1);
    let shard = cfg.shard.unwrap_or(Shard::WHOLE);
    let concurrency = shard.share(u64::from(cfg.concurrency.max(1))).max(1);
    let warmup_count = shard.share(cfg.warmup_request_count);
    let open_loop = cfg.request_rate.is_some();
    // Closed loop needs no more workers than connections; open loop with no
    // concurrency cap can use every core.
    let conc_cap = if open_loop && !cfg.concurrency_set {
        usize::MAX
    } else {
        concurrency as usize
    };
    let workers = n_cores
        .min(cfg.workers_max.unwrap_or(usize::MAX))
        .min(conc_cap)
        .max(1);
    let seed = cfg.random_seed.unwrap_or(0);
    let duration = cfg.benchmark_duration;
    let schedule = |count: Option<u64>| -> Option<ScheduleSpec> {
        Some(ScheduleSpec {
            pattern: cfg.arrival_pattern,
            rate: cfg.request_rate?,
            smoothness: cfg.arrival_smoothness,
            seed,
            count,
            horizon_ns: duration.map(|d| d.as_nanos() as Nanos),
        })
    };
    // With a duration and no --request-count (u64::MAX) only the duration
    // bounds the run; with both, whichever is reached first (as AIPerf).
    let profile_count = (cfg.request_count != u64::MAX).then_some(cfg.request_count);
    let profile_arrivals = schedule(profile_count);
    let shard_count = profile_count.map(|c| shard.share(c));
    let warmup_arrivals = (warmup_count > 0)
        .then(|| schedule(Some(cfg.warmup_request_count)))
        .flatten()
        .map(|s| ScheduleSpec {
            seed: seed.wrapping_add(1),
            horizon_ns: None,
            ..s
        });
    let conns = |w: usize| -> u32 {
        if open_loop && !cfg.concurrency_set {
            u32::MAX
        } else {
            share(concurrency, w, workers).max(1) as u32
        }
    };
    (0..workers)
        .map(|w| {
            let mut phases = Vec::new();
            if warmup_count > 0 {
                phases.push(PhasePlan {
                    warmup: true,
                    count: Some(share(warmup_count, w, workers)),
                    arrivals: warmup_arrivals,
                    connections: conns(w),
                    grace: cfg.benchmark_grace_period,
                    ..Default::default()
                });
            }
            phases.push(PhasePlan {
                warmup: false,
                count: shard_count.map(|c| share(c, w, workers)),
                arrivals: profile_arrivals,
                connections: conns(w),
                duration,
                grace: cfg.benchmark_grace_period,
                cancel_rate: cfg.request_cancellation_rate / 100.0,
                cancel_delay: cfg.request_cancellation_delay,
            });
            WorkerPlan {
                worker: w as u16,
                workers: workers as u16,
                shard,
                core: cores.get(w % n_cores).copied(),
                phases,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Shard;

    #[test]
    fn shards_plan_their_share_and_together_the_whole_run() {
        let mut cfg = crate::dataset::test_config();
        cfg.concurrency = 7;
        cfg.request_count = 10;
        cfg.warmup_request_count = 2;
        let mut conns = 0;
        let mut requests = 0;
        let mut warmups = 0;
        for index in 0..3 {
            cfg.shard = Some(Shard { index, count: 3 });
            let plans = plan(&cfg);
            let phase = |p: &WorkerPlan| p.phases.last().cloned().unwrap_or_default();
            let mine: u64 = plans.iter().map(|p| phase(p).count.unwrap_or(0)).sum();
            let c: u32 = plans.iter().map(|p| phase(p).connections).sum();
            // Shard 0 takes the remainders: 10 = 4 + 3 + 3, 7 = 3 + 2 + 2.
            assert_eq!(mine, [4, 3, 3][index as usize]);
            assert_eq!(c, [3, 2, 2][index as usize]);
            assert!(plans.iter().all(|p| p.shard == Shard { index, count: 3 }));
            requests += mine;
            conns += c;
            // 2 warmup requests: shards 0 and 1 one each, shard 2 none.
            let w: u64 = plans
                .iter()
                .filter(|p| p.phases.len() == 2)
                .map(|p| p.phases[0].count.unwrap_or(0))
                .sum();
            warmups += w;
        }
        assert_eq!((requests, conns, warmups), (10, 7, 2));
        // Open loop: every shard keeps the whole run's schedule (shard 2
        // has no warmup phase: its share of 2 is none).
        cfg.request_rate = Some(50.0);
        cfg.shard = Some(Shard { index: 2, count: 3 });
        let plans = plan(&cfg);
        assert_eq!(plans[0].phases.len(), 1);
        let arrivals = plans[0].phases[0].arrivals.expect("a schedule");
        assert_eq!((arrivals.rate, arrivals.count), (50.0, Some(10)));
    }
}
