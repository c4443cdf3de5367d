//! Real-cluster tests: real jobs on the local Slurm (tests/cluster/lab.sh), submitted as an
//! unprivileged user; the assertions read the job's own slurm-%j.err as the user would.
//!
//! Built only with `--features cluster-tests` (tests/run-all.sh starts the cluster first).

mod support;

use oom_explain::slurm::SlurmRelease;
use support::{Lab, causes, flat, recommended_mib};

#[test]
fn an_oom_killed_batch_job_is_explained_in_its_err_file() {
    let lab = Lab::get();
    let job = lab.submit_alloc("batch-oom", &["--mem=100M", "--oom-explain"], "400");
    assert_eq!(lab.wait(&job), "OUT_OF_MEMORY");
    let err = lab.stderr_of(&job);
    assert!(
        flat(&err).contains("oom-explain: Your job script ran out of memory after"),
        "{err}"
    );
    assert_eq!(causes(&err), ["under-allocation"], "{err}");
    // The victim's name comes from the kernel's own OOM report (/dev/kmsg).
    assert!(
        flat(&err).contains("the kernel killed python3 (holding"),
        "{err}"
    );
    assert!(err.contains("100 MiB"), "the limit is named: {err}");
    let mib = recommended_mib(&err).expect("a #SBATCH --mem= line");
    assert!(
        mib > 100,
        "killed at the limit, the request must go above it: {err}"
    );
    // Slurm's own line is still there: the plugin adds to it, never replaces it.
    assert!(support::has_slurm_oom_line(&err), "{err}");
    // Admins get a one-line summary in slurmd's log.
    assert!(
        lab.slurmd_log().contains(&format!(
            "oom-explain: step {}.batch ({}): cause under-allocation",
            job.id, lab.cgroup
        )),
        "slurmd.log has no summary line for job {}",
        job.id
    );
    assert_kernel_report_found(lab, &format!("{}.batch", job.id));
}

/// slurmd's log says the step's kill was found in the kernel log: the log was opened at the
/// step's start (init_post_opt, before the option could be read there otherwise).
fn assert_kernel_report_found(lab: &Lab, step: &str) {
    let log = lab.slurmd_log();
    let line = log
        .lines()
        .find(|l| l.contains(&format!("oom-explain: step {step} (")))
        .unwrap_or_else(|| panic!("no summary line for step {step}"));
    assert!(line.contains("oom kills 1 (1 reported in "), "{line}");
}

#[test]
fn without_the_option_the_plugin_adds_nothing() {
    let lab = Lab::get();
    let job = lab.submit_alloc("no-option", &["--mem=100M"], "400");
    assert_eq!(lab.wait(&job), "OUT_OF_MEMORY");
    let err = lab.stderr_of(&job);
    assert!(support::has_slurm_oom_line(&err), "{err}");
    assert!(!err.contains("oom-explain"), "{err}");
    assert!(
        !lab.slurmd_log()
            .contains(&format!("oom-explain: step {}.", job.id))
    );
    // Nor a record (records=opted-in, the default).
    assert!(lab.job_records(&job, 1, 3).is_empty());
}

#[test]
fn an_opted_in_job_leaves_one_record_that_the_command_explains() {
    let lab = Lab::get();
    let job = lab.submit_alloc("recorded", &["--mem=100M", "--oom-explain"], "400");
    assert_eq!(lab.wait(&job), "OUT_OF_MEMORY");
    let records = lab.job_records(&job, 1, 30);
    assert_eq!(records.len(), 1, "one line for the job on its one node");
    let r = &records[0];
    assert_eq!(r["cause"], "under-allocation");
    assert_eq!(r["user"], "oomtest");
    assert_eq!(r["schema"], 1);
    assert_eq!(r["steps"][0]["cgroup"], lab.cgroup.as_str());
    // The spool is empty again, and `oom-explain JOBID` repeats the .err's report.
    let left: Vec<_> = std::fs::read_dir(&lab.records)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{}.", job.id))
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let out = lab.oom_explain(&[&job.id.to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let err = lab.stderr_of(&job);
    let line = err.lines().find(|l| l.contains("#SBATCH --mem=")).unwrap();
    assert!(
        text.lines().any(|l| l == line),
        "{line:?} missing from\n{text}"
    );
}

#[test]
fn an_oom_killed_srun_step_is_explained_in_the_jobs_err_file() {
    let lab = Lab::get();
    let alloc = lab.workload("alloc.py");
    // The option as a directive, inherited by the srun step inside the job.
    let job = lab.submit(
        "srun-oom",
        &["--mem=100M"],
        &format!("#SBATCH --oom-explain\nsrun /usr/bin/python3 {alloc} 400\necho srun-exit=$?"),
    );
    // The script goes on after srun fails, so the job itself completes; from 23.02 on Slurm
    // may also mark the job OUT_OF_MEMORY, when the batch step ends after the job's cgroup
    // counted the kill (a race in Slurm, seen on 26.05).
    let state = lab.wait(&job);
    assert!(
        ["COMPLETED", "OUT_OF_MEMORY"].contains(&state.as_str()),
        "{state}"
    );
    let err = lab.stderr_of(&job);
    assert!(
        flat(&err).contains(&format!(
            "oom-explain: The 1st srun in your job script (step {}.0) ran out of memory",
            job.id
        )),
        "{err}"
    );
    // One report: the batch step, which was not killed, adds none.
    assert_eq!(causes(&err), ["under-allocation"], "{err}");
    assert!(recommended_mib(&err).unwrap() > 100, "{err}");
    assert!(lab.stdout_of(&job).contains("srun-exit=1"));
    assert_kernel_report_found(lab, &format!("{}.0", job.id));
}

#[test]
fn a_job_that_finishes_just_under_its_limit_gets_a_near_miss_note() {
    let lab = Lab::get();
    let job = lab.submit_alloc("near-miss", &["--mem=300M", "--oom-explain"], "280 1");
    assert_eq!(lab.wait(&job), "COMPLETED");
    let err = lab.stderr_of(&job);
    assert_eq!(causes(&err), ["near-miss"], "{err}");
    assert!(
        flat(&err)
            .contains("oom-explain: Your job script finished, but came close to its memory limit."),
        "{err}"
    );
    assert!(recommended_mib(&err).unwrap() > 300, "{err}");
}

#[test]
fn oom_mode_reports_kills_only() {
    let lab = Lab::get();
    let job = lab.submit_alloc(
        "near-miss-oom-mode",
        &["--mem=300M", "--oom-explain=oom"],
        "280 1",
    );
    assert_eq!(lab.wait(&job), "COMPLETED");
    let err = lab.stderr_of(&job);
    assert!(!err.contains("oom-explain"), "{err}");
}

#[test]
fn always_mode_summarises_a_healthy_job_in_one_line() {
    let lab = Lab::get();
    let job = lab.submit_alloc(
        "healthy-always",
        &["--mem=400M", "--oom-explain=always"],
        "100 1",
    );
    assert_eq!(lab.wait(&job), "COMPLETED");
    let err = lab.stderr_of(&job);
    assert_eq!(causes(&err), ["none"], "{err}");
    let summary: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("oom-explain:"))
        .collect();
    assert_eq!(summary.len(), 1, "{err}");
    let summary = flat(&err);
    assert!(
        summary.contains("of 400 MiB") && summary.contains(": fine."),
        "{err}"
    );
}

#[test]
fn a_bogus_mode_is_refused_at_submission_with_a_message() {
    let lab = Lab::get();
    let out = lab.sbatch(&["--oom-explain=bogus", "--wrap", "true"]);
    assert!(!out.status.success(), "sbatch accepted --oom-explain=bogus");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("oom-explain: --oom-explain=\"bogus\" is not a valid mode"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--oom-explain=always"),
        "the message says what is valid: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "no job id: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A portable job script (docs/users.md): the option given through the variable sbatch reads
/// for every SPANK option (spank_process_env_options: SLURM_SPANK_ + `_SLURM_SPANK_OPTION_`,
/// the plugin's name, `_`, the option's, all but letters and digits as `_`). Sbatch on a
/// cluster without the plugin never looks at it, and refuses `#SBATCH --oom-explain`.
#[test]
fn the_option_given_through_the_environment_works_and_is_checked_and_ignored_without_the_plugin() {
    let lab = Lab::get();
    let var = "SLURM_SPANK__SLURM_SPANK_OPTION_oom_explain_oom_explain";
    let alloc = lab.workload("alloc.py");
    let script = lab.jobs.join("env-option.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\n#SBATCH --mem=100M\n/usr/bin/python3 {alloc} 400\n"),
    )
    .unwrap();
    let script = script.display().to_string();
    let sbatch_with = |value: &str, conf: Option<&str>| {
        let mut args = vec!["env".to_owned(), format!("{var}={value}")];
        args.extend(conf.map(|c| format!("SLURM_CONF={c}")));
        args.extend(
            [
                "sbatch",
                "--parsable",
                "--error=env-option-%j.err",
                "--output=env-option-%j.out",
            ]
            .map(String::from),
        );
        args.extend([
            "-D".to_owned(),
            lab.jobs.display().to_string(),
            script.clone(),
        ]);
        lab.run_as(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let out = sbatch_with("auto", None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job = support::Submitted {
        id: String::from_utf8_lossy(&out.stdout).trim().parse().unwrap(),
        name: "env-option".into(),
    };
    assert_eq!(lab.wait(&job), "OUT_OF_MEMORY");
    let err = lab.stderr_of(&job);
    assert_eq!(causes(&err), ["under-allocation"], "{err}");
    // A bad value is refused like a bad --oom-explain=: nothing is submitted.
    let bad = sbatch_with("loud", None);
    assert!(!bad.status.success() && bad.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("is not a valid mode"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    // Without the plugin (an empty plugstack.conf): the variable is ignored, the directive refused.
    let bare = lab.jobs.join("no-plugin");
    std::fs::create_dir_all(&bare).unwrap();
    let conf = std::fs::read_to_string(&lab.slurm_conf).unwrap();
    let conf: String = conf
        .lines()
        .map(|l| match l.starts_with("PlugStackConfig=") {
            true => format!("PlugStackConfig={}/plugstack.conf\n", bare.display()),
            false => format!("{l}\n"),
        })
        .collect();
    std::fs::write(bare.join("slurm.conf"), conf).unwrap();
    std::fs::write(bare.join("plugstack.conf"), "").unwrap();
    let bare_conf = bare.join("slurm.conf").display().to_string();
    let ignored = lab.run_as(&[
        "env",
        &format!("{var}=auto"),
        &format!("SLURM_CONF={bare_conf}"),
        "sbatch",
        "--test-only",
        "-D",
        &lab.jobs.display().to_string(),
        &script,
    ]);
    assert!(
        ignored.status.success(),
        "{}",
        String::from_utf8_lossy(&ignored.stderr)
    );
    let directive = lab.jobs.join("directive.sh");
    std::fs::write(&directive, "#!/bin/sh\n#SBATCH --oom-explain\ntrue\n").unwrap();
    let refused = lab.run_as(&[
        "env",
        &format!("SLURM_CONF={bare_conf}"),
        "sbatch",
        "--test-only",
        "-D",
        &lab.jobs.display().to_string(),
        &directive.display().to_string(),
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("unrecognized option '--oom-explain'"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[test]
fn sbatch_and_srun_list_the_option_in_their_help() {
    let lab = Lab::get();
    for tool in ["sbatch", "srun"] {
        let out = lab.run_as(&[tool, "--help"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("--oom-explain"), "{tool} --help: {text}");
    }
}

#[test]
fn the_plugin_exports_only_its_own_symbols() {
    let lab = Lab::get();
    let so = lab.lab.join("lib/oom_explain.so");
    let out = std::process::Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&so)
        .output()
        .expect("nm (binutils)");
    let mut symbols: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_owned))
        .collect();
    symbols.sort();
    assert_eq!(
        symbols,
        [
            "plugin_name",
            "plugin_type",
            "plugin_version",
            "slurm_spank_exit",
            "slurm_spank_init",
            "slurm_spank_init_post_opt",
            "slurm_spank_job_epilog",
            "slurm_spank_task_exit",
            "slurm_spank_user_init",
            "spank_plugin_version",
        ]
    );
}

#[test]
fn a_step_killed_whole_by_oom_kill_step_names_the_victim_and_the_rest() {
    let lab = Lab::get();
    // --oom-kill-step exists from Slurm 24.11 on; on v2 the kernel kills the step as a group
    // (memory.oom.group), which is what the report explains.
    let release = lab.slurm_release();
    if release < SlurmRelease::parse("24.11").unwrap() || lab.cgroup != "cgroup v2" {
        eprintln!(
            "not applicable: Slurm {} on {} has no --oom-kill-step group kill",
            release, lab.cgroup
        );
        return;
    }
    let alloc = lab.workload("alloc.py");
    // Rank 0 outgrows the step; rank 1 only waits, and is killed with it.
    let job = lab.submit(
        "oom-kill-step",
        &["--mem=150M", "-n", "2", "--oom-explain"],
        &format!(
            "srun --oom-kill-step -n 2 sh -c 'if [ $SLURM_PROCID = 0 ]; then exec /usr/bin/python3 {alloc} 400; else exec sleep 60; fi'\necho srun-exit=$?"
        ),
    );
    let started = std::time::Instant::now();
    lab.wait(&job);
    let waited = started.elapsed();
    let err = lab.stderr_of(&job);
    // One rank did all the growing: that is what the task peaks say.
    assert_eq!(causes(&err), ["rank-imbalance"], "{err}");
    let text = err.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains("killed python3 (holding"), "{err}");
    assert!(
        text.contains("other processes of this step (Slurm's --oom-kill-step)")
            || text.contains("other process of this step (Slurm's --oom-kill-step)"),
        "{err}"
    );
    // The waiting rank went down with it: the job did not wait 60 s for it.
    assert!(waited.as_secs() < 50, "{waited:?}: {err}");
}

#[test]
fn slurmds_log_names_the_release_the_plugin_was_built_for() {
    let lab = Lab::get();
    let log = lab.slurmd_log();
    let line = log
        .lines()
        .find(|l| l.contains("oom-explain: loaded, version"))
        .unwrap_or_else(|| panic!("no start line from the plugin in slurmd.log"));
    // Slurm loaded it, so it was built for the running major.minor.
    assert!(
        line.contains(&format!("built for Slurm {}.", lab.slurm_release())),
        "{line}"
    );
}

#[test]
fn two_users_killed_at_the_same_moment_each_see_only_their_own_processes() {
    let lab = Lab::get();
    lab.add_user("oomtest2");
    // Each user's program under a name of its own: the kernel names a process after the file
    // it was started from (here a link to python3).
    let workloads = lab.jobs.join("workloads");
    for name in ["alice_alloc", "bobs_alloc"] {
        let link = workloads.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/usr/bin/python3", &link).unwrap();
    }
    // Both start allocating in the same second, on the same node.
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 6;
    let body = |program: &str| {
        format!(
            "while [ $(date +%s) -lt {at} ]; do sleep 0.05; done\nexec {} {} 400",
            workloads.join(program).display(),
            lab.workload("alloc.py")
        )
    };
    let args = ["--mem=100M", "--oom-explain"];
    let alice = lab.submit("two-users-alice", &args, &body("alice_alloc"));
    let bob = lab.submit_as(
        Some("oomtest2"),
        "two-users-bob",
        &args,
        &body("bobs_alloc"),
    );
    for (job, own, other) in [
        (&alice, "alice_alloc", "bobs_alloc"),
        (&bob, "bobs_alloc", "alice_alloc"),
    ] {
        assert_eq!(lab.wait(job), "OUT_OF_MEMORY");
        let err = lab.stderr_of(job);
        // Calm while waiting for the agreed second, then filled at once: a load spike or an
        // under-allocation, by how long the wait was; what matters here is whose names it shows.
        assert_eq!(causes(&err).len(), 1, "{err}");
        assert!(
            err.contains(own),
            "{own} not named in its own report:\n{err}"
        );
        assert!(
            !err.contains(other),
            "{other} named in another user's report:\n{err}"
        );
    }
}
