//! `oom-explain JOBID` for a job that left no record: the explanation from Slurm's accounting,
//! on the real cluster with slurmdbd and MariaDB (lab profile `accounting`).
//! Built only with `--features cluster-tests`; tests/run-all.sh starts the profile.

mod support;

use std::time::Duration;

use support::Lab;

#[test]
fn a_job_without_a_record_is_explained_from_sacct_honestly() {
    let lab = Lab::get();
    assert_eq!(
        lab.profile, "accounting",
        "start the lab with OOM_EXPLAIN_LAB_PROFILE=accounting"
    );
    // No --oom-explain: with the default records=opted-in the plugin leaves nothing.
    let job = lab.submit_alloc("no-record", &["--mem=200M"], "500 0 50");
    assert_eq!(lab.wait(&job), "OUT_OF_MEMORY");
    assert!(
        lab.job_records(&job, 1, 3).is_empty(),
        "a record for a job that did not opt in"
    );
    // slurmdbd learns of the end a moment after slurmctld (and, once seen, the row's request
    // a moment later still: ReqMem read "16?" once).
    let mut text = String::new();
    for _ in 0..50 {
        let out = lab.oom_explain(&[&job.id.to_string()]);
        text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && text.contains("OUT_OF_MEMORY") && text.contains("--mem=") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(text.contains("no oom-explain record"), "{text}");
    assert!(text.contains("State OUT_OF_MEMORY"), "{text}");
    assert!(text.contains("requested 200M"), "{text}");
    assert!(text.contains("--mem=400M"), "{text}");
    assert!(text.contains("Not known without a record"), "{text}");

    let json = lab.oom_explain(&["--json", &job.id.to_string()]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["source"], "sacct");
    assert_eq!(doc["sacct"][0]["state"], "OUT_OF_MEMORY");

    // A job id nobody knows: a clear answer and a failing exit status.
    let none = lab.oom_explain(&["999999"]);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stdout).contains("no such job"));
}

#[test]
fn an_array_task_is_found_by_its_array_id() {
    let lab = Lab::get();
    let job = lab.submit_alloc(
        "array-task",
        &["--array=1-2", "--mem=100M", "--oom-explain"],
        "300",
    );
    // Wait for both tasks: the array's tasks have their own raw ids.
    for _ in 0..300 {
        let out = std::process::Command::new("squeue")
            .args(["-h", "-j", &job.id.to_string()])
            .env("SLURM_CONF", &lab.slurm_conf)
            .output()
            .unwrap();
        if out.stdout.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // slurmdbd learns of the tasks a moment after they end (longer on a fresh database).
    let raw = |task: u32| {
        let array_id = format!("{}_{task}", job.id);
        for _ in 0..150 {
            let out = std::process::Command::new("sacct")
                .args(["-j", &array_id, "-X", "-n", "-P", "-o", "JobIDRaw"])
                .env("SLURM_CONF", &lab.slurm_conf)
                .output()
                .unwrap();
            let raw = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if !raw.is_empty() {
                return raw;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("sacct never knew {array_id}");
    };
    // Slurm gives each task its own raw id (one of them keeps the array's).
    let (raw1, raw2) = (raw(1), raw(2));
    assert_ne!(raw1, raw2);
    for (task, raw) in [(1, &raw1), (2, &raw2)] {
        let mut text = String::new();
        for _ in 0..50 {
            let out = lab.oom_explain(&[&format!("{}_{task}", job.id)]);
            text = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() && text.contains("cause: under-allocation") {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // The records know the task (S_JOB_ARRAY_ID, S_JOB_ARRAY_TASK_ID in slurmstepd).
        assert!(
            text.starts_with(&format!("Job {raw} (array task {}_{task}) ", job.id)),
            "{text}"
        );
        assert!(text.contains("cause: under-allocation"), "{text}");
    }
    // The array's own id is all its tasks, in the order of their index; several ids in turn.
    let all = lab.oom_explain(&[&job.id.to_string()]);
    let text = String::from_utf8_lossy(&all.stdout);
    assert!(all.status.success(), "{text}");
    let headers: Vec<&str> = text.lines().filter(|l| l.starts_with("Job ")).collect();
    assert_eq!(headers.len(), 2, "{text}");
    assert!(headers[0].contains(&format!("Job {raw1} (array task {}_1)", job.id)));
    assert!(headers[1].contains(&format!("Job {raw2} (array task {}_2)", job.id)));
    let both = lab.oom_explain(&[&format!("{}_2", job.id), &raw1, "999999"]);
    let text = String::from_utf8_lossy(&both.stdout);
    assert_eq!(both.status.code(), Some(1), "999999 is unknown: {text}");
    let order: Vec<usize> = [
        format!("Job {raw2} "),
        format!("Job {raw1} "),
        "Job 999999".into(),
    ]
    .iter()
    .map(|needle| {
        text.find(needle.as_str())
            .unwrap_or_else(|| panic!("{needle}: {text}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    // The job log's lines carry the array ids.
    let log = std::fs::read_to_string(&lab.job_log).unwrap();
    let task1 = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["job"].as_u64() == raw1.parse().ok())
        .expect("task 1's line");
    assert_eq!(task1["array_job_id"], job.id, "{task1}");
    assert_eq!(task1["array_task_id"], 1, "{task1}");
    // With no id, as root with --all-users: the recent jobs of every user list both tasks.
    let list = lab.oom_explain(&["--all-users", "--since", "1h"]);
    let text = String::from_utf8_lossy(&list.stdout);
    for task in [1, 2] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{}_{task} ", job.id))
                    && l.contains("killed: needed more memory than it asked for")),
            "{text}"
        );
    }
}

/// `oom-explain suggest`: three runs of one job (same name) that needs about 300 MiB, killed at
/// 150M and at 250M, then finished at 600M: the next request comes from the finished run's
/// peak (its record), and the kills are said.
#[test]
fn suggest_sizes_the_next_run_from_the_earlier_runs_of_the_same_job() {
    let lab = Lab::get();
    // Its own name: a lab kept up for another run of the tests has the earlier runs too.
    let name = &format!("suggest-three-runs-{}", std::process::id());
    let mut last = None;
    for mem in ["150M", "250M", "600M"] {
        let mem_arg = format!("--mem={mem}");
        let job = lab.submit_alloc(name, &[&mem_arg, "--oom-explain"], "300");
        lab.wait(&job);
        last = Some(job);
    }
    let last = last.unwrap();
    let records = lab.job_records(&last, 1, 10);
    let peak = records[0]["peak"]
        .as_u64()
        .expect("the finished run's peak");
    // slurmdbd learns of the end a moment after slurmctld.
    let mut text = String::new();
    for _ in 0..50 {
        let out = lab.oom_explain(&["suggest", &last.id.to_string()]);
        text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && text.starts_with("3 runs") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let flat = support::flat(&text);
    assert!(
        flat.starts_with(&format!("3 runs of {name}: 1 finished, peak ")),
        "{text}"
    );
    assert!(
        // The finished run showed more than the kills: they are listed, no "more than".
        flat.contains("killed at 150 MiB and at 250 MiB.") && !flat.contains("more than"),
        "{text}"
    );
    let json = lab.oom_explain(&["suggest", "--json", &last.id.to_string()]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let next = &doc["next_request"];
    assert_eq!(next["source"], "history", "{doc}");
    assert_eq!(next["certainty"], "measured", "{doc}");
    // The peak plus the default 20 %, rounded up as a person types it (at most a tenth more).
    let bytes = next["bytes"].as_u64().unwrap();
    assert!(
        bytes >= peak * 12 / 10 && bytes <= peak * 12 / 10 * 11 / 10 + (1 << 20),
        "{bytes} for a peak of {peak}: {doc}"
    );
    // By name and by a script that names the job, the same runs.
    let script = lab.jobs.join(format!("{name}.sh"));
    std::fs::write(
        &script,
        format!("#!/bin/sh\n#SBATCH --job-name={name}\ntrue\n"),
    )
    .unwrap();
    let user = doc["user"].as_str().expect("the job's owner");
    let script = script.to_str().unwrap();
    for args in [vec!["--name", name], vec!["--script", script]] {
        let mut all = vec!["suggest", "--json", "--user", user];
        all.extend(args);
        let out = lab.oom_explain(&all);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["next_request"], *next, "{all:?}");
    }
}
