//! Drives the real test cluster (tests/cluster/lab.sh) from integration tests: submits real jobs
//! as the unprivileged job user and reads the real slurm-%j.err files.

#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use oom_explain::slurm::SlurmRelease;

pub struct Lab {
    script: PathBuf,
    pub jobs: PathBuf,
    pub slurm_conf: PathBuf,
    pub lab: PathBuf,
    /// "cgroup v1" or "cgroup v2": what this lab's Slurm runs on (reports name it).
    pub cgroup: String,
    /// The lab's configuration profile (`default`, `overmemory`).
    pub profile: String,
    /// The plugin's spool of step records, and the nodes' job log.
    pub records: PathBuf,
    pub job_log: PathBuf,
}

pub struct Submitted {
    pub id: u32,
    pub name: String,
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

impl Lab {
    /// The running lab. Fails (never skips) with a clear message when it is not up.
    pub fn get() -> &'static Lab {
        static LAB: OnceLock<Lab> = OnceLock::new();
        LAB.get_or_init(|| {
            let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
            let script = repo.join("tests/cluster/lab.sh");
            let env = run(Command::new(&script).arg("env"));
            let env = String::from_utf8_lossy(&env.stdout).into_owned();
            let get = |key: &str| {
                env.lines()
                    .find_map(|l| l.strip_prefix(&format!("{key}=")))
                    .map(PathBuf::from)
                    .unwrap_or_else(|| panic!("lab.sh env gave no {key}"))
            };
            let lab = Lab {
                script,
                jobs: get("JOBS"),
                slurm_conf: get("SLURM_CONF"),
                lab: get("LAB"),
                cgroup: format!("cgroup {}", get("CGROUP").display()),
                profile: get("PROFILE").display().to_string(),
                records: get("RECORDS"),
                job_log: get("JOB_LOG"),
            };
            let ping = run(Command::new("scontrol")
                .arg("ping")
                .env("SLURM_CONF", &lab.slurm_conf));
            assert!(
                String::from_utf8_lossy(&ping.stdout).contains("UP"),
                "the test cluster is not up: run `tests/run-all.sh` (or `cargo build --release && \
                 tests/cluster/lab.sh up` as root) first.\n{}",
                String::from_utf8_lossy(&ping.stderr)
            );
            // The workloads must be readable by the job user wherever the repo is checked out.
            let workloads = lab.jobs.join("workloads");
            std::fs::create_dir_all(&workloads).unwrap();
            for entry in std::fs::read_dir(repo.join("tests/cluster/workloads")).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), workloads.join(entry.file_name())).unwrap();
            }
            lab
        })
    }

    /// Path of a workload as the job sees it.
    pub fn workload(&self, name: &str) -> String {
        self.jobs.join("workloads").join(name).display().to_string()
    }

    /// Submits a job that runs the allocation workload: `alloc.py ALLOC_ARGS` (MiB [hold s]).
    pub fn submit_alloc(&self, name: &str, args: &[&str], alloc_args: &str) -> Submitted {
        let alloc = self.workload("alloc.py");
        self.submit(
            name,
            args,
            &format!("/usr/bin/python3 {alloc} {alloc_args}"),
        )
    }

    /// Writes `body` as a job script named `name` and submits it with `args`.
    pub fn submit(&self, name: &str, args: &[&str], body: &str) -> Submitted {
        self.submit_as(None, name, args, body)
    }

    /// The same, as another job user (created with `lab.sh add-user`).
    pub fn submit_as(
        &self,
        user: Option<&str>,
        name: &str,
        args: &[&str],
        body: &str,
    ) -> Submitted {
        let script = self.jobs.join(format!("{name}.sh"));
        std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
        let out_arg = format!("--output={name}-%j.out");
        let err_arg = format!("--error={name}-%j.err");
        let mut all: Vec<&str> = vec![&out_arg, &err_arg, "--job-name", name];
        all.extend_from_slice(args);
        let script = script.display().to_string();
        all.push(&script);
        let mut cmd = Command::new(&self.script);
        if let Some(user) = user {
            cmd.env("OOM_EXPLAIN_JOB_USER", user);
        }
        let out = run(cmd.arg("sbatch").args(&all));
        assert!(
            out.status.success(),
            "sbatch {all:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let id = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        Submitted {
            id,
            name: name.to_owned(),
        }
    }

    /// Creates another job user; returns its uid.
    pub fn add_user(&self, name: &str) -> u32 {
        let out = run(Command::new(&self.script).args(["add-user", name]));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }

    /// Runs sbatch as the job user and returns what it did.
    pub fn sbatch(&self, args: &[&str]) -> Output {
        run(Command::new(&self.script).arg("sbatch").args(args))
    }

    /// Runs any client command as the job user.
    pub fn run_as(&self, args: &[&str]) -> Output {
        run(Command::new(&self.script).arg("run-as").args(args))
    }

    /// Waits for the job to end; returns Slurm's final JobState.
    pub fn wait(&self, job: &Submitted) -> String {
        let out = run(Command::new(&self.script).args(["wait", &job.id.to_string(), "180"]));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn stderr_of(&self, job: &Submitted) -> String {
        self.file(&format!("{}-{}.err", job.name, job.id))
    }

    pub fn stdout_of(&self, job: &Submitted) -> String {
        self.file(&format!("{}-{}.out", job.name, job.id))
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.jobs.join(name)).unwrap_or_default()
    }

    /// Runs `lab.sh ARGS…` (as root), asserting it worked.
    pub fn lab_sh(&self, args: &[&str]) {
        let out = run(Command::new(&self.script).args(args));
        assert!(
            out.status.success(),
            "lab.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The job log's lines for `job` (one per node), waiting up to `secs` for `nodes` of them:
    /// the job epilog runs a moment after the job ends.
    pub fn job_records(&self, job: &Submitted, nodes: usize, secs: u64) -> Vec<serde_json::Value> {
        let mut found = Vec::new();
        for _ in 0..secs * 5 {
            found = std::fs::read_to_string(&self.job_log)
                .unwrap_or_default()
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("whole JSON lines"))
                .filter(|r| r["job"] == job.id)
                .collect();
            if found.len() >= nodes {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        found
    }

    /// Runs the `oom-explain` command on this lab's job log.
    pub fn oom_explain(&self, args: &[&str]) -> Output {
        self.oom_explain_on(&self.job_log, args)
    }

    /// Runs the `oom-explain` command on `log` (a collected file).
    pub fn oom_explain_on(&self, log: &Path, args: &[&str]) -> Output {
        run(Command::new(env!("CARGO_BIN_EXE_oom-explain"))
            .arg("--log")
            .arg(log)
            .args(args)
            .env("SLURM_CONF", &self.slurm_conf))
    }

    /// slurmd's log, where admins see the plugin's messages.
    pub fn slurmd_log(&self) -> String {
        std::fs::read_to_string(self.lab.join("log/slurmd.log")).unwrap_or_default()
    }

    /// The lab's Slurm release, from `sinfo -V` ("slurm 24.11.5").
    pub fn slurm_release(&self) -> SlurmRelease {
        let out = run(Command::new("sinfo")
            .arg("-V")
            .env("SLURM_CONF", &self.slurm_conf));
        SlurmRelease::parse(&String::from_utf8_lossy(&out.stdout))
            .unwrap_or_else(|| panic!("sinfo -V: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// The `cause: <id>` lines of a report.
/// The text on one line, single-spaced: phrases are found whatever the wrapping.
pub fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn causes(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("cause: "))
        .map(str::to_owned)
        .collect()
}

/// The value of the `#SBATCH --mem=` line, in MiB.
pub fn recommended_mib(text: &str) -> Option<u64> {
    let value = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("#SBATCH --mem="))?;
    let (number, unit) = value.split_at(value.len() - 1);
    let number: u64 = number.parse().ok()?;
    match unit {
        "M" => Some(number),
        "G" => Some(number * 1024),
        _ => None,
    }
}

/// Whether the job's stderr has Slurm's own line for one OOM kill: "Detected 1 oom-kill
/// event(s) …" up to 22.05, "Detected 1 oom_kill event(s) …" from 23.02 on.
pub fn has_slurm_oom_line(err: &str) -> bool {
    // "Detected 1 oom-kill event(s) in StepId=…" (22.05), "Detected 2 oom_kill events in …"
    // (26.05): any count, both spellings.
    err.lines().any(|l| {
        l.split("Detected ").skip(1).any(|rest| {
            let count = rest.split(' ').next().unwrap_or("");
            let words = rest.get(count.len()..).unwrap_or("");
            !count.is_empty()
                && count.bytes().all(|b| b.is_ascii_digit())
                && (words.starts_with(" oom-kill event") || words.starts_with(" oom_kill event"))
        })
    })
}
