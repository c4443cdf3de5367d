//! From the evidence to a cause. Pure: the same evidence always gives the same diagnosis.
//!
//! This module measures: it combines the end-of-step figures, the sampler's series and the
//! kernel's reports into one [`Diagnosis`] and the [`Facts`] the causes read. Which cause it
//! is, is decided in [`crate::causes`], each cause in its own file, in one order of precedence.
//! All thresholds are shares of the step's own limit or run time, never absolute sizes, so they
//! hold for a 100 MiB job and a 500 GiB one alike.

pub use crate::causes::{
    Block, Cause, Diagnosis, Growth, HeavyTask, Spike, Victim, Workers, percent,
};
use crate::causes::{Facts, decide, reached};
use crate::cgroup::{CgroupVersion, MemorySnapshot};
use crate::config::Config;
pub use crate::evidence::Evidence;
use crate::evidence::kernel::ProcessRow;
use crate::evidence::sampler::{Sample, Series};
use crate::step::StepContext;
use std::borrow::Cow;
use std::time::Duration;

/// The series as the classifier reads it: up to the kill (what follows is the aftermath), and
/// ending at the cgroup's own peak, which the sampler may have missed — a rise faster than one
/// sampling interval is seen only there. At a kill the kernel had already dropped what cache it
/// could, so that last point is all memory held.
fn series_until_kill(evidence: &Evidence, peak: Option<u64>) -> Option<Series> {
    let mut series = evidence.series.clone()?;
    let kill_at = evidence.kill_at?;
    series.samples.retain(|s| s.at <= kill_at);
    let last = series.samples.last()?.clone();
    if let Some(p) = peak
        && p > series.peak_held().map_or(0, |s| s.held())
    {
        series.samples.push(Sample {
            at: kill_at.max(last.at),
            usage: p,
            anon: None,
            file: None,
            shmem: None,
            ..last
        });
    }
    Some(series)
}

pub fn classify(
    snapshot: &MemorySnapshot,
    evidence: &Evidence,
    context: &StepContext,
    config: &Config,
) -> Diagnosis {
    let mut d = measure(snapshot, evidence, context);
    let facts = facts(snapshot, evidence, context, config, &d);
    decide(&facts, &mut d);
    d
}

/// Every figure of the step, before any cause is decided.
fn measure(snapshot: &MemorySnapshot, evidence: &Evidence, context: &StepContext) -> Diagnosis {
    let step = &snapshot.step;
    let job = snapshot.job.as_ref();
    let series = evidence.series.as_ref();
    // The sampler may have seen a higher point than the cgroup's own peak on kernels without it.
    let sampled_peak = series.and_then(|s| s.peak()).map(|s| s.usage);
    let peak = [step.peak, sampled_peak].into_iter().flatten().max();
    // The most page cache seen at any time: a lower bound of the cache at the peak.
    let cache_seen = series
        .into_iter()
        .flat_map(|s| s.samples.iter())
        .map(|s| s.usage - s.held())
        .chain(step.stat.reclaimable_file)
        .max();
    let peak_unreclaimable = unreclaimable(peak, cache_seen, series);
    // The job's peak, less the same page cache as the step's: the other steps' cache at that
    // moment is unknown, and a cache-heavy job must not look as if it reached its limit.
    let job_peak = job.and_then(|j| j.peak);
    let step_cache = peak
        .zip(peak_unreclaimable)
        .map_or(0, |(all, held)| all - held);
    let job_peak_unreclaimable = job_peak.map(|j| {
        j.saturating_sub(step_cache)
            .max(peak_unreclaimable.unwrap_or(0))
    });

    let oom_kills = match step.oom_kills {
        Some(kills) => kills.max(evidence.kernel.len() as u64),
        // Kernels before 4.13 (v1) count no kills: a SIGKILLed task at the limit is one.
        None if reached(peak_unreclaimable, snapshot.limit) => context.tasks_killed() as u64,
        None => evidence.kernel.len() as u64,
    };
    // With memory.oom.group the kernel ends the whole step after choosing one victim per OOM
    // event: the rest went down with it.
    let oom_group_kills = match snapshot.kills_whole_step {
        true => oom_kills.saturating_sub((evidence.kernel.len() as u64).max(1)),
        false => 0,
    };
    // What the victim held: its own pages and shared memory; its mapped files and libraries
    // (file-rss) are page cache, often charged to whoever read them first.
    let victim = evidence.kernel.last().map(|e| Victim {
        pid: e.victim_pid,
        name: e.victim_name.clone(),
        rss: [e.anon_rss, e.shmem_rss]
            .into_iter()
            .flatten()
            .reduce(|a, b| a + b),
    });
    // tmpfs files: at the end (if not deleted), in any sample, or in the kernel's own figures
    // at the kill (a burst of writes can be faster than a sample).
    let sampled_shmem = series.and_then(|s| s.samples.iter().filter_map(|x| x.shmem).max());
    let shmem_at_kill = evidence.kernel.iter().filter_map(|e| e.at_kill.shmem).max();
    Diagnosis {
        oom_kills,
        job_oom_kills: job.and_then(|j| j.oom_kills).unwrap_or(0).max(oom_kills),
        oom_group_kills,
        limit: snapshot.limit,
        throttled: step.throttled.unwrap_or(0),
        soft_limit: snapshot.soft_limit,
        peak,
        peak_unreclaimable,
        // Without memory.peak (v2, Linux < 5.19) the highest figure is the sampler's: the real
        // peak may have been higher. (memory.events cannot fill the gap: its `max` also counts
        // page cache reclaimed at the limit, and the job's counts any step's limit hits.)
        peak_is_lower_bound: snapshot.version == CgroupVersion::V2 && step.peak.is_none(),
        job_peak,
        job_peak_unreclaimable,
        job_limit: job.and_then(|j| j.limit).or(snapshot.limit),
        victim,
        kill_at: evidence.kill_at.filter(|_| oom_kills > 0),
        ended_well: context.ended_well(),
        slurm_allocation: context.step_allocation,
        block: snapshot.limit.and_then(|limit| block(evidence, limit)),
        shape: snapshot
            .limit
            .and_then(|limit| shape(evidence, limit, oom_kills > 0)),
        still_rising: snapshot
            .limit
            .filter(|_| oom_kills > 0)
            .and_then(|limit| still_rising(evidence, limit)),
        shmem: [step.stat.shmem, sampled_shmem, shmem_at_kill]
            .into_iter()
            .flatten()
            .max(),
        ..Diagnosis::new(Cause::None)
    }
}

/// The samples taken up to the kill (all of them when nothing was killed).
fn until_kill(evidence: &Evidence) -> impl Iterator<Item = &Sample> {
    let until = evidence.kill_at.unwrap_or(Duration::MAX);
    evidence
        .series
        .iter()
        .flat_map(|s| s.samples.iter())
        .take_while(move |s| s.at <= until)
}

/// The highest use of memory the kernel could not drop: the most any sample held, or the peak
/// less the most page cache ever seen (the cache at the peak was at least that… or the peak
/// was lower), whichever is higher.
fn unreclaimable(
    peak: Option<u64>,
    cache_seen: Option<u64>,
    series: Option<&Series>,
) -> Option<u64> {
    let peak = peak?;
    let held_in_samples = series.and_then(|s| s.peak_held()).map(|s| s.held());
    let beside_cache = peak.saturating_sub(cache_seen.unwrap_or(0));
    Some(held_in_samples.unwrap_or(0).max(beside_cache).min(peak))
}

/// A large block being filled when the kernel killed: the killed process had reserved at
/// least half the limit more than it held (total-vm less its RSS, in the kernel's report), and
/// the sampler saw it reserve that much less before (so it is new, not the baseline of a
/// runtime that reserves much and uses little). The block is the rise of its reserved size;
/// what the step held before it is the most any sample held while the block did not exist.
fn block(evidence: &Evidence, limit: u64) -> Option<Block> {
    let kill = evidence.kernel.first()?;
    let total_vm = kill.total_vm?;
    let rss = [kill.anon_rss, kill.file_rss, kill.shmem_rss]
        .into_iter()
        .flatten()
        .sum::<u64>();
    if total_vm.saturating_sub(rss) < limit / 2 {
        return None;
    }
    let seen: Vec<(&Sample, u64)> = until_kill(evidence)
        // The same program: a shell that exec'd it had the same pid and a tiny size.
        .filter_map(|s| {
            let p = s.top.iter().find(|p| p.pid == kill.victim_pid)?;
            (p.name == kill.victim_name).then_some((s, p.vm))
        })
        .filter(|&(_, vm)| vm > 0)
        .collect();
    let &(first, least) = seen.iter().min_by_key(|&&(_, vm)| vm)?;
    let size = total_vm.saturating_sub(least);
    let held_before = seen
        .iter()
        .filter(|&&(_, vm)| vm < least + size / 2)
        .map(|(s, _)| s.held())
        .max()?;
    // Really filled: its resident size rose by a good part of the limit since (a reservation
    // that is never touched — a GPU runtime's, a thread's arena — is no evidence), and no more
    // than a few times the limit (beyond that, doubling is the honest next step).
    let rss_before = first
        .top
        .iter()
        .find(|p| p.pid == kill.victim_pid)
        .map_or(0, |p| p.rss);
    let filled = rss.saturating_sub(rss_before) >= limit / 4;
    (size >= limit / 2 && size <= 4 * limit && filled).then_some(Block { size, held_before })
}

/// Memory rising in a straight line (R² ≥ 0.9) by at least half the limit, over at least
/// 2 s and 4 samples, up to the kill: bytes per minute.
fn still_rising(evidence: &Evidence, limit: u64) -> Option<u64> {
    // Only a kill has a moment at which memory was still rising.
    evidence.kill_at?;
    let samples: Vec<Sample> = until_kill(evidence)
        .skip_while(|s| !crate::causes::share(s.held(), limit, 5))
        .cloned()
        .collect();
    let (first, last) = (samples.first()?, samples.last()?);
    let rise = last.held().saturating_sub(first.held());
    if samples.len() < 4
        || last.at.saturating_sub(first.at) < Duration::from_secs(2)
        || rise < limit / 2
    {
        return None;
    }
    let (slope, r2) = crate::causes::steady_growth::linear_fit(&samples);
    (slope > 0.0 && r2 >= 0.9).then_some((slope * 60.0) as u64)
}

/// Columns of the memory picture.
const PICTURE_COLUMNS: usize = 24;

/// Memory held over the run up to the kill, in eighths of the limit per column (the most held
/// in each column's time), for a run long enough to have a shape; a kill ends at the limit.
fn shape(evidence: &Evidence, limit: u64, killed: bool) -> Option<(Vec<u8>, Duration)> {
    let samples: Vec<&Sample> = until_kill(evidence).collect();
    let (first, last) = (samples.first()?.at, samples.last()?.at);
    let span = last.checked_sub(first)?;
    if samples.len() < 8 || span < Duration::from_secs(2) {
        return None;
    }
    let eighths = |held: u64| ((held as u128 * 8).div_ceil(limit.max(1) as u128)).clamp(1, 8) as u8;
    let mut levels = vec![0u8; PICTURE_COLUMNS];
    for s in &samples {
        // Samples come in time order; a record that says otherwise is clamped, not trusted.
        let column = (s.at.saturating_sub(first).as_secs_f64() / span.as_secs_f64()
            * (PICTURE_COLUMNS - 1) as f64)
            .round() as usize;
        let column = column.min(PICTURE_COLUMNS - 1);
        levels[column] = levels[column].max(eighths(s.held()));
    }
    // A column no sample fell in shows the level before it.
    for i in 1..levels.len() {
        if levels[i] == 0 {
            levels[i] = levels[i - 1];
        }
    }
    if killed {
        levels[PICTURE_COLUMNS - 1] = 8;
    }
    Some((levels, span))
}

fn facts<'a>(
    snapshot: &'a MemorySnapshot,
    evidence: &'a Evidence,
    context: &'a StepContext,
    config: &'a Config,
    d: &Diagnosis,
) -> Facts<'a> {
    let step = &snapshot.step;
    let job = snapshot.job.as_ref();
    // Without the kernel's peak, or without its report of a kill (a log that wrapped, a reader
    // that could not open it), the limit counters say whether the job's own limits were hit: a
    // limit above the job leaves them at 0. A kill is never blamed on the node for want of a
    // report.
    let limit_hit = [step.limit_hits, job.and_then(|j| j.limit_hits)]
        .into_iter()
        .any(|n| n.unwrap_or(0) > 0);
    let report_missing = d.oom_kills > 0 && evidence.kernel.is_empty();
    let job_reached = reached(d.job_peak_unreclaimable, d.job_limit)
        || reached(d.peak_unreclaimable, d.limit)
        || (d.peak_is_lower_bound || d.peak.is_none() || report_missing) && limit_hit;
    // Of several kills, the fullest table counts: later ones list what was left after the
    // first victim, whose memory may still be charged while it exits.
    let at_kill: Option<&[ProcessRow]> = evidence
        .kernel
        .iter()
        .filter(|e| !e.processes.is_empty())
        .max_by_key(|e| e.processes.iter().map(|p| p.rss).sum::<u64>())
        .map(|e| e.processes.as_slice());
    let processes_held = evidence.series.as_ref().and_then(|s| {
        s.samples
            .iter()
            .filter(|x| !x.quiet)
            .map(|x| x.top.iter().map(|p| p.rss).sum::<u64>())
            .max()
    });
    let cache_at_kill = evidence
        .kernel
        .iter()
        .filter_map(|e| Some(e.at_kill.file?.saturating_sub(e.at_kill.shmem.unwrap_or(0))))
        .max();
    Facts {
        snapshot,
        cache_at_kill,
        context,
        config,
        // Copied only when it is cut at a kill; otherwise read as it is.
        series: series_until_kill(evidence, step.peak)
            .map(Cow::Owned)
            .or_else(|| evidence.series.as_ref().map(Cow::Borrowed)),
        at_kill,
        kernel_reports: evidence.kernel.len(),
        kernel_says_node: evidence.kernel.iter().any(|e| e.beyond_job),
        job_reached,
        processes_held,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::CgroupFigures;
    use crate::evidence::kernel::OomEvent;
    use crate::evidence::sampler::ProcessSize;

    const MIB: u64 = 1 << 20;

    /// A sample of one process (pid 7) holding `held` with `vm` reserved.
    fn sample(ms: u64, held: u64, vm: u64) -> Sample {
        Sample {
            top: vec![ProcessSize {
                pid: 7,
                name: "python3".into(),
                rss: held,
                vm,
            }],
            ..Sample::usage_only(Duration::from_millis(ms), held)
        }
    }

    fn killed_with(total_vm: u64, rss: u64, samples: Vec<Sample>) -> Evidence {
        Evidence {
            series: Some(Series {
                samples,
                ..Series::default()
            }),
            kernel: vec![OomEvent {
                victim_pid: 7,
                victim_name: "python3".into(),
                total_vm: Some(total_vm),
                anon_rss: Some(rss),
                ..OomEvent::default()
            }],
            kill_at: Some(Duration::from_secs(13)),
        }
    }

    #[test]
    fn a_block_reserved_whole_and_filled_when_killed_is_measured_from_the_reservation() {
        // 34 MiB held for 12 s, then a 700 MiB array reserved and filled: the last sample
        // caught it half-filled. Killed at 300 MiB with 761 MiB reserved.
        let mut samples: Vec<Sample> = (0..48)
            .map(|q| sample(q * 250, 34 * MIB, 61 * MIB))
            .collect();
        samples.push(sample(12_250, 200 * MIB, 761 * MIB));
        let evidence = killed_with(761 * MIB, 300 * MIB, samples);
        let b = block(&evidence, 300 * MIB).expect("a block");
        assert_eq!((b.size, b.held_before), (700 * MIB, 34 * MIB));
    }

    #[test]
    fn a_runtime_that_reserves_much_from_its_start_has_no_block() {
        // A JVM-like process: 4 GiB reserved from the first sample, growing in place.
        let samples = (0..48)
            .map(|q| sample(q * 250, (10 + q * 6) * MIB, 4096 * MIB))
            .collect();
        let evidence = killed_with(4096 * MIB, 300 * MIB, samples);
        assert_eq!(block(&evidence, 300 * MIB), None);
    }

    #[test]
    fn a_process_growing_piece_by_piece_has_no_block() {
        // Reserved size follows what it holds: nothing unfilled at the kill.
        let samples = (0..48)
            .map(|q| sample(q * 250, (10 + q * 6) * MIB, (40 + q * 6) * MIB))
            .collect();
        let evidence = killed_with(330 * MIB, 300 * MIB, samples);
        assert_eq!(block(&evidence, 300 * MIB), None);
    }

    #[test]
    fn a_reservation_that_is_never_filled_or_is_huge_is_no_block() {
        let calm = |vm| (0..48).map(move |q| sample(q * 250, 34 * MIB, vm));
        // A GPU runtime reserving 2 GiB late, resident size unchanged: no block.
        let late: Vec<Sample> = calm(61 * MIB).collect();
        let evidence = killed_with(2109 * MIB, 40 * MIB, late);
        assert_eq!(block(&evidence, 300 * MIB), None);
        // Filled, but 20 times the limit: doubling, not a guess that large.
        let evidence = killed_with(6061 * MIB, 300 * MIB, calm(61 * MIB).collect());
        assert_eq!(block(&evidence, 300 * MIB), None);
    }

    fn snapshot(limit: u64, peak: u64, cache_at_end: u64, oom_kills: u64) -> MemorySnapshot {
        let figures = CgroupFigures {
            limit: Some(limit),
            peak: Some(peak),
            oom_kills: Some(oom_kills),
            stat: crate::cgroup::MemoryStat {
                reclaimable_file: Some(cache_at_end),
                ..Default::default()
            },
            ..CgroupFigures::default()
        };
        MemorySnapshot {
            version: CgroupVersion::V1,
            step: figures.clone(),
            job: Some(figures),
            limit: Some(limit),
            soft_limit: None,
            tasks: Vec::new(),
            kills_whole_step: false,
        }
    }

    fn with_cache(ms: u64, usage: u64, cache: u64) -> Sample {
        Sample {
            file: Some(cache),
            shmem: Some(0),
            ..Sample::usage_only(Duration::from_millis(ms), usage)
        }
    }

    fn batch(exit_statuses: Vec<i32>) -> StepContext {
        StepContext {
            exit_statuses,
            step_allocation: Some(200 * MIB),
            ..StepContext::new(crate::step::StepId {
                job: 1,
                step: crate::step::StepKind::Batch,
            })
        }
    }

    fn series_of(samples: Vec<Sample>) -> Evidence {
        Evidence {
            series: Some(Series {
                samples,
                ..Series::default()
            }),
            ..Evidence::default()
        }
    }

    #[test]
    fn a_file_streamed_through_the_page_cache_is_no_near_miss() {
        // 200M asked; the cache filled the limit while the program held 5 MiB; the file was
        // deleted at the end, so the end figures show no cache.
        let samples = (0..40)
            .map(|q| with_cache(q * 250, 195 * MIB, 190 * MIB))
            .collect();
        let d = classify(
            &snapshot(200 * MIB, 200 * MIB, 0, 0),
            &series_of(samples),
            &batch(vec![0]),
            &Config::default(),
        );
        assert_eq!(d.cause, Cause::None, "{d:#?}");
        assert_eq!(d.peak_unreclaimable, Some(10 * MIB));
    }

    #[test]
    fn memory_held_before_the_cache_filled_up_is_still_a_near_miss() {
        let mut samples: Vec<Sample> = (0..20).map(|q| with_cache(q * 250, 190 * MIB, 0)).collect();
        samples.extend((20..40).map(|q| with_cache(q * 250, 195 * MIB, 190 * MIB)));
        let d = classify(
            &snapshot(200 * MIB, 200 * MIB, 0, 0),
            &series_of(samples),
            &batch(vec![0]),
            &Config::default(),
        );
        assert_eq!(d.cause, Cause::NearMiss, "{d:#?}");
    }

    #[test]
    fn a_step_killed_by_sigkill_after_writing_files_is_not_slurms_memory_check() {
        // SIGKILLed (a time limit, a user), no OOM kill: 150 MiB of its 160 MiB peak was cache.
        let samples = (0..40)
            .map(|q| with_cache(q * 250, 150 * MIB, 140 * MIB))
            .collect();
        let d = classify(
            &snapshot(1024 * MIB, 160 * MIB, 140 * MIB, 0),
            &series_of(samples),
            &batch(vec![9]),
            &Config::default(),
        );
        assert_ne!(d.cause, Cause::OverMemoryKill, "{d:#?}");
    }

    #[test]
    fn a_kill_at_the_jobs_limit_whose_kernel_report_was_missed_is_not_the_nodes() {
        // Killed with half its memory in page cache; the kernel log had no report of it, but
        // the job's limit counter says its own limit was hit.
        let samples: Vec<Sample> = (0..40)
            .map(|q| with_cache(q * 250, 195 * MIB, 100 * MIB))
            .collect();
        let mut killed = snapshot(200 * MIB, 200 * MIB, 0, 1);
        killed.job.as_mut().unwrap().limit_hits = Some(3);
        let d = classify(
            &killed,
            &series_of(samples.clone()),
            &batch(vec![9]),
            &Config::default(),
        );
        assert!(d.cause.is_kill() && d.cause != Cause::NodeOom, "{d:#?}");
        // No hit of the job's own limit: memory ran short elsewhere.
        let elsewhere = snapshot(200 * MIB, 200 * MIB, 0, 1);
        let d = classify(
            &elsewhere,
            &series_of(samples),
            &batch(vec![9]),
            &Config::default(),
        );
        assert_eq!(d.cause, Cause::NodeOom, "{d:#?}");
    }

    fn kill_with_table(rows: &[(u32, &str, u64)], victim: u32) -> Evidence {
        use crate::evidence::kernel::ProcessRow;
        let name = rows.iter().find(|r| r.0 == victim).unwrap().1;
        Evidence {
            kernel: vec![OomEvent {
                victim_pid: victim,
                victim_name: name.into(),
                processes: rows
                    .iter()
                    .map(|&(pid, name, rss)| ProcessRow {
                        pid,
                        name: name.into(),
                        rss,
                    })
                    .collect(),
                ..OomEvent::default()
            }],
            ..Evidence::default()
        }
    }

    #[test]
    fn a_pool_killed_at_once_is_told_from_the_kernels_list_without_samples() {
        let rows = [
            (10, "slurmstepd", 4 * MIB),
            (11, "bash", 3 * MIB),
            (12, "python3", 30 * MIB),
            (13, "python3", 41 * MIB),
            (14, "python3", 40 * MIB),
            (15, "python3", 42 * MIB),
            (16, "python3", 39 * MIB),
        ];
        let context = StepContext {
            cpus_per_task: Some(2),
            ..batch(vec![9])
        };
        let d = classify(
            &snapshot(200 * MIB, 200 * MIB, 0, 1),
            &kill_with_table(&rows, 15),
            &context,
            &Config::default(),
        );
        assert_eq!(d.cause, Cause::WorkerMultiplication, "{d:#?}");
        let w = d.workers.unwrap();
        assert!(w.at_kill && w.count >= 4 && w.cpus == Some(2), "{w:?}");
    }

    #[test]
    fn one_big_process_beside_idle_workers_is_not_worker_multiplication() {
        // A parent that grew to 300 MiB (killed) and eight idle forked workers of 40 MiB.
        let mut rows = vec![(20, "python3", 300 * MIB)];
        rows.extend((21..29).map(|pid| (pid, "python3", 40 * MIB)));
        let d = classify(
            &snapshot(512 * MIB, 512 * MIB, 0, 1),
            &kill_with_table(&rows, 20),
            &batch(vec![9]),
            &Config::default(),
        );
        assert_ne!(d.cause, Cause::WorkerMultiplication, "{d:#?}");
    }

    #[test]
    fn a_shell_that_execs_the_program_is_no_baseline() {
        // `sh -c 'exec python3 …'`: the pid was sh (2 MiB reserved) before it became python3.
        let mut samples: Vec<Sample> = (0..4)
            .map(|q| {
                let mut s = sample(q * 250, MIB, 2 * MIB);
                s.top[0].name = "sh".into();
                s
            })
            .collect();
        samples.push(sample(1000, 150 * MIB, 520 * MIB));
        let evidence = killed_with(520 * MIB, 200 * MIB, samples);
        assert_eq!(block(&evidence, 200 * MIB), None);
    }
}
