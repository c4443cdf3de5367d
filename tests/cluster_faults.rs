//! Faults on the real cluster: whatever goes wrong inside the plugin, every job ends exactly as
//! it would without it (state and exit code), its stderr gets no word it did not ask for, and
//! the fault reaches slurmd's log.
//!
//! tests/run-all.sh starts the lab with a plugin built with `--features fault-injection`
//! (`target/plugins/faults/oom_explain.so`) and `records=all`; each case adds a `fault=` key to
//! plugstack.conf, which every slurmstepd and sbatch reads anew. Built only with
//! `--features cluster-tests`; the cases run one at a time (they share plugstack.conf).

mod support;

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use support::{Lab, Submitted};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lab() -> &'static Lab {
    let lab = Lab::get();
    let plugstack = plugstack(lab);
    assert!(
        plugstack.contains("records=all"),
        "start the lab with the fault plugin and records=all (see tests/run-all.sh): {plugstack}"
    );
    lab
}

fn plugstack(lab: &Lab) -> String {
    std::fs::read_to_string(lab.lab.join("etc/plugstack.conf")).unwrap()
}

/// Runs `body` with `fault=SPEC` added to the plugin's plugstack.conf line, then takes it out.
fn with_fault<T>(lab: &Lab, spec: &str, body: impl FnOnce() -> T) -> T {
    let path = lab.lab.join("etc/plugstack.conf");
    let clean: String = plugstack(lab)
        .lines()
        .map(|l| {
            let kept: Vec<&str> = l.split(' ').filter(|w| !w.starts_with("fault=")).collect();
            kept.join(" ") + "\n"
        })
        .collect();
    let armed = clean.replacen("oom_explain.so", &format!("oom_explain.so fault={spec}"), 1);
    std::fs::write(&path, armed).unwrap();
    // Taken out again even when a case fails, so that no later case runs with its fault.
    struct Restore(std::path::PathBuf, String);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = std::fs::write(&self.0, &self.1);
        }
    }
    let _restore = Restore(path, clean);
    body()
}

/// `JobState ExitCode` as slurmctld has them (e.g. `OUT_OF_MEMORY 0:125`).
fn outcome(lab: &Lab, job: &Submitted) -> String {
    let state = lab.wait(job);
    let out = Command::new("scontrol")
        .args(["show", "job", "-o", &job.id.to_string()])
        .env("SLURM_CONF", &lab.slurm_conf)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let exit = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ExitCode="))
        .unwrap_or("?");
    format!("{state} {exit}")
}

/// Words of the plugin's own failures that must never reach a job's files.
fn assert_clean(what: &str, text: &str) {
    for word in [
        "panicked",
        "fault injected",
        "internal error",
        "RUST_BACKTRACE",
        "oom-explain: error",
    ] {
        assert!(!text.contains(word), "{what}: {word:?} in\n{text}");
    }
}

/// Three jobs under `fault`: opted in and killed, opted in and fine, not opted in and killed.
/// Returns the killed opted-in job's stderr.
fn three_jobs(lab: &Lab, fault: &str) -> String {
    let tag = fault.replace([':', ','], "-");
    with_fault(lab, fault, || {
        let killed = lab.submit_alloc(
            &format!("fault-{tag}-killed"),
            &["--mem=100M", "--oom-explain"],
            "400",
        );
        let fine = lab.submit_alloc(
            &format!("fault-{tag}-fine"),
            &["--mem=100M", "--oom-explain"],
            "20 1",
        );
        let silent = lab.submit_alloc(&format!("fault-{tag}-silent"), &["--mem=100M"], "400");
        assert_eq!(
            outcome(lab, &killed),
            "OUT_OF_MEMORY 0:125",
            "{fault}: killed job"
        );
        assert_eq!(outcome(lab, &fine), "COMPLETED 0:0", "{fault}: fine job");
        assert_eq!(
            outcome(lab, &silent),
            "OUT_OF_MEMORY 0:125",
            "{fault}: silent job"
        );
        for job in [&killed, &fine, &silent] {
            assert_clean(&format!("{fault}: {}.err", job.name), &lab.stderr_of(job));
            assert_clean(&format!("{fault}: {}.out", job.name), &lab.stdout_of(job));
        }
        let silent_err = lab.stderr_of(&silent);
        assert!(
            !silent_err.contains("oom-explain"),
            "{fault}: a job that did not ask: {silent_err}"
        );
        lab.stderr_of(&killed)
    })
}

/// slurmd's log (every node's) has the line the fault left, so the fault really fired.
fn assert_fired(lab: &Lab, place: &str) {
    let wanted = format!("{place}: fault injected at {place}");
    let seen = (0..50).any(|_| {
        let logs: String = std::fs::read_dir(lab.lab.join("log"))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("slurmd"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        let found = logs.contains(&wanted) || logs.contains(&format!("fault injected at {place}"));
        if !found {
            std::thread::sleep(Duration::from_millis(100));
        }
        found
    });
    assert!(seen, "no trace of the {place} fault in slurmd's log");
}

#[test]
fn a_panic_or_an_error_at_any_entry_point_leaves_every_job_as_without_the_plugin() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let lab = lab();
    // In slurmstepd (and the epilog's slurmstepd), where a fault could hurt a job.
    for place in [
        "init",
        "init_post_opt",
        "user_init",
        "task_exit",
        "snapshot",
        "exit",
        "job_epilog",
    ] {
        for kind in ["panic", "error"] {
            three_jobs(lab, &format!("{place}:{kind}"));
            assert_fired(lab, place);
        }
    }
    // The sampler thread, which only panics; the report goes on from the samples it took.
    let err = three_jobs(lab, "sampler:panic");
    assert_fired(lab, "sampler");
    assert!(err.contains("cause: "), "{err}");
}

#[test]
fn a_fault_in_sbatch_never_refuses_a_job() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let lab = lab();
    for kind in ["panic", "error"] {
        with_fault(lab, &format!("option:{kind}"), || {
            let job = lab.submit_alloc(
                &format!("fault-option-{kind}"),
                &["--mem=100M", "--oom-explain"],
                "20 1",
            );
            assert_eq!(outcome(lab, &job), "COMPLETED 0:0");
        });
    }
}

#[test]
fn a_slow_kernel_log_holds_the_step_end_at_most_about_a_quarter_of_a_second() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let lab = lab();
    // 5 ms lost per kernel log record read: the OOM report alone is ~100 records (0.5 s).
    let err = three_jobs(lab, "kmsg:slow");
    assert!(err.contains("cause: "), "{err}");
    let log = lab.slurmd_log();
    let analysed: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("analysed in"))
        .filter_map(|l| {
            l.split("analysed in ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    let slowest = analysed.iter().max().copied().unwrap_or(0);
    eprintln!("slow kernel log: step ends analysed in at most {slowest} us");
    // The budget is 250 ms; reading it all would take 0.55 s and more.
    assert!(
        slowest < 450_000,
        "a step end took {slowest} us: {analysed:?}"
    );
}

#[test]
fn a_full_spool_disk_and_an_unwritable_stderr_cost_the_job_nothing() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let lab = lab();
    // The spool on a tiny filesystem, filled up.
    let spool = &lab.records;
    std::fs::create_dir_all(spool).unwrap();
    let mount = |args: &[&str]| {
        let out = Command::new("mount").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "mount {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    mount(&[
        "-t",
        "tmpfs",
        "-o",
        "size=64k,mode=0700",
        "tmpfs",
        spool.to_str().unwrap(),
    ]);
    let full = std::fs::write(spool.join("filler"), vec![0u8; 1 << 20]).is_err();
    let outcome_under_full_disk = std::panic::catch_unwind(|| {
        assert!(full, "the spool should be full");
        let err = three_jobs(lab, "");
        assert!(
            err.contains("#SBATCH --mem="),
            "the report still reaches the job: {err}"
        );
    });
    // Nothing half-written is left for an epilog to take for a broken record.
    let left: Vec<String> = std::fs::read_dir(spool)
        .unwrap()
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
        .filter(|name| name != "filler")
        .collect();
    let _ = Command::new("umount").arg(spool).status();
    assert!(left.is_empty(), "left in the full spool: {left:?}");
    if let Err(e) = outcome_under_full_disk {
        std::panic::resume_unwind(e);
    }
    assert!(
        lab.slurmd_log().contains("step record not written"),
        "the full disk was noticed"
    );

    // stderr that cannot be written (/dev/full): the job ends as it would without the plugin.
    let job = lab.submit_alloc(
        "fault-dev-full",
        &["--mem=100M", "--oom-explain", "--error=/dev/full"],
        "400",
    );
    assert_eq!(outcome(lab, &job), "OUT_OF_MEMORY 0:125");
}
