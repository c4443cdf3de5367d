//! The pure core on real captured cgroup trees: discover → read → classify → recommend → render.
//!
//! Each case's rendered report is compared with tests/expected/<set>/<case>.txt (the whole text a
//! user would read). `UPDATE_EXPECTED=1 cargo test --test fixtures` rewrites them for review.

use std::path::{Path, PathBuf};

use oom_explain::cgroup::{CgroupVersion, StepCgroup, discover, read_snapshot};
use oom_explain::classify::{Cause, Evidence};
use oom_explain::config::Config;
use oom_explain::evidence::sampler::{Sample, Series};
use oom_explain::options::Mode;
use oom_explain::report::StepReport;
use oom_explain::slurm::SlurmRelease;
use oom_explain::step::{StepContext, StepId, StepKind};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The step's identity, read off the discovered directories as Slurm named them. A job folder
/// named after the SLUID (26.05) does not say the job id: SPANK would; 1 stands in for it.
fn context_for(cgroup: &StepCgroup) -> StepContext {
    let name = |d: &Path| d.file_name().unwrap().to_str().unwrap().to_owned();
    let job = cgroup.job_dir.as_deref().map(name).unwrap();
    let step = name(&cgroup.step_dir);
    StepContext::new(StepId {
        job: job.strip_prefix("job_").map_or(1, |id| id.parse().unwrap()),
        step: match step.trim_start_matches("step_") {
            "batch" => StepKind::Batch,
            n => StepKind::Numbered(n.parse().unwrap()),
        },
    })
}

fn check_case(set: &str, case: &str, version: CgroupVersion, cause: Cause) -> StepReport {
    let root = fixtures().join(set).join(case);
    let cgroup = discover(&root, "self").unwrap_or_else(|e| panic!("{set}/{case}: {e}"));
    assert_eq!(cgroup.version, version, "{set}/{case}");
    // The release that made the tree (the set's name says it): some text depends on it.
    let slurm = set
        .split('-')
        .skip_while(|part| *part != "slurm")
        .nth(1)
        .and_then(SlurmRelease::parse);
    let context = StepContext {
        slurm,
        ..context_for(&cgroup)
    };
    let snapshot = read_snapshot(&cgroup).unwrap_or_else(|e| panic!("{set}/{case}: {e}"));
    let report =
        StepReport::from_snapshot(snapshot, &Evidence::default(), &context, &Config::default());
    assert_eq!(report.diagnosis.cause, cause, "{set}/{case}: {report:#?}");

    let text = report.lines(&context, Mode::Always).unwrap().join("\n") + "\n";
    let expected_file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expected")
        .join(set)
        .join(format!("{case}.txt"));
    if std::env::var_os("UPDATE_EXPECTED").is_some() {
        std::fs::create_dir_all(expected_file.parent().unwrap()).unwrap();
        std::fs::write(&expected_file, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_file)
        .unwrap_or_else(|e| panic!("{}: {e}", expected_file.display()));
    assert_eq!(text, expected, "{set}/{case}: the report changed");
    report
}

/// A plain (non-Slurm) captured v2 parent/child pair, read as if it were a job and its step.
fn plain_v2(job: &str) -> StepCgroup {
    let dir = fixtures().join("v2-plain-linux-6.1").join(job);
    StepCgroup {
        version: CgroupVersion::V2,
        step_dir: dir.join("step_0"),
        job_dir: Some(dir),
        step_path: format!("/{job}/step_0"),
        job_path: Some(format!("/{job}")),
    }
}

const V1: &str = "v1-slurm-22.05";
const V2: &str = "v2-slurm-22.05-linux-6.1";

#[test]
fn v1_batch_script_killed_at_its_limit() {
    let r = check_case(V1, "batch-oom", CgroupVersion::V1, Cause::UnderAllocation);
    let cgroup = discover(&fixtures().join(V1).join("batch-oom"), "self").unwrap();
    // As the kernel names it in OOM reports.
    assert_eq!(
        cgroup.step_path,
        "/slurm_localhost/uid_1001/job_2/step_batch"
    );
    assert_eq!(
        cgroup.job_path.as_deref(),
        Some("/slurm_localhost/uid_1001/job_2")
    );
    // The kill counter sits only in the victim's task directory on v1.
    assert_eq!(r.diagnosis.oom_kills, 1);
    assert_eq!(r.snapshot.tasks[0].oom_kills, Some(1));
    assert_eq!(r.diagnosis.limit, Some(50 << 20));
    let rec = r.recommendation.unwrap();
    assert!(
        rec.bytes > 50 << 20,
        "killed at the limit: the request must go above it"
    );
    assert_eq!(rec.sbatch_line(), "#SBATCH --mem=100M");
}

#[test]
fn v1_srun_step_killed_at_the_shared_job_limit() {
    // The step's own peak stayed just under the limit and its failcnt at 0: the job level,
    // which all steps share, shows the hits.
    let r = check_case(V1, "srun-oom", CgroupVersion::V1, Cause::UnderAllocation);
    assert_eq!(r.snapshot.step.limit_hits, Some(0));
    assert!(r.snapshot.job.as_ref().unwrap().limit_hits.unwrap() > 0);
    assert_eq!(r.diagnosis.oom_kills, 1);
}

#[test]
fn v1_near_miss() {
    let r = check_case(V1, "near-miss", CgroupVersion::V1, Cause::NearMiss);
    let rec = r.recommendation.unwrap();
    assert!(rec.bytes > r.diagnosis.limit.unwrap());
}

#[test]
fn v1_over_request() {
    let r = check_case(V1, "over-request", CgroupVersion::V1, Cause::OverRequest);
    assert!(r.recommendation.unwrap().bytes < 2 << 30);
}

#[test]
fn v2_batch_script_killed_at_the_job_limit() {
    let r = check_case(
        V2,
        "job1-step_batch-at-task_exit",
        CgroupVersion::V2,
        Cause::UnderAllocation,
    );
    assert!(r.diagnosis.oom_kills >= 1);
    assert_eq!(r.diagnosis.limit, Some(50 << 20));
}

#[test]
fn v2_srun_step_killed() {
    let r = check_case(
        V2,
        "job2-step_0-at-task_exit",
        CgroupVersion::V2,
        Cause::UnderAllocation,
    );
    assert!(r.diagnosis.oom_kills >= 1);
}

#[test]
fn v2_batch_step_of_a_job_whose_srun_step_was_killed_is_not_blamed() {
    let r = check_case(
        V2,
        "job2-step_batch-at-task_exit",
        CgroupVersion::V2,
        Cause::None,
    );
    assert_eq!(r.diagnosis.oom_kills, 0);
}

#[test]
fn v2_steps_that_went_well() {
    check_case(
        V2,
        "job3-step_0-at-task_exit",
        CgroupVersion::V2,
        Cause::None,
    );
    check_case(
        V2,
        "job3-step_batch-at-task_exit",
        CgroupVersion::V2,
        Cause::None,
    );
}

#[test]
fn modes_choose_what_is_reported() {
    let report = |case| {
        let cgroup = discover(&fixtures().join(V1).join(case), "self").unwrap();
        let context = context_for(&cgroup);
        let r = StepReport::from_snapshot(
            read_snapshot(&cgroup).unwrap(),
            &Evidence::default(),
            &context,
            &Config::default(),
        );
        move |mode| r.lines(&context, mode).is_some()
    };
    let killed = report("batch-oom");
    let near = report("near-miss");
    assert!(killed(Mode::Oom) && killed(Mode::Auto) && killed(Mode::Always));
    assert!(!near(Mode::Oom) && near(Mode::Auto) && near(Mode::Always));
}

#[test]
fn plain_v2_directories_read_into_snapshots() {
    // Not Slurm trees, but real kernel files: job_A was OOM-killed at memory.max=50M.
    let plain = |job: &str| read_snapshot(&plain_v2(job)).unwrap();
    let snap = plain("job_A");
    assert_eq!(snap.limit, Some(50 << 20));
    assert!(snap.step.oom_kills.unwrap() >= 1);
    assert!(snap.step.peak.unwrap() <= 50 << 20);
    // job_E held 10M in tmpfs: memory.stat's shmem shows it.
    let snap = plain("job_E");
    assert!(snap.step.stat.shmem.unwrap() >= 10 << 20);
    assert_eq!(snap.step.oom_kills, Some(0));
}

#[test]
fn a_process_outside_slurm_is_not_a_step() {
    let root = std::env::temp_dir().join(format!("oom-explain-noslurm-{}", std::process::id()));
    std::fs::create_dir_all(root.join("proc/self")).unwrap();
    std::fs::write(
        root.join("proc/self/cgroup"),
        "4:memory:/user.slice\n0::/\n",
    )
    .unwrap();
    let err = discover(&root, "self").unwrap_err().to_string();
    assert!(err.contains("names no Slurm step cgroup"), "{err}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn v2_throttling_above_memory_high_is_a_near_miss() {
    // job_D: memory.high=30M and no memory.max; 100M was allocated with swap allowed, so the
    // kernel held the step at 30M by throttling it (727 `high` events) instead of killing it.
    let cgroup = plain_v2("job_D");
    let context = StepContext::new(StepId {
        job: 4,
        step: StepKind::Numbered(0),
    });
    let report = StepReport::from_snapshot(
        read_snapshot(&cgroup).unwrap(),
        &Evidence::default(),
        &context,
        &Config::default(),
    );
    assert_eq!(report.diagnosis.cause, Cause::NearMiss, "{report:#?}");
    assert_eq!(report.diagnosis.throttled, 727);
    assert_eq!(report.diagnosis.soft_limit, Some(30 << 20));
    assert!(report.recommendation.as_ref().unwrap().bytes > 30 << 20);
    let text = report.lines(&context, Mode::Auto).unwrap().join(" ");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        text.contains("slowed it down 727 times to keep it under 30 MiB"),
        "{text}"
    );
}

/// A copy of a captured tree in which `edit` may change each file: given its path within the
/// tree and its text, it returns the new text, or None to leave the file out.
fn edited_copy(
    set: &str,
    case: &str,
    edit: impl Fn(&Path, String) -> Option<String> + Copy,
) -> tempfile::TempDir {
    fn copy(
        from: &Path,
        to: &Path,
        within: &Path,
        edit: impl Fn(&Path, String) -> Option<String> + Copy,
    ) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let (target, path) = (to.join(entry.file_name()), within.join(entry.file_name()));
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target, &path, edit);
            } else if let Some(text) = edit(&path, std::fs::read_to_string(entry.path()).unwrap()) {
                std::fs::write(target, text).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(
        &fixtures().join(set).join(case),
        dir.path(),
        Path::new(""),
        edit,
    );
    dir
}

/// A copy of a captured tree without any `memory.peak`, as on kernels before 5.19 (RHEL 8 and
/// many RHEL 9 kernels): everything else is the real kernel's.
fn without_memory_peak(set: &str, case: &str) -> tempfile::TempDir {
    edited_copy(set, case, |path, text| {
        (path.file_name() != Some("memory.peak".as_ref())).then_some(text)
    })
}

/// The step's kill count in a copy of a captured tree whose `file` (memory.oom_control or
/// memory.events) says `oom_kill <kills(path)>` wherever `kills` gives a count.
fn oom_kills_with(
    set: &str,
    case: &str,
    file: &str,
    kills: fn(&Path) -> Option<u64>,
) -> (Option<u64>, Option<u64>) {
    let tree = edited_copy(set, case, |path, text| {
        if path.file_name() != Some(file.as_ref()) {
            return Some(text);
        }
        Some(match kills(path) {
            Some(n) => text
                .lines()
                .map(|l| match l.starts_with("oom_kill ") {
                    true => format!("oom_kill {n}"),
                    false => l.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("\n"),
            None => text,
        })
    });
    let snapshot = read_snapshot(&discover(tree.path(), "self").unwrap()).unwrap();
    (
        snapshot.step.oom_kills,
        snapshot.job.and_then(|j| j.oom_kills),
    )
}

#[test]
fn v1_a_kernel_that_counts_kills_up_the_tree_is_not_counted_twice() {
    // As kernels that propagate v1's oom_kill would show job_2's one kill: on the task, the
    // step and the job alike.
    let counts = oom_kills_with(V1, "batch-oom", "memory.oom_control", |path| {
        path.to_str()?.contains("job_2").then_some(1)
    });
    assert_eq!(counts, (Some(1), Some(1)));
    // As captured (kernel 6.18 counts v1 kills where they happened): the same one kill.
    let counts = oom_kills_with(V1, "batch-oom", "memory.oom_control", |_| None);
    assert_eq!(counts, (Some(1), Some(1)));
}

#[test]
fn v2_with_memory_localevents_a_kill_below_the_step_still_counts() {
    // cgroup2 mounted with memory_localevents: each folder counts only its own kills, so the
    // step and job folders say 0 and only the task's folder says 1.
    let counts = oom_kills_with(V2_2605, "srun-oom", "memory.events", |path| {
        Some(u64::from(
            path.ends_with("step_0/user/task_0/memory.events"),
        ))
    });
    assert_eq!(counts, (Some(1), Some(1)));
}

/// The report on a tree, with the sampler's one figure if given (a usage read off the tree).
fn report_of(root: &Path, sampled: Option<u64>) -> StepReport {
    let cgroup = discover(root, "self").unwrap();
    let snapshot = read_snapshot(&cgroup).unwrap();
    assert_eq!(snapshot.step.peak, None, "the copy has no memory.peak");
    let evidence = Evidence {
        series: sampled.map(|usage| Series {
            samples: vec![Sample::usage_only(std::time::Duration::from_secs(1), usage)],
            ..Series::default()
        }),
        ..Evidence::default()
    };
    StepReport::from_snapshot(
        snapshot,
        &evidence,
        &context_for(&cgroup),
        &Config::default(),
    )
}

#[test]
fn v2_without_memory_peak_a_kill_at_the_limit_is_still_under_allocation() {
    let tree = without_memory_peak(V2, "job1-step_batch-at-task_exit");
    let r = report_of(tree.path(), None);
    let d = &r.diagnosis;
    assert_eq!(d.cause, Cause::UnderAllocation);
    assert!(d.peak_is_lower_bound);
    assert!(r.recommendation.unwrap().bytes > 50 << 20);
}

#[test]
fn v2_without_memory_peak_the_highest_sample_is_said_as_a_lower_bound_never_raised() {
    // job_2's srun step filled the job's 100 MiB (memory.events of job_2: max 140), while the
    // batch step held a few MiB: the job's limit hits must not become the batch step's peak.
    let tree = without_memory_peak(V2, "job2-step_batch-at-task_exit");
    let cgroup = discover(tree.path(), "self").unwrap();
    let user = cgroup.step_dir.join("user/memory.current");
    let sampled: u64 = std::fs::read_to_string(user)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let r = report_of(tree.path(), Some(sampled));
    assert_eq!(r.diagnosis.cause, Cause::None);
    assert_eq!(r.diagnosis.peak, Some(sampled));
    let context = context_for(&cgroup);
    let text = r.lines(&context, Mode::Always).unwrap().join("\n");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains("highest memory use was at least "), "{text}");
}

#[test]
fn v2_without_memory_peak_a_step_that_went_well_is_not_called_a_near_miss() {
    let tree = without_memory_peak(V2, "job3-step_batch-at-task_exit");
    let r = report_of(tree.path(), None);
    assert_eq!(r.diagnosis.cause, Cause::None);
    assert!(r.diagnosis.peak_is_lower_bound);
}

#[test]
fn a_step_killed_as_a_whole_says_which_processes_went_down_with_the_victim() {
    // job_B: memory.oom.group=1 (what Slurm sets for --oom-kill-step); the kernel counted 4
    // kills. Without its log, one is taken as the victim the kernel chose.
    let snapshot = read_snapshot(&plain_v2("job_B")).unwrap();
    assert!(snapshot.kills_whole_step);
    assert!(!read_snapshot(&plain_v2("job_A")).unwrap().kills_whole_step);
    let context = StepContext::new(StepId {
        job: 2,
        step: StepKind::Numbered(0),
    });
    let r = StepReport::from_snapshot(snapshot, &Evidence::default(), &context, &Config::default());
    assert_eq!(r.diagnosis.oom_kills, 4);
    assert_eq!(r.diagnosis.oom_group_kills, 3);
    let text = r.lines(&context, Mode::Always).unwrap().join(" ");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        text.contains(
            "killed 1 process, and with it the 3 other processes of this step (Slurm's \
             --oom-kill-step)"
        ),
        "{text}"
    );
}

const V2_2605: &str = "v2-slurm-26.05-linux-7.2";

#[test]
fn slurm_26_05_names_the_job_folder_after_its_sluid_and_the_job_is_still_found() {
    for case in ["batch-oom", "srun-oom", "near-miss", "over-request"] {
        let root = fixtures().join(V2_2605).join(case);
        let cgroup = discover(&root, "self").unwrap();
        let job = cgroup.job_dir.as_deref().unwrap().file_name().unwrap();
        let job = job.to_str().unwrap();
        // A SLUID: 's' and 13 more upper-case letters and digits, not job_<id>.
        assert!(
            job.len() == 14 && job.starts_with('s') && !job.starts_with("job_"),
            "{case}: {job}"
        );
        assert_eq!(cgroup.step_dir.parent(), cgroup.job_dir.as_deref());
        assert!(cgroup.job_path.as_deref().unwrap().ends_with(job), "{case}");
    }
}

#[test]
fn slurm_26_05_a_kill_at_the_jobs_own_limit_is_the_jobs_not_the_nodes() {
    let r = check_case(
        V2_2605,
        "batch-oom",
        CgroupVersion::V2,
        Cause::UnderAllocation,
    );
    assert_eq!(r.diagnosis.limit, Some(50 << 20));
    assert_eq!(r.diagnosis.job_limit, Some(50 << 20));
    let r = check_case(
        V2_2605,
        "srun-oom",
        CgroupVersion::V2,
        Cause::UnderAllocation,
    );
    assert!(r.diagnosis.oom_kills >= 1);
}

#[test]
fn slurm_26_05_steps_that_went_well() {
    check_case(V2_2605, "near-miss", CgroupVersion::V2, Cause::NearMiss);
    check_case(
        V2_2605,
        "over-request",
        CgroupVersion::V2,
        Cause::OverRequest,
    );
}
