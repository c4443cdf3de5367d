//! Site settings on the real cluster: a request beyond what a node offers is escalated, and
//! recommendations use the option the user gave.
//!
//! tests/run-all.sh restarts the lab with `OOM_EXPLAIN_PLUGIN_ARGS="max_mem=150M
//! highmem_partition=bigmem support=hpc-help@example.org help_url=https://hpc.example.org/oom"`
//! before running this binary (built only with `--features cluster-tests`).

mod support;

use support::{Lab, causes};

fn site_lab() -> &'static Lab {
    let lab = Lab::get();
    let plugstack = std::fs::read_to_string(lab.lab.join("etc/plugstack.conf")).unwrap();
    assert!(
        plugstack.contains("max_mem=150M") && plugstack.contains("highmem_partition=bigmem"),
        "this test needs the lab started with the site settings (see tests/run-all.sh): {plugstack}"
    );
    lab
}

#[test]
fn a_request_beyond_the_site_limit_points_to_the_highmem_partition() {
    let lab = site_lab();
    let job = lab.submit_alloc("site-escalation", &["--mem=100M", "--oom-explain"], "400");
    assert_eq!(lab.wait(&job), "OUT_OF_MEMORY");
    let err = lab.stderr_of(&job);
    assert_eq!(causes(&err), ["under-allocation"], "{err}");
    assert!(err.contains("#SBATCH --mem=200M"), "{err}");
    assert!(
        err.contains(
            "That is more than a node here offers (150 MiB): use the high-memory partition,"
        ),
        "{err}"
    );
    assert!(
        err.contains("\n      #SBATCH --partition=bigmem\n    or ask hpc-help@example.org."),
        "{err}"
    );
    assert!(err.contains("  More: https://hpc.example.org/oom"), "{err}");
}

#[test]
fn a_per_cpu_request_gets_a_per_cpu_recommendation() {
    let lab = site_lab();
    // 2 CPUs at 60M each: a 120 MiB limit; twice that is 120M per CPU.
    let job = lab.submit_alloc(
        "site-per-cpu",
        &["--mem-per-cpu=60M", "--cpus-per-task=2", "--oom-explain"],
        "400",
    );
    assert_eq!(lab.wait(&job), "OUT_OF_MEMORY");
    let err = lab.stderr_of(&job);
    assert!(err.contains("#SBATCH --mem-per-cpu=120M"), "{err}");
    assert!(
        err.contains("(that is 240 MiB for the 2 CPUs the job has on this node)"),
        "{err}"
    );
    assert!(
        !err.contains("#SBATCH --mem="),
        "the user's own option, not --mem: {err}"
    );
}
