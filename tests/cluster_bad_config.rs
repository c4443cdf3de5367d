//! The plugin with a wrong plugstack.conf argument: it must step aside, never touch the job.
//!
//! tests/run-all.sh restarts the lab with `OOM_EXPLAIN_PLUGIN_ARGS="headroom=25 hedroom=5"`
//! before running this binary (built only with `--features cluster-tests`).

mod support;

use support::Lab;

#[test]
fn a_bad_plugstack_argument_is_logged_and_the_plugin_steps_aside() {
    let lab = Lab::get();
    let plugstack = std::fs::read_to_string(lab.lab.join("etc/plugstack.conf")).unwrap();
    assert!(
        plugstack.contains("hedroom=5"),
        "this test needs the lab started with a bad argument (see tests/run-all.sh): {plugstack}"
    );
    // Submission still works and says nothing to the user about the admin's typo.
    let job = lab.submit_alloc("bad-config", &["--mem=100M", "--oom-explain"], "400");
    // The job runs and ends exactly as it would without the plugin.
    assert_eq!(lab.wait(&job), "OUT_OF_MEMORY");
    let err = lab.stderr_of(&job);
    assert!(support::has_slurm_oom_line(&err), "{err}");
    assert!(
        err.contains(
            "oom-explain: not available for this job: the plugin's configuration is invalid"
        ),
        "{err}"
    );
    assert!(
        !err.contains("cause:"),
        "no diagnosis from a misconfigured plugin: {err}"
    );
    let log = lab.slurmd_log();
    assert!(
        log.contains("oom-explain: plugstack.conf: unknown argument \"hedroom\" (known keys:"),
        "the admin is told which argument is wrong"
    );
    // Users are not shown the admin's typo on every submission (only with sbatch -v).
    let out = lab.sbatch(&["--oom-explain", "--wrap", "true"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    // And a job that does not opt in sees nothing at all.
    let quiet = lab.submit("bad-config-quiet", &["--mem=100M"], "echo fine");
    assert_eq!(lab.wait(&quiet), "COMPLETED");
    assert_eq!(lab.stderr_of(&quiet), "");
}
