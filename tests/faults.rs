//! The fault switches themselves (built only with `--features fault-injection`): armed by the
//! same `fault=` plugstack key the real-cluster fault tests use (tests/cluster_faults.rs). One
//! test function, since the faults are armed for the whole process.

use std::path::Path;
use std::time::Duration;

use oom_explain::cgroup::{CgroupVersion, StepCgroup};
use oom_explain::config::Config;
use oom_explain::evidence::sampler::Sampler;

#[test]
fn armed_faults_panic_fail_or_slow_down_where_they_are_armed_and_nowhere_else() {
    assert!(Config::from_args(&["fault=user_init"]).is_err());
    assert!(Config::from_args(&["fault=user_init:explode"]).is_err());
    Config::from_args(&["fault=user_init:error,kmsg:slow"]).unwrap();
    assert!(oom_explain::fault::at("user_init").is_err());
    assert!(oom_explain::fault::at("task_exit").is_ok());

    // A sampler whose thread panics: the step's end still gets the samples taken before, and
    // says why the thread stopped.
    Config::from_args(&["fault=sampler:panic"]).unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v2-plain-linux-6.1/job_F");
    let step = StepCgroup {
        version: CgroupVersion::V2,
        step_dir: dir.join("step_0"),
        job_dir: Some(dir),
        step_path: "/job_F/step_0".into(),
        job_path: Some("/job_F".into()),
    };
    let sampler = Sampler::start(step, None).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let (series, panic) = sampler.stop();
    assert!(panic.unwrap().contains("fault injected at sampler"));
    assert_eq!(series.samples.len(), 1, "the sample before the panic");
}
