//! Records on the real cluster with two slurmd "nodes" on this host (lab profile `twonode`):
//! a 2-node job whose one node runs out of memory gets one record per node, merged by
//! `oom-explain JOBID` into the explanation its .err got; and killing slurmd between the end of
//! a step and the job's epilog loses no record.
//! Built only with `--features cluster-tests`; tests/run-all.sh starts the profile.

mod support;

use std::sync::Mutex;
use std::time::Duration;

use support::{Lab, causes};

/// The slurmd-killing test must not run beside the others.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lab() -> &'static Lab {
    let lab = Lab::get();
    assert_eq!(
        lab.profile, "twonode",
        "start the lab with OOM_EXPLAIN_LAB_PROFILE=twonode"
    );
    lab
}

fn wait_for(there: impl Fn() -> bool, secs: u64) -> bool {
    (0..secs * 10).any(|_| {
        let there = there();
        if !there {
            std::thread::sleep(Duration::from_millis(100));
        }
        there
    })
}

#[test]
fn a_two_node_job_has_a_record_per_node_and_one_explanation() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let lab = lab();
    let (array, alloc) = (lab.workload("array.py"), lab.workload("alloc.py"));
    let job = lab.submit(
        "two-nodes",
        &[
            "--nodes=2",
            "--ntasks-per-node=1",
            "--mem=200M",
            "--oom-explain",
        ],
        &format!(
            "srun sh -c 'if [ \"$SLURM_NODEID\" = 0 ]; then exec /usr/bin/python3 {array} 500; \
             else exec /usr/bin/python3 {alloc} 50 2; fi'\nexit 0"
        ),
    );
    lab.wait(&job);
    let records = lab.job_records(&job, 2, 30);
    let mut by_node: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r["node"].as_str().unwrap().to_owned(),
                r["cause"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    by_node.sort();
    assert_eq!(
        by_node,
        [
            ("node1".into(), "under-allocation".into()),
            ("node2".into(), "none".into())
        ],
        "{records:#?}"
    );
    let node1 = records.iter().find(|r| r["node"] == "node1").unwrap();
    assert_eq!(
        node1["steps"].as_array().unwrap().len(),
        2,
        "step 0 and the batch script"
    );
    assert_eq!(node1["user"], "oomtest");
    assert_eq!(node1["partition"], "debug");

    // The command gives what the .err got, and the other node's step as fine.
    let err = lab.stderr_of(&job);
    assert_eq!(causes(&err), ["under-allocation"], "{err}");
    let out = lab.oom_explain(&[&job.id.to_string()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    // Shown in the test log: docs/records.md quotes it.
    println!("$ oom-explain {}\n{text}", job.id);
    let report: Vec<&str> = err
        .lines()
        .skip_while(|l| !l.starts_with("oom-explain:"))
        .take_while(|l| !l.starts_with("slurmstepd"))
        .collect();
    assert!(report.len() > 5, "{err}");
    for line in &report {
        assert!(
            text.lines().any(|l| l == *line),
            "{line:?} missing from\n{text}"
        );
    }
    assert!(
        text.contains("step 0 on node2:") && text.contains(": OK."),
        "{text}"
    );
    // The epilog's summary for admins.
    let log = std::fs::read_to_string(lab.lab.join("log/slurmd-node1.log")).unwrap();
    assert!(
        log.contains(&format!(
            "oom-explain: job {} on node1 (user oomtest, partition debug): under-allocation",
            job.id
        )),
        "no summary in slurmd-node1.log"
    );
}

#[test]
fn killing_slurmd_between_step_end_and_epilog_loses_no_record() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let lab = lab();
    let array = lab.workload("array.py");
    let job = lab.submit(
        "slurmd-killed",
        &[
            "--nodes=1",
            "--nodelist=node1",
            "--mem=200M",
            "--oom-explain",
        ],
        &format!("srun /usr/bin/python3 {array} 500\nsleep 8\nexit 0"),
    );
    // <job>.<step>.<node>.<end time>.json
    let spooled = |step: &str| {
        let stem = format!("{}.{step}.node1.", job.id);
        std::fs::read_dir(&lab.records)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with(&stem))
    };
    assert!(
        wait_for(|| spooled("0"), 60),
        "step 0's record never reached the spool"
    );
    lab.lab_sh(&["kill-slurmd", "node1"]);
    // The batch script goes on without slurmd, ends, and leaves its record too.
    assert!(
        wait_for(|| spooled("batch"), 60),
        "the batch step's record never reached the spool"
    );
    std::thread::sleep(Duration::from_secs(1));
    lab.lab_sh(&["start-slurmd", "node1"]);
    // Slurm runs the job's epilog once slurmd is back; if it never did, the next job's epilog
    // on the node takes the records as leftovers.
    let mut records = lab.job_records(&job, 1, 60);
    let mut via = "its own epilog";
    if records.is_empty() {
        // The next job's epilog takes records whose job is gone once they are `leftover_after`
        // old (10 min by default): an admin's setting, shortened for this one job.
        let plugstack = lab.lab.join("etc/plugstack.conf");
        let normal = std::fs::read_to_string(&plugstack).unwrap();
        let short = normal.replacen("records=all", "records=all leftover_after=1s", 1);
        std::fs::write(&plugstack, short).unwrap();
        let next = lab.submit("after-restart", &["--nodelist=node1", "--mem=100M"], "true");
        lab.wait(&next);
        std::fs::write(&plugstack, normal).unwrap();
        records = lab.job_records(&job, 1, 30);
        via = "the next job's epilog";
    }
    assert_eq!(
        records.len(),
        1,
        "job {}: no record after slurmd's restart",
        job.id
    );
    let steps: Vec<&str> = records[0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["0", "batch"], "{:#?}", records[0]);
    assert_eq!(records[0]["cause"], "under-allocation");
    assert!(!spooled("0") && !spooled("batch"), "spool not cleaned");
    eprintln!(
        "job {}: record written by {via} after slurmd's restart",
        job.id
    );
}

#[test]
fn with_records_all_a_step_that_did_not_opt_in_is_recorded_silently() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let lab = lab();
    let plugstack = std::fs::read_to_string(lab.lab.join("etc/plugstack.conf")).unwrap();
    assert!(
        plugstack.contains("records=all"),
        "start the lab with OOM_EXPLAIN_PLUGIN_ARGS=records=all: {plugstack}"
    );
    let job = lab.submit_alloc("not-opted-in", &["--nodelist=node1", "--mem=100M"], "400");
    assert_eq!(lab.wait(&job), "OUT_OF_MEMORY");
    // Nothing in the user's .err beyond Slurm's own line...
    let err = lab.stderr_of(&job);
    assert!(!err.contains("oom-explain"), "{err}");
    assert!(support::has_slurm_oom_line(&err), "{err}");
    // ...but a record for the admins, from the end-of-step read alone (no sampler thread).
    let records = lab.job_records(&job, 1, 30);
    assert_eq!(records.len(), 1);
    let step = &records[0]["steps"][0];
    assert_eq!(step["opted_in"], false);
    assert_eq!(step["cause"], "under-allocation");
    assert!(
        !step["report"].as_array().unwrap().is_empty(),
        "the report it would have had"
    );
    let log = std::fs::read_to_string(lab.lab.join("log/slurmd-node1.log")).unwrap();
    let summary = log
        .lines()
        .find(|l| l.contains(&format!("oom-explain: step {}.batch", job.id)))
        .expect("a summary line for the step");
    assert!(summary.ends_with("no sampler"), "{summary}");
}
