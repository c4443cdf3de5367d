//! Load on the real two-node cluster (lab profile `twonode`, plugstack `records=all`): 200
//! opted-in jobs at once, half of them OOM-killed (a batch script, an srun step, one node of a
//! 2-node job), the others ending normally or with an error, some on 2 nodes, some with two
//! srun steps. Then: every job ends in the state Slurm gives that kind of job; no slurmstepd
//! crashed and the plugin logged no error on either node; every job has exactly one job-log
//! line per node it ran on (none taken as a leftover by another job's epilog); the spool is
//! empty once the epilogs are done; every killed job's .err has exactly one report.
//! Built only with `--features cluster-tests`; tests/run-all.sh starts the profile.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{Lab, Submitted};

const JOBS: usize = 200;

/// One kind of job in the mix.
struct Kind {
    name: &'static str,
    args: &'static [&'static str],
    /// The job script's body; `{alloc}` is the allocation workload.
    body: &'static str,
    /// Slurm 22.05's final JobState for it.
    state: &'static str,
    /// Whether one of its steps is OOM-killed (its .err must have the report).
    killed: bool,
    nodes: usize,
}

/// Out of every 10 jobs: 5 killed, 5 not; 3 on 2 nodes. Small memory, about a second each.
const MIX: [(usize, Kind); 7] = [
    (
        3,
        Kind {
            name: "load-oom-batch",
            args: &["--mem=60M"],
            body: "/usr/bin/python3 {alloc} 150",
            state: "OUT_OF_MEMORY",
            killed: true,
            nodes: 1,
        },
    ),
    (
        2,
        Kind {
            name: "load-ok-batch",
            args: &["--mem=100M"],
            body: "/usr/bin/python3 {alloc} 20",
            state: "COMPLETED",
            killed: false,
            nodes: 1,
        },
    ),
    (
        1,
        Kind {
            // 22.05 marks the job OUT_OF_MEMORY only for the batch step: srun's exit fails it.
            name: "load-oom-srun",
            args: &["--mem=60M"],
            body: "srun /usr/bin/python3 {alloc} 150",
            state: "FAILED",
            killed: true,
            nodes: 1,
        },
    ),
    (
        1,
        Kind {
            name: "load-exit3",
            args: &["--mem=60M"],
            body: "/usr/bin/python3 {alloc} 10\nexit 3",
            state: "FAILED",
            killed: false,
            nodes: 1,
        },
    ),
    (
        1,
        Kind {
            // The first node's task is killed, the other's ends well; the script goes on.
            name: "load-two-oom",
            args: &["--nodes=2", "--ntasks-per-node=1", "--mem=60M"],
            body: "srun sh -c 'if [ \"$SLURM_NODEID\" = 0 ]; then exec /usr/bin/python3 {alloc} 150; \
                   else exec /usr/bin/python3 {alloc} 20; fi'\nexit 0",
            state: "COMPLETED",
            killed: true,
            nodes: 2,
        },
    ),
    (
        1,
        Kind {
            name: "load-two-ok",
            args: &["--nodes=2", "--ntasks-per-node=1", "--mem=100M"],
            body: "srun /usr/bin/python3 {alloc} 20",
            state: "COMPLETED",
            killed: false,
            nodes: 2,
        },
    ),
    (
        1,
        Kind {
            // Two steps on the second node, a moment apart: other jobs' epilogs run there
            // in between.
            name: "load-two-sruns",
            args: &["--nodes=2", "--ntasks-per-node=1", "--mem=100M"],
            body: "srun /usr/bin/python3 {alloc} 20\nsleep 1\nsrun /usr/bin/python3 {alloc} 20",
            state: "COMPLETED",
            killed: false,
            nodes: 2,
        },
    ),
];

fn slurm(lab: &Lab, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("SLURM_CONF", &lab.slurm_conf)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `node[1-2]`, `node[1,2]`, `node1` → the node names.
fn node_names(list: &str) -> Vec<String> {
    let Some((prefix, rest)) = list.split_once('[') else {
        return vec![list.to_owned()];
    };
    let mut names = Vec::new();
    for part in rest.trim_end_matches(']').split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().unwrap(), b.parse().unwrap());
                names.extend((a..=b).map(|n| format!("{prefix}{n}")));
            }
            None => names.push(format!("{prefix}{part}")),
        }
    }
    names
}

/// The value of `Key=` in one line of `scontrol show job -o`.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// Length of a log now: only what is written after it is read at the end.
fn log_len(path: &std::path::Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.len())
}

fn log_since(path: &std::path::Path, from: usize) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(bytes.get(from..).unwrap_or_default()).into_owned()
}

/// Kernel log lines about slurmstepd crashing (a segfault of a slurmstepd is logged there).
fn kernel_crashes() -> Vec<String> {
    let out = Command::new("dmesg")
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| l.contains("slurmstepd") && (l.contains("segfault") || l.contains("trap")))
        .map(str::to_owned)
        .collect()
}

#[test]
fn two_hundred_opted_in_jobs_each_end_right_with_one_record_per_node() {
    let lab = Lab::get();
    assert_eq!(
        lab.profile, "twonode",
        "start the lab with OOM_EXPLAIN_LAB_PROFILE=twonode"
    );
    let plugstack = std::fs::read_to_string(lab.lab.join("etc/plugstack.conf")).unwrap();
    assert!(
        plugstack.contains("records=all"),
        "start the lab with OOM_EXPLAIN_PLUGIN_ARGS=records=all: {plugstack}"
    );
    let logs: Vec<_> = ["node1", "node2"]
        .iter()
        .map(|n| {
            let path = lab.lab.join(format!("log/slurmd-{n}.log"));
            let from = log_len(&path);
            (n.to_string(), path, from)
        })
        .collect();
    let crashes_before = kernel_crashes().len();
    let alloc = lab.workload("alloc.py");

    let started = Instant::now();
    let kinds: Vec<&Kind> = MIX
        .iter()
        .flat_map(|(n, kind)| std::iter::repeat_n(kind, *n))
        .collect();
    let mut jobs: Vec<(Submitted, &Kind)> = Vec::with_capacity(JOBS);
    for i in 0..JOBS {
        let kind = kinds[i % kinds.len()];
        let mut args = kind.args.to_vec();
        args.push("--oom-explain");
        let job = lab.submit(kind.name, &args, &kind.body.replace("{alloc}", &alloc));
        jobs.push((job, kind));
    }
    let submitted = started.elapsed();

    // Every job ends (they stay known to slurmctld: MinJobAge=3600).
    let ids: BTreeMap<u32, usize> = jobs
        .iter()
        .enumerate()
        .map(|(i, (j, _))| (j.id, i))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut states: BTreeMap<u32, (String, Vec<String>)> = BTreeMap::new();
    loop {
        states.clear();
        for line in slurm(lab, "scontrol", &["show", "job", "-o"]).lines() {
            let (Some(id), Some(state), Some(nodes)) = (
                field(line, "JobId").and_then(|s| s.parse::<u32>().ok()),
                field(line, "JobState"),
                field(line, "NodeList"),
            ) else {
                continue;
            };
            if ids.contains_key(&id) {
                states.insert(id, (state.to_owned(), node_names(nodes)));
            }
        }
        let running = ids
            .keys()
            .filter(|id| {
                states.get(id).is_none_or(|(s, _)| {
                    matches!(
                        s.as_str(),
                        "PENDING" | "RUNNING" | "CONFIGURING" | "COMPLETING" | "SUSPENDED"
                    )
                })
            })
            .count();
        if running == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{running} of {JOBS} jobs still not ended after 300 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let ended = started.elapsed();

    // The epilogs are done when no slurmstepd is left and the spool is empty.
    let spool = || -> Vec<String> {
        std::fs::read_dir(&lab.records)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let stepds = || {
        Command::new("pgrep")
            .args(["-f", "slurmstepd: \\["])
            .output()
            .is_ok_and(|o| !o.stdout.is_empty())
    };
    let settle = Instant::now() + Duration::from_secs(60);
    while (stepds() || !spool().is_empty()) && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(200));
    }
    let settled = started.elapsed();

    let mut failures: Vec<String> = Vec::new();
    let left = spool();
    if !left.is_empty() {
        failures.push(format!(
            "spool not empty 60 s after the last job: {} files, e.g. {:?}",
            left.len(),
            &left[..left.len().min(5)]
        ));
    }

    // The job log: exactly one line per node the job ran on, none recovered.
    let mut lines: BTreeMap<u32, Vec<serde_json::Value>> = BTreeMap::new();
    for line in std::fs::read_to_string(&lab.job_log)
        .unwrap_or_default()
        .lines()
    {
        let record: serde_json::Value = serde_json::from_str(line).expect("whole JSON lines");
        let id = record["job"].as_u64().unwrap() as u32;
        if ids.contains_key(&id) {
            lines.entry(id).or_default().push(record);
        }
    }

    let (mut killed, mut two_node, mut recovered) = (0, 0, 0);
    for (job, kind) in &jobs {
        let id = job.id;
        let (state, nodes) = &states[&id];
        if state != kind.state {
            failures.push(format!(
                "job {id} ({}): state {state}, expected {}",
                kind.name, kind.state
            ));
        }
        if nodes.len() != kind.nodes {
            failures.push(format!("job {id} ({}): ran on {nodes:?}", kind.name));
        }
        two_node += usize::from(nodes.len() == 2);
        let records = lines.get(&id).map(Vec::as_slice).unwrap_or_default();
        let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
        for r in records {
            *per_node
                .entry(r["node"].as_str().unwrap_or("?"))
                .or_default() += 1;
            if r["recovered"] == true {
                recovered += 1;
                failures.push(format!(
                    "job {id} ({}): its line for {} was written as a leftover by another \
                     job's epilog (\"recovered\": true), steps {}",
                    kind.name,
                    r["node"],
                    r["steps"].as_array().map_or(0, Vec::len)
                ));
            }
        }
        let expected: BTreeMap<&str, usize> = nodes.iter().map(|n| (n.as_str(), 1)).collect();
        if per_node != expected {
            failures.push(format!(
                "job {id} ({}): job-log lines per node {per_node:?}, expected {expected:?}",
                kind.name
            ));
        }
        let err = lab.stderr_of(job);
        let reports = support::causes(&err);
        if kind.killed {
            killed += 1;
            if reports != ["under-allocation"] || !err.contains("oom-explain: ") {
                failures.push(format!(
                    "job {id} ({}): killed, but its .err has reports {reports:?}:\n{err}",
                    kind.name
                ));
            }
            if !records.iter().any(|r| r["cause"] == "under-allocation") {
                failures.push(format!(
                    "job {id} ({}): killed, but no job-log line says under-allocation",
                    kind.name
                ));
            }
        } else if err.contains("oom-explain") {
            failures.push(format!(
                "job {id} ({}): not killed, yet its .err has:\n{err}",
                kind.name
            ));
        }
    }

    // No slurmstepd crashed; the plugin logged no error, on either node.
    let crash_words = [
        "segfault",
        "Segmentation",
        "core dumped",
        "panicked",
        "internal error",
    ];
    let plugin_trouble = [
        "panic",
        "not written",
        "kept in the spool",
        "ended before its last task_exit",
        "no sampler (",
        "not available",
        "cannot watch",
    ];
    let mut analysed = 0;
    for (node, path, from) in &logs {
        let log = log_since(path, *from);
        for line in log.lines() {
            if crash_words.iter().any(|w| line.contains(w)) {
                failures.push(format!("slurmd-{node}.log: {line}"));
            }
            if line.contains("oom-explain:")
                && (line.contains("oom-explain: error:")
                    || plugin_trouble.iter().any(|w| line.contains(w)))
            {
                failures.push(format!("slurmd-{node}.log: {line}"));
            }
            analysed +=
                usize::from(line.contains("oom-explain: step ") && line.contains("analysed in"));
        }
    }
    let crashes = kernel_crashes();
    for line in crashes.iter().skip(crashes_before) {
        failures.push(format!("kernel log: {line}"));
    }

    eprintln!(
        "{JOBS} jobs ({killed} with an OOM kill, {two_node} on 2 nodes): submitted in {:.1} s, \
         all ended at {:.1} s, epilogs done at {:.1} s; {analysed} steps analysed; \
         {recovered} lines recovered; {} failures",
        submitted.as_secs_f64(),
        ended.as_secs_f64(),
        settled.as_secs_f64(),
        failures.len()
    );
    for failure in &failures {
        eprintln!("{failure}");
    }
    assert!(
        failures.is_empty(),
        "{} failures (listed above), the first: {}",
        failures.len(),
        failures.first().map_or("", String::as_str)
    );
}
