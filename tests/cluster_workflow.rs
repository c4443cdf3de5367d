//! A workflow engine retries an OOM-killed job with oom-explain's next request, to completion:
//! the Snakefile of docs/workflows/ run by a real Snakemake (Debian's package) as the job user
//! on the real cluster with accounting (lab profile `accounting`, the job log readable by users:
//! `job_log_mode=0644`). Built only with `--features cluster-tests`; tests/run-all.sh installs
//! Snakemake and starts the profile.

mod support;

use std::path::Path;
use std::process::Output;

use support::Lab;

/// What the job needs (MiB): killed at the first guess (200) and at twice it (400).
const NEED_MIB: u64 = 700;

/// Runs the Snakefile once in `dir` as the job user; the rule's jobs are `smk-grow-<tag>`.
fn snakemake(lab: &Lab, dir: &Path, tag: &str) -> Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_oom-explain"))
        .parent()
        .unwrap();
    let cluster = format!(
        "sbatch --parsable --job-name=smk-{{rule}}-{tag} --mem={{resources.mem_mb}} \
         --oom-explain -o slurm-%j.out -e slurm-%j.err"
    );
    let script = format!(
        "cd {dir} && snakemake --snakefile Snakefile --jobs 1 --restart-times 3 \
         --latency-wait 10 --config need_mib={NEED_MIB} workload={alloc} name_suffix=-{tag} \
         --cluster '{cluster}' 2>&1",
        dir = dir.display(),
        alloc = lab.workload("alloc.py"),
    );
    let path = format!("PATH={}:/usr/local/bin:/usr/bin:/bin", bin.display());
    let log = format!("OOM_EXPLAIN_LOG={}", lab.job_log.display());
    // The lab's job user has no home; Snakemake keeps its cache there.
    let home = format!("HOME={}", dir.display());
    lab.run_as(&["env", &path, &log, &home, "sh", "-c", &script])
}

/// Slurm's accounting of the rule's jobs, oldest first: (request in MiB, state).
fn runs(lab: &Lab, name: &str) -> Vec<(u64, String)> {
    let out = lab.run_as(&[
        "sacct",
        "-X",
        "-n",
        "-P",
        "--name",
        name,
        "-S",
        "now-3600",
        "-o",
        "ReqMem,State",
    ]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (mem, state) = l.split_once('|')?;
            let mib = oom_explain::size::parse_slurm_size_mib(mem.trim_end_matches(['n', 'c']))?;
            Some((mib, state.split_whitespace().next()?.to_owned()))
        })
        .collect()
}

#[test]
fn snakemake_retries_an_oom_killed_job_to_completion_and_sizes_the_next_run() {
    let lab = Lab::get();
    assert_eq!(
        lab.profile, "accounting",
        "start the lab with OOM_EXPLAIN_LAB_PROFILE=accounting"
    );
    let tag = format!("{}", std::process::id());
    // The job user's own folder, with the Snakefile as docs/workflows/ has it.
    let dir = lab.jobs.join(format!("workflow-{tag}"));
    let snakefile = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/workflows/Snakefile");
    for args in [
        vec!["mkdir", "-p", dir.to_str().unwrap()],
        vec!["cp", snakefile.to_str().unwrap(), dir.to_str().unwrap()],
    ] {
        let out = lab.run_as(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let name = format!("smk-grow-{tag}");

    // First run of the workflow: killed at 200M, at 400M, finished at 800M.
    let first = snakemake(lab, &dir, &tag);
    let said = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "snakemake failed:\n{said}");
    let seen = runs(lab, &name);
    let states: Vec<&str> = seen.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        states,
        ["OUT_OF_MEMORY", "OUT_OF_MEMORY", "COMPLETED"],
        "{seen:?}\n{said}"
    );
    assert_eq!(seen[0].0, 200, "the first guess: {seen:?}");
    assert!(seen[1].0 > 200 && seen[2].0 > seen[1].0, "{seen:?}");
    // What the next attempt will read: the finished run's peak from its record (the job log
    // is readable by users on this lab), not only the request that worked.
    let bin = env!("CARGO_BIN_EXE_oom-explain");
    let log = lab.job_log.display().to_string();
    let out = lab.run_as(&[bin, "--log", &log, "suggest", "--json", "--name", &name]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["next_request"]["certainty"], "measured", "{doc}");
    assert_eq!(doc["runs"][2]["peak_from"], "record", "{doc}");
    let peak_mib = doc["runs"][2]["peak"].as_u64().unwrap() >> 20;

    // Run again (the output removed): the first attempt asks what the earlier runs needed and
    // finishes: the finished run's peak plus a margin, at most the request that carried it.
    std::fs::remove_file(dir.join("grown.txt")).unwrap();
    let again = snakemake(lab, &dir, &tag);
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "snakemake failed:\n{said}");
    let seen = runs(lab, &name);
    assert_eq!(seen.len(), 4, "one more job, no retry: {seen:?}\n{said}");
    let (asked, state) = &seen[3];
    assert_eq!(state, "COMPLETED", "{seen:?}");
    assert!(
        *asked > peak_mib && *asked <= (peak_mib * 12 / 10).min(seen[2].0) + 100,
        "asked {asked} MiB after a peak of {peak_mib} MiB: {seen:?}"
    );
}
