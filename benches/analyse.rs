//! What the end of an opted-in step costs inside slurmstepd: discover the cgroup, read it,
//! classify, recommend and render — on the real captured trees (tests/fixtures).
//! Results are recorded in docs/performance.md.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use oom_explain::cgroup::discover;
use oom_explain::classify::Evidence;
use oom_explain::config::Config;
use oom_explain::options::Mode;
use oom_explain::report::analyse;
use oom_explain::step::{StepContext, StepId, StepKind};

fn end_of_step(c: &mut Criterion) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let cases = [
        ("v1 batch OOM", "v1-slurm-22.05/batch-oom", StepKind::Batch),
        (
            "v2 srun OOM",
            "v2-slurm-22.05-linux-6.1/job2-step_0-at-task_exit",
            StepKind::Numbered(0),
        ),
    ];
    let config = Config::default();
    for (name, dir, step) in cases {
        let root = fixtures.join(dir);
        let context = StepContext {
            exit_statuses: vec![9],
            ..StepContext::new(StepId { job: 2, step })
        };
        c.bench_function(&format!("user_init: discover ({name})"), |b| {
            b.iter(|| discover(&root, "self").unwrap())
        });
        let cgroup = discover(&root, "self").unwrap();
        c.bench_function(
            &format!("task_exit: read + classify + render ({name})"),
            |b| {
                b.iter(|| {
                    let report = analyse(&cgroup, &Evidence::default(), &context, &config).unwrap();
                    report.lines(&context, Mode::Auto).unwrap()
                })
            },
        );
    }
}

criterion_group!(benches, end_of_step);
criterion_main!(benches);
