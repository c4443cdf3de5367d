//! The diagnosis in words, for a student reading slurm-%j.err (docs/diagnosis-style.md):
//! what happened, why (with the evidence), what to do (the exact line), then `cause: <id>`.
//! Every line fits 80 columns; the advice follows the project's seeds (docs/causes.md).

use crate::classify::{Cause, Diagnosis, percent};
use crate::config::Config;
use crate::options::Mode;
use crate::recommend::{Basis, Certainty, Flag, Recommendation};
use crate::size::{duration, human};
use crate::step::{StepContext, StepKind};

/// First word of every report, so it stands out in a long log and can be searched for.
pub const PREFIX: &str = "oom-explain:";

/// Whether this mode wants a report for this cause.
pub fn wanted(mode: Mode, cause: Cause) -> bool {
    match mode {
        Mode::Oom => cause.is_kill(),
        Mode::Auto => cause != Cause::None,
        Mode::Always => true,
    }
}

/// The report, one string per line.
pub fn render(
    diagnosis: &Diagnosis,
    recommendation: Option<&Recommendation>,
    context: &StepContext,
    site: &Config,
) -> Vec<String> {
    let d = diagnosis;
    let mut out = Vec::new();
    let step = step_name(context);
    let after = context
        .elapsed
        .map(|t| format!(" after {}", duration(t)))
        .unwrap_or_default();
    let limit = d.limit.or(d.job_limit).unwrap_or(0);
    // Without the kernel's own peak, the highest figure seen is only a lower bound.
    let amount = |bytes: u64| match d.peak_is_lower_bound {
        true => format!("at least {}", human(bytes)),
        false => human(bytes),
    };
    let of_limit = |peak: u64, limit: u64| match percent(peak, limit) {
        Some(pc) => format!("{} of {} ({pc} %)", amount(peak), human(limit)),
        None => amount(peak),
    };
    let peak_phrase = |lead: &str| match (d.peak, d.limit) {
        (Some(p), Some(l)) => format!("{lead} {}", of_limit(p, l)),
        (Some(p), None) => format!("{lead} {}, no limit", amount(p)),
        _ => "its peak is unknown".into(),
    };
    let killed = |n: u64| {
        let chosen = n.saturating_sub(d.oom_group_kills);
        let first = match &d.victim {
            Some(v) if !v.name.is_empty() && chosen == 1 => format!("1 process ({})", v.name),
            _ => processes(chosen),
        };
        match d.oom_group_kills {
            0 => first,
            rest => format!(
                "{first}, and with it the step's {} other {} (--oom-kill-step)",
                rest,
                if rest == 1 { "process" } else { "processes" }
            ),
        }
    };
    let mut push = |line: String| out.push(line);

    match d.cause {
        Cause::UnderAllocation => {
            push(format!("{PREFIX} {step} ran out of memory."));
            push(format!(
                "  What happened: it used all {} it was given{after}.",
                human(limit)
            ));
            push(format!(
                "    The Linux kernel then killed {} (exit code 137).",
                killed(d.oom_kills)
            ));
            push("  Why: the job asked for less memory than this step needs.".into());
            if recommendation.is_some_and(|r| r.basis.certainty() == Certainty::Estimated) {
                push("    Use cannot pass the limit, but the kill left evidence of how".into());
                push("    much more it needed.".into());
            } else {
                push(format!(
                    "    Use cannot pass the limit, so how much more it needed is unknown: \
                     more than {}.",
                    human(limit)
                ));
            }
        }
        Cause::LoadSpike => {
            let s = d.spike.expect("a load spike has its facts");
            push(format!("{PREFIX} {step} ran out of memory."));
            push(format!(
                "  What happened: after {} at about {}, its memory shot up",
                duration(s.after),
                human(s.before)
            ));
            push(format!(
                "    to the {} limit within {}.",
                human(limit),
                duration(s.rise)
            ));
            push(format!("    The kernel killed {}.", killed(d.oom_kills)));
            push("  Why: a sudden rise like this is typical of loading a large input whole".into());
            push(
                "    (e.g. pandas.read_csv): in memory, data takes several times its size.".into(),
            );
            push(
                "  What to do: read the input in pieces (read_csv(..., chunksize=...)), or".into(),
            );
            push("    use an out-of-core library (Dask, Polars).".into());
        }
        Cause::WorkerMultiplication => {
            let w = d
                .workers
                .as_ref()
                .expect("worker multiplication has its facts");
            let name = if w.name.is_empty() {
                String::new()
            } else {
                format!(" ({})", w.name)
            };
            push(format!("{PREFIX} {step} ran out of memory."));
            push(format!(
                "  What happened: at its peak, {} processes{name} of about {}",
                w.count,
                human(w.each)
            ));
            push(format!(
                "    each shared its {} limit; the kernel killed {}.",
                human(limit),
                processes(d.oom_kills)
            ));
            push("  Why: each worker holds its own copy of the data (a large object loaded".into());
            push("    before the pool was created is copied into every worker).".into());
            if let Some(cpus) = context.cpus_per_task.filter(|&c| w.count > c) {
                push(format!(
                    "    {} workers share {cpus} CPU(s) (--cpus-per-task={cpus}).",
                    w.count
                ));
            }
            push(
                "  What to do: load large data inside each worker, not before creating the".into(),
            );
            push("    pool, and start no more workers than --cpus-per-task.".into());
        }
        Cause::SteadyGrowth => {
            let g = d.growth.expect("steady growth has its facts");
            push(format!("{PREFIX} {step} ran out of memory."));
            push(format!(
                "  What happened: its memory grew steadily, about {}/min for {},",
                human(g.per_minute),
                duration(g.over)
            ));
            push(format!("    until it reached the {} limit.", human(limit)));
            push(format!("    The kernel killed {}.", killed(d.oom_kills)));
            push(
                "  Why: something keeps everything it makes: a leak, or a cache warming up".into(),
            );
            push("    (a list or dict that only grows, all results kept until the end).".into());
            push(
                "  What to do: write results out as you go, cap the cache, or stream the data"
                    .into(),
            );
            push("    from disk. More memory only delays the kill.".into());
        }
        Cause::Tmpfs => {
            push(format!("{PREFIX} {step} ran out of memory."));
            push(format!(
                "  What happened: files in /dev/shm (or another tmpfs) held about {} of its",
                human(d.shmem.unwrap_or(0))
            ));
            push(format!(
                "    {} limit. The kernel killed {}.",
                human(limit),
                killed(d.oom_kills)
            ));
            push(
                "  Why: files in /dev/shm live in memory and count against the job's limit".into(),
            );
            push("    until they are deleted, even after the program that wrote them ends.".into());
            push("  What to do: delete them when done, or write scratch files to disk".into());
            push("    (e.g. $TMPDIR or your scratch space) instead of /dev/shm.".into());
        }
        Cause::RankImbalance => {
            let h = d.heavy_task.expect("rank imbalance has its facts");
            push(format!("{PREFIX} {step} ran out of memory."));
            push(format!(
                "  What happened: task {} of {} used {}, the others at most {},",
                h.task,
                h.tasks,
                human(h.peak),
                human(h.others)
            ));
            push(format!("    and the {} limit filled up.", human(limit)));
            push(format!("    The kernel killed {}.", killed(d.oom_kills)));
            push("  Why: one rank does the work of many, typically reading or gathering".into());
            push("    all the data (rank 0 as the I/O bottleneck).".into());
            push("  What to do: have each rank read its own part of the data (MPI-IO,".into());
            push("    parallel HDF5) instead of one rank reading and sending it all.".into());
        }
        Cause::OtherStep => {
            let own = d.peak.unwrap_or(0);
            let job_limit = d.job_limit.unwrap_or(limit);
            push(format!("{PREFIX} {step} ran out of memory."));
            push(format!(
                "  What happened: the job's {} limit, shared by all its steps, filled",
                human(job_limit)
            ));
            push(format!(
                "    up: this step used {}, the job's other steps {}.",
                human(own),
                human(d.others_usage.unwrap_or(0))
            ));
            push(format!("    The kernel killed {}.", killed(d.oom_kills)));
            push("  Why: steps that run at the same time share the job's memory.".into());
            push("  What to do: give the job enough for all steps at once, or run them one".into());
            push("    after another (or give each its share: srun --mem=...).".into());
        }
        Cause::NodeOom => {
            let peak = peak_phrase("it peaked at");
            push(format!("{PREFIX} {step} was killed: the node ran short."));
            push(format!(
                "  What happened: the kernel killed {}{after}.",
                killed(d.oom_kills)
            ));
            push(format!("    The step stayed below its own limit: {peak}."));
            push("  Why: memory ran short outside this job (on the node, or in a limit set".into());
            push("    above the job). Your request did not cause it.".into());
            push(
                "  What to do: resubmit as it is. If it happens again, tell your cluster's".into(),
            );
            push("    support, with this report.".into());
        }
        Cause::OverMemoryKill => {
            let alloc = d.slurm_allocation.unwrap_or(0);
            push(format!("{PREFIX} {step} was killed by Slurm (memory)."));
            push(format!(
                "  What happened: Slurm's memory check saw it use {}, more than the",
                human(d.peak.unwrap_or(0))
            ));
            push(format!(
                "    {} it was allocated, and killed it{after}.",
                human(alloc)
            ));
            push(
                "    (slurmstepd's message: \"exceeded memory limit\"; no kernel OOM kill.)".into(),
            );
            push(
                "  Why: Slurm checks use every few seconds and kills a step above its request,"
                    .into(),
            );
            push(
                "    even for a short spike; the last spike may have been higher than seen.".into(),
            );
        }
        Cause::Unknown => {
            let peak = peak_phrase("peak");
            push(format!("{PREFIX} {step} was killed by the OOM killer."));
            push(format!(
                "  What happened: the kernel killed {}{after},",
                killed(d.oom_kills)
            ));
            push(format!(
                "    yet the step stayed below its own limit ({peak})."
            ));
            push("  Why: the evidence fits no known pattern.".into());
            push("  What to do: more memory may not help. Resubmit once; if it happens".into());
            push("    again, send this report to your cluster's support.".into());
        }
        Cause::NearMiss => {
            let (peak, limit) = (d.peak.unwrap_or(0), d.limit.unwrap_or(0));
            let counted = d.peak_unreclaimable.unwrap_or(peak);
            push(format!("{PREFIX} {step} nearly ran out of memory."));
            push(format!(
                "  Peak use: {}. A little more data, and it is killed.",
                of_limit(counted, limit)
            ));
            if d.throttled > 0 {
                let soft = d.soft_limit.map_or_else(|| "its soft limit".into(), human);
                push(format!(
                    "  The kernel slowed it down {} times to keep it under {soft} (memory.high).",
                    d.throttled
                ));
            }
            if peak > counted + peak / 20 {
                push(format!(
                    "    (Not counting {} of file cache the kernel could have freed.)",
                    human(peak - counted)
                ));
            }
        }
        Cause::OverRequest => {
            let (peak, limit) = (d.job_peak.unwrap_or(0), d.job_limit.unwrap_or(0));
            push(format!(
                "{PREFIX} job {} used at most {} ({} %) of the {} requested.",
                context.id.job,
                human(peak),
                percent(peak, limit).unwrap_or(0),
                human(limit)
            ));
            push("  Asking for less gets jobs started sooner and leaves room for others.".into());
        }
        Cause::None => {
            let summary = match (d.peak, d.limit) {
                (Some(p), Some(l)) => format!("peak {}", of_limit(p, l)),
                (Some(p), None) => format!("peak {}, no memory limit", amount(p)),
                _ => "no memory figures".into(),
            };
            push(format!("{PREFIX} step {}: {summary}: OK.", context.id));
        }
    }

    if let Some(also) = d.secondary.and_then(|c| also(c, d)) {
        push(format!("  Also: {also}"));
    }
    if let Some(rec) = recommendation {
        let lead = if rec.stop_gap {
            "as a stop-gap only,"
        } else {
            "request"
        };
        let how = match (d.cause, rec.basis) {
            (
                _,
                Basis::Reserved {
                    total_vm,
                    headroom_percent,
                },
            ) => format!(
                "{lead} about {} (the killed process had reserved it, total-vm, while filling \
                 it), plus {headroom_percent} %:",
                human(total_vm)
            ),
            (
                _,
                Basis::Workers {
                    count,
                    each,
                    headroom_percent,
                },
            ) => format!(
                "{lead} one worker per CPU: {count} × {} = {}, plus {headroom_percent} %:",
                human(each),
                human(count * each)
            ),
            (
                _,
                Basis::Levelling {
                    level,
                    headroom_percent,
                },
            ) => format!(
                "{lead} the level its use was slowing towards, about {}, plus \
                 {headroom_percent} %:",
                human(level)
            ),
            _ if rec.stop_gap => "as a stop-gap only, twice the limit:".to_owned(),
            (Cause::OtherStep, Basis::AboveTheLimit { .. }) => {
                "give the whole job twice its limit:".into()
            }
            (_, Basis::OthersPlusTwiceOwn { others, own }) => format!(
                "give the whole job what the other steps held ({}) plus twice this step's {}:",
                human(others),
                human(own)
            ),
            (_, Basis::AboveTheLimit { factor, .. }) => {
                format!("request {} the limit and resubmit:", times(factor))
            }
            (
                Cause::OverRequest,
                Basis::PeakPlusHeadroom {
                    headroom_percent, ..
                },
            ) => {
                format!("next time request the peak plus {headroom_percent} % headroom:")
            }
            (
                _,
                Basis::PeakPlusHeadroom {
                    headroom_percent, ..
                },
            ) => {
                format!("give it headroom next time (peak + {headroom_percent} %):")
            }
        };
        // Causes whose text already says what to do get the memory line as an alternative.
        push(if rec.stop_gap {
            format!("  Memory {how}")
        } else if d.cause == Cause::OtherStep {
            format!("  Or {how}")
        } else {
            format!("  What to do: {how}")
        });
        push(format!("      {}", rec.sbatch_line()));
        match rec.flag {
            Flag::MemPerCpu { cpus } if cpus > 1 => push(format!(
                "    (that is {} for the {cpus} CPUs the job has on this node)",
                human(rec.bytes)
            )),
            Flag::MemPerGpu { gpus } if gpus > 1 => push(format!(
                "    (that is {} for the {gpus} GPUs the job has on this node)",
                human(rec.bytes)
            )),
            _ => {}
        }
        let doubled = matches!(rec.basis, Basis::AboveTheLimit { .. });
        if d.cause == Cause::UnderAllocation && doubled {
            push("  If it is killed again, double the request again.".into());
        }
        // The site's limits: say so when the request would not fit, and where to go.
        if let Some(max) = site.max_mem.filter(|&m| rec.bytes > m) {
            let whom = site.support.as_deref().unwrap_or("your cluster's support");
            let offers = format!("  That is more than a node here offers ({})", human(max));
            match &site.highmem_partition {
                Some(p) => {
                    push(format!("{offers}: use the high-memory partition,"));
                    push(format!("      #SBATCH --partition={p}"));
                    push(format!("    or ask {whom}."));
                }
                None => push(format!("{offers}: ask {whom} where it can run.")),
            }
        }
        // Before 24.11 sacct's MaxRSS is a sample taken every few seconds (JobAcctGatherFrequency).
        let max_rss_sampled = !context.slurm.is_some_and(|r| r.max_rss_is_peak());
        if d.cause == Cause::UnderAllocation && max_rss_sampled {
            push(
                "  (sacct shows OUT_OF_MEMORY; its MaxRSS may read lower, as it is sampled.)"
                    .into(),
            );
        }
    }
    if let Some(url) = site.help_url.as_ref().filter(|_| d.cause != Cause::None) {
        push(format!("  More: {url}"));
    }
    if let (Some(s), Cause::NodeOom | Cause::Unknown) = (&site.support, d.cause) {
        push(format!("  Support: {s}"));
    }
    push(format!("  cause: {}", d.cause.id()));
    layout(out)
}

/// One line for admins about a job's record (slurmd's log, `oom-explain report`).
pub fn job_summary(r: &crate::record::JobRecord) -> String {
    let who = match (&r.origin.user, &r.origin.partition) {
        (Some(u), Some(p)) => format!(" (user {u}, partition {p})"),
        (Some(u), None) => format!(" (user {u})"),
        _ => String::new(),
    };
    let use_ = match (r.peak, r.limit) {
        (Some(p), Some(l)) => format!(", peak {} of {}", human(p), human(l)),
        (Some(p), None) => format!(", peak {}", human(p)),
        _ => String::new(),
    };
    let kills = match r.oom_kills {
        0 => String::new(),
        1 => ", 1 OOM kill".into(),
        n => format!(", {n} OOM kills"),
    };
    let advice = r
        .recommendation
        .as_ref()
        .map(|a| format!("; recommended {}", a.line))
        .unwrap_or_default();
    let recovered = if r.recovered {
        " (recovered: its own epilog never ran here)"
    } else {
        ""
    };
    format!(
        "job {} on {}{who}: {}{kills}{use_}{advice}; {} step(s){recovered}",
        r.job,
        r.origin.node,
        r.cause,
        r.steps.len()
    )
}

/// Terminal width every line fits.
pub const WIDTH: usize = 80;

/// Joins each paragraph (a line and its 4-space continuations) and wraps it at [`WIDTH`] with
/// a 4-space hanging indent, so long names and numbers never run past the edge. Lines to copy
/// (`#SBATCH …`, six spaces in) are kept whole.
fn layout(lines: Vec<String>) -> Vec<String> {
    let mut paragraphs: Vec<String> = Vec::new();
    for line in lines {
        let continuation = line.starts_with("    ") && !line.starts_with("      ");
        match paragraphs.last_mut() {
            Some(last) if continuation && !last.starts_with("      ") => {
                last.push(' ');
                last.push_str(line.trim_start());
            }
            _ => paragraphs.push(line),
        }
    }
    paragraphs
        .into_iter()
        .flat_map(|p| {
            if p.starts_with("      ") {
                return vec![p];
            }
            let indent = &p[..p.len() - p.trim_start().len()];
            let options = textwrap::Options::new(WIDTH)
                .initial_indent(indent)
                .subsequent_indent("    ")
                .break_words(false)
                // Never split names, addresses, URLs or options at their hyphens.
                .word_splitter(textwrap::WordSplitter::NoHyphenation);
            textwrap::wrap(p.trim_start(), options)
                .into_iter()
                .map(|l| l.into_owned())
                .collect()
        })
        .collect()
}

/// One line about a second pattern that also fits.
fn also(cause: Cause, d: &Diagnosis) -> Option<String> {
    Some(match cause {
        Cause::SteadyGrowth => format!(
            "memory grew steadily ({}/min) before the end.",
            human(d.growth?.per_minute)
        ),
        Cause::LoadSpike => "memory rose sharply at the end, as when loading a large input.".into(),
        Cause::WorkerMultiplication => {
            let w = d.workers.as_ref()?;
            format!(
                "{} processes held about {} each at the peak.",
                w.count,
                human(w.each)
            )
        }
        Cause::Tmpfs => format!("files in /dev/shm held {}.", human(d.shmem?)),
        Cause::RankImbalance => {
            let h = d.heavy_task?;
            format!(
                "task {} used {}, far more than the others.",
                h.task,
                human(h.peak)
            )
        }
        Cause::OtherStep => format!("the job's other steps held {}.", human(d.others_usage?)),
        _ => return None,
    })
}

fn step_name(context: &StepContext) -> String {
    match context.id.step {
        StepKind::Batch => format!("the batch script ({})", context.id),
        StepKind::Numbered(_) => format!("srun step {}", context.id),
        _ => format!("step {}", context.id),
    }
}

fn processes(n: u64) -> String {
    if n == 1 {
        "1 process".into()
    } else {
        format!("{n} processes")
    }
}

fn times(factor: u64) -> String {
    match factor {
        2 => "twice".into(),
        n => format!("{n} times"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Growth, HeavyTask, Spike, Victim, Workers};
    use crate::config::Config;
    use crate::recommend::recommend;
    use crate::step::StepId;
    use std::time::Duration;

    const GIB: u64 = 1 << 30;
    const ALL: [Cause; 13] = [
        Cause::UnderAllocation,
        Cause::LoadSpike,
        Cause::WorkerMultiplication,
        Cause::SteadyGrowth,
        Cause::Tmpfs,
        Cause::RankImbalance,
        Cause::OtherStep,
        Cause::NodeOom,
        Cause::OverMemoryKill,
        Cause::NearMiss,
        Cause::OverRequest,
        Cause::Unknown,
        Cause::None,
    ];

    /// Every fact at its widest, to test the layout.
    fn diagnosis(cause: Cause) -> Diagnosis {
        Diagnosis {
            secondary: Some(Cause::SteadyGrowth).filter(|_| cause.is_kill()),
            // One kill: the victim's name is shown then, the longer line.
            oom_kills: if cause.is_kill() { 1 } else { 0 },
            limit: Some(512 * GIB),
            throttled: if cause == Cause::NearMiss { 123_456 } else { 0 },
            soft_limit: Some(500 * GIB),
            peak: Some(if cause == Cause::Unknown {
                300 * GIB
            } else {
                500 * GIB
            }),
            peak_unreclaimable: Some(470 * GIB),
            // "at least 500 GiB": the longer text.
            peak_is_lower_bound: true,
            job_peak: Some(100 * GIB),
            job_limit: Some(512 * GIB),
            victim: Some(Victim {
                name: "fifteen_chars15".into(),
                total_vm: Some(2000 * GIB),
                rss: Some(500 * GIB),
            }),
            slurm_allocation: Some(500 * GIB),
            shmem: Some(400 * GIB),
            workers: Some(Workers {
                count: 128,
                each: 3 * GIB,
                name: "python3.11-worker".into(),
                processes: 129,
            }),
            growth: Some(Growth {
                per_minute: 999 * GIB,
                over: Duration::from_secs(6 * 86400),
                level: None,
            }),
            spike: Some(Spike {
                before: 100 * GIB,
                rise: Duration::from_secs(3599),
                after: Duration::from_secs(6 * 86400),
            }),
            heavy_task: Some(HeavyTask {
                task: 1023,
                peak: 500 * GIB,
                others: 100 * GIB,
                tasks: 1024,
            }),
            others_usage: Some(400 * GIB),
            ..Diagnosis::new(cause)
        }
    }

    #[test]
    fn every_line_fits_a_terminal_even_with_long_ids() {
        // A site that cannot fit any recommendation, with long names: every escalation line.
        let plain = Config::default();
        let site = Config {
            max_mem: Some(GIB),
            highmem_partition: Some("highmem-long-partition-name".into()),
            support: Some("hpc-support-team@computing.example-university.edu".into()),
            help_url: Some("https://hpc.example-university.edu/docs/memory/oom".into()),
            ..Config::default()
        };
        let steps = [
            StepKind::Batch,
            StepKind::Numbered(99_999),
            StepKind::Interactive,
        ];
        // "less than a second" is the longest duration text, "6 d 23 h" a long run's.
        let times = [
            Duration::from_millis(300),
            Duration::from_secs(7 * 24 * 3600 - 1),
        ];
        for (step, elapsed) in steps.into_iter().flat_map(|s| times.map(|t| (s, t))) {
            let context = StepContext {
                elapsed: Some(elapsed),
                exit_statuses: vec![9],
                cpus_per_task: Some(4),
                // Slurm's default MaxJobId is 67043328: job ids have at most 8 digits.
                ..StepContext::new(StepId {
                    job: 67_043_328,
                    step,
                })
            };
            // About a dozen lines; a site whose nodes cannot fit the request adds up to five
            // (where to go, whom to ask, where to read more).
            for (cause, site, most) in ALL
                .into_iter()
                .flat_map(|c| [(c, &plain, 13), (c, &site, 18)])
            {
                let d = diagnosis(cause);
                let rec = recommend(&d, &context, site);
                let lines = render(&d, rec.as_ref(), &context, site);
                assert!(lines[0].starts_with(PREFIX));
                assert_eq!(lines.last().unwrap(), &format!("  cause: {}", cause.id()));
                assert!(lines.len() <= most, "{} lines: {lines:#?}", lines.len());
                for line in &lines {
                    assert!(
                        line.chars().count() <= 80,
                        "{} chars: {line}",
                        line.chars().count()
                    );
                }
            }
        }
    }

    #[test]
    fn a_peak_the_kernel_did_not_keep_is_said_as_a_lower_bound() {
        let context = StepContext::new(StepId {
            job: 1,
            step: StepKind::Batch,
        });
        let d = Diagnosis {
            peak: Some(300 << 20),
            limit: Some(GIB),
            peak_is_lower_bound: true,
            ..Diagnosis::new(Cause::None)
        };
        let text = render(&d, None, &context, &Config::default()).join("\n");
        assert!(
            text.contains("peak at least 300 MiB of 1.0 GiB (29 %)"),
            "{text}"
        );
    }

    #[test]
    fn the_sacct_caveat_is_only_for_releases_whose_max_rss_is_sampled() {
        let d = Diagnosis {
            oom_kills: 1,
            peak: Some(GIB),
            limit: Some(GIB),
            ..Diagnosis::new(Cause::UnderAllocation)
        };
        let text = |release: &str| {
            let context = StepContext {
                slurm: crate::slurm::SlurmRelease::parse(release),
                ..StepContext::new(StepId {
                    job: 1,
                    step: StepKind::Batch,
                })
            };
            let rec = recommend(&d, &context, &Config::default());
            render(&d, rec.as_ref(), &context, &Config::default()).join("\n")
        };
        assert!(text("22.05.8").contains("its MaxRSS may read lower"));
        assert!(!text("24.11.5").contains("MaxRSS"));
        assert!(!text("26.05.5").contains("MaxRSS"));
    }

    #[test]
    fn where_memory_is_not_the_fix_it_comes_after_the_real_fix() {
        let context = StepContext::new(StepId {
            job: 1,
            step: StepKind::Batch,
        });
        for cause in [
            Cause::SteadyGrowth,
            Cause::WorkerMultiplication,
            Cause::Tmpfs,
            Cause::LoadSpike,
        ] {
            let d = diagnosis(cause);
            let lines = render(
                &d,
                recommend(&d, &context, &Config::default()).as_ref(),
                &context,
                &Config::default(),
            );
            let fix = lines
                .iter()
                .position(|l| l.starts_with("  What to do:"))
                .unwrap();
            let mem = lines
                .iter()
                .position(|l| l.contains("#SBATCH --mem="))
                .unwrap();
            assert!(fix < mem, "{lines:#?}");
            assert!(
                lines[fix..mem].iter().any(|l| l.contains("stop-gap")),
                "{lines:#?}"
            );
        }
        // Not the user's fault: no request to change.
        assert!(recommend(&diagnosis(Cause::NodeOom), &context, &Config::default()).is_none());
    }

    #[test]
    fn a_request_beyond_the_site_limit_says_where_to_go() {
        let context = StepContext::new(StepId {
            job: 1,
            step: StepKind::Batch,
        });
        let d = Diagnosis {
            oom_kills: 1,
            limit: Some(200 * GIB),
            job_limit: Some(200 * GIB),
            peak: Some(200 * GIB),
            ..Diagnosis::new(Cause::UnderAllocation)
        };
        let site = Config {
            max_mem: Some(256 * GIB),
            highmem_partition: Some("bigmem".into()),
            support: Some("hpc-help@example.org".into()),
            help_url: Some("https://hpc.example.org/oom".into()),
            ..Config::default()
        };
        let text = render(&d, recommend(&d, &context, &site).as_ref(), &context, &site).join("\n");
        assert!(text.contains("#SBATCH --mem=400G"), "{text}");
        assert!(
            text.contains(
                "That is more than a node here offers (256 GiB): use the high-memory partition,"
            ),
            "{text}"
        );
        assert!(
            text.contains("\n      #SBATCH --partition=bigmem\n    or ask hpc-help@example.org."),
            "{text}"
        );
        assert!(
            text.contains("  More: https://hpc.example.org/oom"),
            "{text}"
        );
        // Within the site's limit: no escalation.
        let roomy = Config {
            max_mem: Some(1024 * GIB),
            ..site
        };
        let text = render(
            &d,
            recommend(&d, &context, &roomy).as_ref(),
            &context,
            &roomy,
        )
        .join("\n");
        assert!(!text.contains("more than a node"), "{text}");
    }

    #[test]
    fn modes_choose_causes() {
        assert!(wanted(Mode::Oom, Cause::UnderAllocation));
        assert!(wanted(Mode::Oom, Cause::NodeOom));
        assert!(!wanted(Mode::Oom, Cause::NearMiss));
        assert!(!wanted(Mode::Auto, Cause::None));
        assert!(wanted(Mode::Always, Cause::None));
    }
}
