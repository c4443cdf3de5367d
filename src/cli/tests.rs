//! The command end to end on temporary job logs, with a stand-in for Slurm's tools.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use super::cluster::Cluster;
use super::output::Streams;
use super::{Cli, Command, run_with};
use crate::access::Viewer;
use crate::config::Config;
use crate::record::{JobRecord, Origin, StepRecord, unix_now};
use crate::report::EvidenceRecord;
use crate::slurm::SlurmRelease;
use crate::step::ArrayTask;

const ALICE: u32 = 1001;
const BOB: u32 = 1002;

/// Slurm as the tests want it: sacct's answers by its arguments, and who is asking.
struct FakeCluster {
    uid: u32,
    sees_all: bool,
    sacct: HashMap<String, Result<String, String>>,
    asked: RefCell<Vec<String>>,
    /// What sacct streams for the cluster's report, whatever the period asked.
    streamed: String,
}

impl FakeCluster {
    fn alice() -> Self {
        FakeCluster {
            uid: ALICE,
            sees_all: false,
            sacct: HashMap::new(),
            asked: RefCell::new(Vec::new()),
            streamed: String::new(),
        }
    }

    /// sacct answers `answer` to `sacct ARGS` (the arguments joined by spaces).
    fn answers(mut self, args: &str, answer: Result<&str, &str>) -> Self {
        let answer = answer.map(str::to_owned).map_err(str::to_owned);
        self.sacct.insert(args.into(), answer);
        self
    }
}

impl Cluster for FakeCluster {
    fn caller_uid(&self) -> u32 {
        self.uid
    }

    fn viewer(&self) -> Viewer {
        Viewer {
            uid: self.uid,
            sees_all: self.sees_all,
            slurm_asked: true,
        }
    }

    fn sacct(&self, args: &[&str]) -> Result<String, String> {
        let args = args.join(" ");
        self.asked.borrow_mut().push(args.clone());
        // A job sacct was not told of: it prints nothing, as for a job it does not know.
        self.sacct.get(&args).cloned().unwrap_or(Ok(String::new()))
    }

    fn slurm_config(&self) -> Option<String> {
        Some("JobAcctGatherType       = jobacct_gather/cgroup\n".into())
    }

    fn largest_node_mib(&self) -> Option<u64> {
        Some(24_000)
    }

    fn sacct_release(&self) -> Option<SlurmRelease> {
        SlurmRelease::parse("24.11.5")
    }

    fn sacct_each_line(&self, args: &[&str], each: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        self.asked.borrow_mut().push(args.join(" "));
        self.streamed.lines().for_each(|line| each(line.as_bytes()));
        Ok(())
    }
}

/// What one run of the command did.
struct Ran {
    code: ExitCode,
    out: String,
    err: String,
}

fn run(args: &[&str], cluster: &FakeCluster) -> Ran {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut streams = Streams {
        out: &mut out,
        err: &mut err,
    };
    let args = std::iter::once("oom-explain").chain(args.iter().copied());
    let code = run_with(args.map(OsString::from), &mut streams, cluster);
    Ran {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

/// A job's line from a real evidence fixture, re-labelled.
struct Job {
    fixture: &'static str,
    job: u32,
    uid: u32,
    node: &'static str,
    array: Option<(u32, u32)>,
    ended: u64,
}

impl Job {
    fn new(fixture: &'static str, job: u32) -> Self {
        Job {
            fixture,
            job,
            uid: ALICE,
            node: "node1",
            array: None,
            ended: unix_now() - 3600,
        }
    }

    fn record(&self) -> JobRecord {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/evidence/v1")
            .join(self.fixture);
        let mut evidence =
            EvidenceRecord::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
        evidence.context.id.job = self.job;
        let report = evidence.analyse(&Config::default());
        let origin = Origin {
            node: self.node.into(),
            user: Some(if self.uid == ALICE { "alice" } else { "bob" }.into()),
            uid: Some(self.uid),
            partition: Some("debug".into()),
        };
        evidence.context.array_task = self.array.map(|(job, task)| ArrayTask { job, task });
        let text = report.text(&evidence.context);
        let step = StepRecord::new(
            &report,
            &evidence.context,
            origin,
            None,
            true,
            self.ended,
            text,
        );
        JobRecord::merge(vec![step], false).unwrap()
    }
}

/// A job log holding `jobs`, in a folder that lives as long as the value.
fn job_log(jobs: &[Job]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("jobs.jsonl");
    let lines: String = jobs.iter().map(|j| j.record().to_line() + "\n").collect();
    std::fs::write(&log, lines).unwrap();
    (tmp, log)
}

fn path(log: &Path) -> &str {
    log.to_str().unwrap()
}

#[test]
fn the_definition_is_consistent_and_help_ends_with_exit_status_and_examples() {
    Cli::command().debug_assert();
    let help = Cli::command().render_long_help().to_string();
    let tail = &help[help.find("Exit status:").expect(&help)..];
    for code in ["  0  ", "  1  ", "  2  "] {
        assert!(tail.contains(code), "{tail}");
    }
    assert!(
        tail.contains("Examples:\n  oom-explain\n") && tail.contains("oom-explain 1234 1250_3"),
        "{tail}"
    );
}

#[test]
fn global_options_are_taken_before_or_after_the_subcommand() {
    let parse = |args: &[&str]| {
        Cli::try_parse_from(std::iter::once("oom-explain").chain(args.iter().copied())).unwrap()
    };
    for args in [
        &["--json", "--log", "/a:/b", "--since", "3d", "report"][..],
        &["report", "--json", "--log", "/a:/b", "--since", "3d"],
        &["--json", "report", "--since", "3d", "--log", "/a:/b"],
    ] {
        let cli = parse(args);
        assert!(
            matches!(cli.command, Some(Command::Report { .. })),
            "{args:?}"
        );
        assert!(cli.global.json, "{args:?}");
        assert_eq!(cli.global.logs, [PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(cli.global.since.as_deref(), Some("3d"), "{args:?}");
    }
    let cli = parse(&["101", "--json", "2000_3", "--log", "/x"]);
    assert!(cli.global.json && cli.command.is_none());
    assert_eq!(cli.jobs.len(), 2);
    assert!(parse(&["completions", "bash", "--json"]).global.json);
    // A word after a job id is another job id, and not one.
    assert!(Cli::try_parse_from(["oom-explain", "101", "report"]).is_err());
    assert!(Cli::try_parse_from(["oom-explain", "101", "--all-users"]).is_err());
}

#[test]
fn a_malformed_job_id_is_a_usage_error() {
    let ran = run(&["12x"], &FakeCluster::alice());
    assert_eq!(ran.code, ExitCode::from(2));
}

#[test]
fn several_jobs_are_explained_in_turn() {
    let (_tmp, log) = job_log(&[
        Job::new("under-allocation.batch.json", 101),
        Job::new("near-miss.batch.json", 102),
    ]);
    let cluster = FakeCluster::alice();
    let ran = run(&["--log", path(&log), "102", "101"], &cluster);
    assert_eq!(ran.code, ExitCode::SUCCESS, "{}", ran.err);
    let second = ran.out.find("Job 101 of alice").expect(&ran.out);
    assert!(ran.out.starts_with("Job 102 of alice"), "{}", ran.out);
    assert!(
        ran.out[..second].ends_with("\n\n"),
        "set apart: {}",
        ran.out
    );
    assert!(ran.out.contains("cause: under-allocation"), "{}", ran.out);
    assert!(cluster.asked.borrow().is_empty(), "records answered");
}

#[test]
fn the_status_is_1_when_one_job_of_several_is_unknown() {
    let (_tmp, log) = job_log(&[Job::new("under-allocation.batch.json", 101)]);
    let cluster = FakeCluster::alice();
    let ran = run(&["--log", path(&log), "101", "999"], &cluster);
    assert_eq!(ran.code, ExitCode::FAILURE);
    assert!(ran.out.contains("Job 101 of alice"), "{}", ran.out);
    assert!(
        ran.out
            .contains("Job 999: no record here, and sacct knows no such job"),
        "{}",
        ran.out
    );
    assert_eq!(
        *cluster.asked.borrow(),
        ["-j 999 -X -n -P -o JobID,JobIDRaw,Submit"]
    );
}

#[test]
fn an_array_job_is_all_its_tasks_and_a_task_is_one_from_the_records() {
    let task = |job, index, fixture| Job {
        array: Some((2000, index)),
        ..Job::new(fixture, job)
    };
    let (_tmp, log) = job_log(&[
        // The task that keeps the array's own id is the last one Slurm starts.
        task(2000, 3, "near-miss.batch.json"),
        task(2002, 2, "over-request.batch.json"),
        task(2001, 1, "under-allocation.batch.json"),
        Job::new("tmpfs.batch.json", 1999),
    ]);
    let cluster = FakeCluster::alice();
    let all = run(&["--log", path(&log), "2000"], &cluster);
    assert_eq!(all.code, ExitCode::SUCCESS, "{}", all.err);
    let headers: Vec<&str> = all
        .out
        .lines()
        .filter(|l| l.starts_with("Job "))
        .map(|l| l.split(", ended").next().unwrap())
        .collect();
    assert_eq!(
        headers,
        [
            "Job 2001 (array task 2000_1) of alice on node1",
            "Job 2002 (array task 2000_2) of alice on node1",
            "Job 2000 (array task 2000_3) of alice on node1",
        ]
    );
    let one = run(&["--log", path(&log), "2000_2"], &cluster);
    assert!(
        one.out.starts_with("Job 2002 (array task 2000_2)"),
        "{}",
        one.out
    );
    assert!(
        !one.out.contains("2000_1") && !one.out.contains("2000_3"),
        "{}",
        one.out
    );
    assert!(cluster.asked.borrow().is_empty(), "records answered");
}

#[test]
fn without_array_ids_in_the_records_sacct_names_the_tasks() {
    // Records written before array tasks were recorded: 3001 is task 3000_1, which sacct knows.
    let (_tmp, log) = job_log(&[Job::new("under-allocation.batch.json", 3001)]);
    let tasks = "3000_1|3001\n3000_2|3000\n";
    let task_2 = "3000_2|OUT_OF_MEMORY|200M||00:00:01||1|0:125\n\
                  3000_2.batch|OUT_OF_MEMORY||204800K|00:00:01|1|1|0:125\n";
    let cluster = FakeCluster::alice()
        .answers(
            "-j 3000_1 -X -n -P -o JobID,JobIDRaw,Submit",
            Ok("3000_1|3001\n"),
        )
        .answers("-j 3000 -X -n -P -o JobID,JobIDRaw,Submit", Ok(tasks))
        .answers(
            &format!("-j 3000_2 -P -n -o {}", crate::sacct::FIELDS),
            Ok(task_2),
        );
    let one = run(&["--log", path(&log), "3000_1"], &cluster);
    assert_eq!(one.code, ExitCode::SUCCESS, "{}", one.err);
    assert!(one.out.starts_with("Job 3001 of alice"), "{}", one.out);
    let all = run(&["--log", path(&log), "3000"], &cluster);
    assert_eq!(all.code, ExitCode::SUCCESS, "{}", all.err);
    assert!(all.out.starts_with("Job 3001 of alice"), "{}", all.out);
    assert!(
        all.out.contains("Job 3000_2: no oom-explain record"),
        "{}",
        all.out
    );
    assert!(all.out.contains("State OUT_OF_MEMORY"), "{}", all.out);
}

#[test]
fn a_sacct_failure_is_one_line_saying_what_failed() {
    let (_tmp, log) = job_log(&[]);
    let disabled = crate::sacct::failure_summary(
        "sacct: error: Slurm accounting storage is disabled\nsacct: more\n",
    );
    let cluster =
        FakeCluster::alice().answers("-j 77 -X -n -P -o JobID,JobIDRaw,Submit", Err(&disabled));
    let ran = run(&["--log", path(&log), "77"], &cluster);
    assert_eq!(ran.code, ExitCode::FAILURE);
    assert!(ran.out.is_empty(), "{}", ran.out);
    assert_eq!(ran.err.lines().count(), 1, "{}", ran.err);
    assert!(
        ran.err.starts_with(&format!(
            "oom-explain: job 77: no record in {}, and accounting is not set up",
            log.display()
        )),
        "{}",
        ran.err
    );
    assert!(
        ran.err
            .contains("(sacct: error: Slurm accounting storage is disabled)")
    );
}

#[test]
fn another_users_records_are_not_shown_where_jobs_are_private() {
    let (_tmp, log) = job_log(&[Job {
        uid: BOB,
        ..Job::new("under-allocation.batch.json", 5)
    }]);
    let ran = run(&["--log", path(&log), "5"], &FakeCluster::alice());
    assert_eq!(ran.code, ExitCode::FAILURE);
    assert!(
        !ran.out.contains("of bob") && !ran.out.contains("cause:"),
        "{}",
        ran.out
    );
    assert!(
        ran.err.contains(
            "job 5: the records here are not yours to see (this cluster keeps jobs private"
        ),
        "{}",
        ran.err
    );
    // Slurm gave id 5 out again, to alice: another user's old record never stands in for her
    // job, which Slurm's accounting explains.
    let rows = "5|OUT_OF_MEMORY|200M||00:00:01||1|0:125\n5.batch|OUT_OF_MEMORY||204800K|00:00:01|1|1|0:125\n";
    let cluster = FakeCluster::alice()
        .answers(
            "-j 5 -X -n -P -o JobID,JobIDRaw,Submit",
            Ok("5|5|2026-11-30T10:00:00\n"),
        )
        .answers(
            &format!(
                "-j 5 -P -n -o {} -S 2026-11-30T10:00:00",
                crate::sacct::FIELDS
            ),
            Ok(rows),
        );
    let own = run(&["--log", path(&log), "5"], &cluster);
    assert_eq!(own.code, ExitCode::SUCCESS, "{}", own.err);
    assert!(
        own.out.contains("Job 5: no oom-explain record") && own.out.contains("OUT_OF_MEMORY"),
        "{}",
        own.out
    );
}

#[test]
fn several_jobs_in_json_are_one_document_each() {
    let (_tmp, log) = job_log(&[
        Job::new("under-allocation.batch.json", 101),
        Job {
            array: Some((2000, 4)),
            ..Job::new("near-miss.batch.json", 2004)
        },
    ]);
    let ran = run(
        &["--json", "101", "2000_4", "--log", path(&log)],
        &FakeCluster::alice(),
    );
    let docs: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&ran.out)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(docs.len(), 2, "{}", ran.out);
    assert_eq!(
        (docs[0]["job"].as_u64(), docs[0]["source"].as_str()),
        (Some(101), Some("records"))
    );
    assert_eq!(docs[1]["id"], "2000_4");
    assert_eq!(docs[1]["records"][0]["array_task_id"], 4);
    // The next request for programs: the report's line taken apart, in MiB for mem_mb.
    let next = &docs[0]["next_request"];
    let recorded = &docs[0]["records"][0]["recommendation"];
    assert_eq!(next["line"], recorded["line"], "{next}");
    assert_eq!(next["option"], "--mem", "{next}");
    assert_eq!(next["bytes"], recorded["bytes"]);
    let bytes = next["bytes"].as_u64().unwrap();
    assert_eq!(next["mem_mb"].as_u64(), Some(bytes.div_ceil(1 << 20)));
    let typed = crate::size::parse_slurm_size_mib(next["value"].as_str().unwrap());
    assert_eq!(typed, next["mem_mb"].as_u64(), "{next}");
    assert_eq!(
        (next["certainty"].as_str(), next["source"].as_str()),
        (Some("at-least"), Some("record"))
    );
}

#[test]
fn json_without_a_record_doubles_what_sacct_saw_killed() {
    let (_tmp, log) = job_log(&[]);
    let rows = "5|OUT_OF_MEMORY|200M||00:00:01||1|0:125\n5.batch|OUT_OF_MEMORY||204800K|00:00:01|1|1|0:125\n";
    let cluster = FakeCluster::alice()
        .answers("-j 5 -X -n -P -o JobID,JobIDRaw,Submit", Ok("5|5\n"))
        .answers(&format!("-j 5 -P -n -o {}", crate::sacct::FIELDS), Ok(rows));
    let ran = run(&["--json", "--log", path(&log), "5"], &cluster);
    let doc: serde_json::Value = serde_json::from_str(&ran.out).unwrap();
    assert_eq!(doc["source"], "sacct");
    assert_eq!(doc["next_request"]["line"], "#SBATCH --mem=400M", "{doc}");
    assert_eq!(doc["next_request"]["mem_mb"], 400);
    assert_eq!(doc["next_request"]["source"], "sacct");
}

/// The caller's recent jobs: one kill as an array task on two nodes, a near miss, an
/// over-request; besides, a job that went well, another user's, and an old one.
fn recent_log() -> (tempfile::TempDir, PathBuf) {
    let now = unix_now();
    job_log(&[
        Job {
            ended: now - 30 * 86400,
            ..Job::new("tmpfs.batch.json", 50)
        },
        Job {
            ended: now - 3 * 3600,
            ..Job::new("over-request.batch.json", 60)
        },
        Job {
            ended: now - 2 * 3600,
            ..Job::new("near-miss.batch.json", 70)
        },
        Job {
            array: Some((2000, 3)),
            ended: now - 600,
            ..Job::new("under-allocation.batch.json", 2003)
        },
        Job {
            array: Some((2000, 3)),
            ended: now - 601,
            node: "node2",
            ..Job::new("near-miss.batch.json", 2003)
        },
        Job {
            uid: BOB,
            ..Job::new("load-spike.batch.json", 80)
        },
    ])
}

#[test]
fn with_no_job_id_the_callers_recent_jobs_are_listed_newest_first() {
    let (_tmp, log) = recent_log();
    let ran = run(&["--log", path(&log)], &FakeCluster::alice());
    assert_eq!(ran.code, ExitCode::SUCCESS, "{}", ran.err);
    println!("{}", ran.out); // the sample the report quotes
    let lines: Vec<&str> = ran.out.lines().collect();
    assert_eq!(lines.len(), 5, "{}", ran.out);
    assert!(
        lines[0].starts_with("JOB     ENDED (UTC)       NODE         WHAT HAPPENED"),
        "{}",
        lines[0]
    );
    let first: Vec<&str> = lines[1].split("  ").filter(|c| !c.is_empty()).collect();
    assert_eq!(first[0], "2000_3");
    assert_eq!(first[2].trim(), "node1,node2");
    assert_eq!(
        first[3].trim(),
        "killed: needed more memory than it asked for"
    );
    assert!(first[5].starts_with("#SBATCH --mem="), "{first:?}");
    assert!(lines[2].starts_with("70 ") && lines[2].contains("came close to its memory limit"));
    assert!(lines[3].starts_with("60 ") && lines[3].contains("asked for far more memory"));
    assert_eq!(lines[4], "The full story of one: oom-explain JOBID");
}

#[test]
fn the_list_looks_as_far_back_as_since_says() {
    let (_tmp, log) = recent_log();
    let ran = run(
        &["--since", "60d", "--log", path(&log)],
        &FakeCluster::alice(),
    );
    assert!(ran.out.lines().any(|l| l.starts_with("50 ")), "{}", ran.out);
    let none = run(
        &["--since", "1m", "--log", path(&log)],
        &FakeCluster::alice(),
    );
    assert_eq!(none.code, ExitCode::SUCCESS);
    assert_eq!(
        none.out,
        "No memory problems recorded for your jobs in the last 1m. To look further back: \
         oom-explain --since 30d (or a date: --since 2026-01-01).\n"
    );
}

#[test]
fn every_users_jobs_are_listed_only_for_those_who_may_see_them() {
    let (_tmp, log) = recent_log();
    let admin = FakeCluster {
        sees_all: true,
        ..FakeCluster::alice()
    };
    let all = run(&["--all-users", "--log", path(&log)], &admin);
    assert!(
        all.out.starts_with("JOB     USER   ENDED (UTC)"),
        "{}",
        all.out
    );
    assert!(
        all.out.lines().any(|l| l.starts_with("80      bob ")),
        "{}",
        all.out
    );
    let private = run(&["--all-users", "--log", path(&log)], &FakeCluster::alice());
    assert!(
        private
            .err
            .contains("--all-users: this cluster keeps jobs private"),
        "{}",
        private.err
    );
    assert!(!private.out.contains("bob"), "{}", private.out);
    let json = run(&["--json", "--log", path(&log)], &FakeCluster::alice());
    let doc: serde_json::Value = serde_json::from_str(&json.out).unwrap();
    assert_eq!(doc["jobs"][0]["array_task"], "2000_3");
    assert_eq!(doc["jobs"].as_array().unwrap().len(), 3);
}

/// A reader that went away: every write fails as on a closed pipe.
struct ClosedPipe;

impl Write for ClosedPipe {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::BrokenPipe.into())
    }

    fn flush(&mut self) -> io::Result<()> {
        Err(io::ErrorKind::BrokenPipe.into())
    }
}

#[test]
fn a_closed_output_ends_every_command_quietly() {
    let (tmp, log) = recent_log();
    let plugstack = tmp.path().join("plugstack.conf");
    std::fs::write(&plugstack, "required /usr/lib/slurm/oom_explain.so\n").unwrap();
    let log = path(&log);
    let cluster = FakeCluster {
        sees_all: true, // no note on stderr that the report counts the caller's jobs only
        ..FakeCluster::alice()
    };
    for args in [
        &["--log", log][..],
        &["--log", log, "70", "2000_3"],
        &["--log", log, "--json", "70"],
        &["--log", log, "report"],
        &["check-config", plugstack.to_str().unwrap()],
        &["completions", "bash"],
    ] {
        let mut err = Vec::new();
        let mut streams = Streams {
            out: &mut ClosedPipe,
            err: &mut err,
        };
        let argv = std::iter::once("oom-explain").chain(args.iter().copied());
        let code = run_with(argv.map(OsString::from), &mut streams, &cluster);
        assert_eq!(code, ExitCode::SUCCESS, "{args:?}");
        assert!(
            err.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&err)
        );
    }
}

#[test]
fn completions_come_from_the_definition() {
    for (shell, mark) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef oom-explain"),
        ("fish", "complete -c oom-explain"),
    ] {
        let ran = run(&["completions", shell], &FakeCluster::alice());
        assert_eq!(ran.code, ExitCode::SUCCESS);
        assert!(ran.out.contains(mark), "{shell}: {}", ran.out);
        assert!(
            ran.out.contains("check-config") && ran.out.contains("since"),
            "{shell}"
        );
    }
}

#[test]
fn check_config_refuses_a_plugin_built_for_another_slurm_release() {
    // The fake cluster runs Slurm 24.11: a plugin built for 22.05 (an upgrade without a
    // rebuild) is an error; one built for 24.11 is fine; a missing one is an error.
    let tmp = tempfile::tempdir().unwrap();
    let plugin = |dir: &str, release: &str| {
        std::fs::create_dir(tmp.path().join(dir)).unwrap();
        let path = tmp.path().join(dir).join("oom_explain.so");
        let line = format!("\0\x7fELF…\00.2.0 (built for Slurm {release}, headers: vendored)\0");
        std::fs::write(&path, line).unwrap();
        path
    };
    let old = plugin("old", "22.05.8");
    let new = plugin("new", "24.11.5");
    let conf = tmp.path().join("plugstack.conf");
    let check = |plugin: &Path| {
        std::fs::write(&conf, format!("optional {}\n", plugin.display())).unwrap();
        run(&["check-config", path(&conf)], &FakeCluster::alice())
    };
    let refused = check(&old);
    assert_eq!(refused.code, ExitCode::FAILURE);
    assert!(
        refused
            .out
            .contains("was built for Slurm 22.05, but this host runs Slurm 24.11")
            && refused.out.contains("Rebuild it for 24.11"),
        "{}",
        refused.out
    );
    let fine = check(&new);
    assert_eq!(fine.code, ExitCode::SUCCESS, "{}", fine.out);
    assert!(fine.out.contains(":1: OK"), "{}", fine.out);
    let missing = check(&tmp.path().join("oom_explain.so"));
    assert_eq!(missing.code, ExitCode::FAILURE);
    assert!(
        missing.out.contains("Slurm cannot load it"),
        "{}",
        missing.out
    );
}

#[test]
fn a_summary_without_a_log_to_read_is_an_error_not_an_all_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("jobs.jsonl");
    for args in [vec!["report"], vec![], vec!["--json"]] {
        let mut all = vec!["--log", path(&missing)];
        all.extend(args.iter().copied());
        let ran = run(&all, &FakeCluster::alice());
        assert_eq!(ran.code, ExitCode::FAILURE, "{args:?}: {}", ran.out);
        assert!(ran.out.is_empty(), "{args:?}: {}", ran.out);
        assert!(
            ran.err.contains("no job log found (no ") && ran.err.contains("see --log"),
            "{args:?}: {}",
            ran.err
        );
    }
}

#[test]
fn an_admin_without_jobs_of_their_own_is_pointed_to_the_others() {
    let (_tmp, log) = job_log(&[Job::new("under-allocation.batch.json", 101)]);
    let admin = FakeCluster {
        uid: 0,
        sees_all: true,
        ..FakeCluster::alice()
    };
    let ran = run(&["--log", path(&log)], &admin);
    assert_eq!(ran.code, ExitCode::SUCCESS);
    assert!(
        ran.out
            .contains("No memory problems recorded for your jobs")
            && ran.out.contains("oom-explain --all-users"),
        "{}",
        ran.out
    );
    let student = run(
        &["--log", path(&log), "--since", "1d"],
        &FakeCluster {
            uid: BOB,
            ..FakeCluster::alice()
        },
    );
    assert!(!student.out.contains("--all-users"), "{}", student.out);
}

#[test]
fn the_same_job_id_twice_is_explained_once() {
    let (_tmp, log) = job_log(&[Job::new("under-allocation.batch.json", 101)]);
    let ran = run(
        &["--log", path(&log), "101", "101", "101.batch"],
        &FakeCluster::alice(),
    );
    assert_eq!(ran.code, ExitCode::SUCCESS);
    assert_eq!(
        ran.out.matches("Job 101 of alice").count(),
        1,
        "{}",
        ran.out
    );
}

/// The `oe1:` value the epilogs of `jobs`' nodes would leave in the job's accounting field.
fn stored_value(jobs: &[Job]) -> String {
    let records: Vec<JobRecord> = jobs.iter().map(Job::record).collect();
    let mine = &records[..];
    crate::accounting::value::merged(records[0].job, "", mine, usize::MAX).unwrap()
}

#[test]
fn a_job_is_explained_from_its_accounting_field_where_no_log_has_it() {
    let tmp = tempfile::tempdir().unwrap();
    let no_log = tmp.path().join("jobs.jsonl");
    let value = stored_value(&[Job {
        node: "node2",
        ..Job::new("under-allocation.batch.json", 4100)
    }]);
    // As sacct prints it: the job's row with the value in AdminComment, then its step's.
    let rows = format!(
        "4100|OUT_OF_MEMORY|100M||00:00:03||1|0:125|debug|{value}|\n\
         4100.batch|OUT_OF_MEMORY||90M|00:00:03|1|1|0:125|debug||\n"
    );
    let cluster = FakeCluster::alice()
        .answers(
            "-j 4100 -X -n -P -o JobID,JobIDRaw,Submit",
            Ok("4100|4100|2026-11-30T10:00:00\n"),
        )
        .answers(
            &format!(
                "-j 4100 -P -n -o {} -S 2026-11-30T10:00:00",
                crate::sacct::FIELDS
            ),
            Ok(&rows),
        );
    let ran = run(&["--log", path(&no_log), "4100"], &cluster);
    assert_eq!(ran.code, ExitCode::SUCCESS, "{}{}", ran.out, ran.err);
    assert!(
        ran.out.starts_with("Job 4100 of alice on node2"),
        "{}",
        ran.out
    );
    assert!(ran.out.contains("cause: under-allocation"), "{}", ran.out);
    // The missing log is no matter: the accounting answered.
    assert!(ran.err.is_empty(), "{}", ran.err);
    let json = run(&["--log", path(&no_log), "--json", "4100"], &cluster);
    let doc: serde_json::Value = serde_json::from_str(&json.out).unwrap();
    assert_eq!(doc["source"], "accounting");
    assert_eq!(doc["records"][0]["node"], "node2");
}

#[test]
fn the_cluster_report_reads_the_accounting_fields_sacct_streams() {
    let killed = stored_value(&[Job::new("under-allocation.batch.json", 4200)]);
    let other = stored_value(&[Job {
        uid: BOB,
        ..Job::new("under-allocation.batch.json", 4201)
    }]);
    // Ours in either field, a foreign value beside it, an empty field, a foreign value alone.
    // A value copied into another job's row, or another owner's, counts nothing.
    let rows = format!(
        "4200|1001|gpu|{killed}|\n4201|1002|debug|JS1:abc|{other}\n4202|1001|debug||\n\
         4203|1001|debug|js1:x|y|\n4204|1001|debug|{killed}|\n4200|1002|debug|{killed}|\n"
    );
    let cluster = FakeCluster {
        sees_all: true,
        streamed: rows,
        ..FakeCluster::alice()
    };
    let last_asked = || cluster.asked.borrow().last().cloned().unwrap();
    let ran = run(&["report", "--from-sacct", "--json"], &cluster);
    assert_eq!(ran.code, ExitCode::SUCCESS, "{}{}", ran.out, ran.err);
    let doc: serde_json::Value = serde_json::from_str(&ran.out).unwrap();
    assert_eq!(
        (doc["records"].as_u64(), doc["oom_jobs"].as_u64()),
        (Some(2), Some(2))
    );
    assert!(
        doc["source"].as_str().unwrap().contains("among 6 job(s)"),
        "{doc}"
    );
    // The copies in 4204's row and in another owner's row were read and not counted.
    assert_eq!(doc["skipped"].as_u64(), Some(2), "{doc}");
    // Without --since: the last week, asked of sacct relative to its own clock.
    let args = "-a -X -n -P -o JobIDRaw,UID,Partition,AdminComment,SystemComment";
    let said = last_asked();
    assert!(said.starts_with(&format!("{args} -S now-")), "{said}");
    let seconds: u64 = said.rsplit('-').next().unwrap().parse().unwrap();
    assert!((7 * 86400..7 * 86400 + 60).contains(&seconds), "{said}");
    let ran = run(
        &[
            "report",
            "--from-sacct",
            "--since",
            "2d",
            "--until",
            "1d",
            "--partition",
            "gpu",
            "--account",
            "chem",
            "--user",
            "bob",
        ],
        &cluster,
    );
    let said = last_asked();
    assert!(
        said.contains(" -E now-") && said.ends_with("-u bob -r gpu -A chem"),
        "{said}"
    );
    // The partition is also checked on each line: these jobs ran in `debug`.
    assert!(ran.out.contains("Jobs killed for memory: 0"), "{}", ran.out);
    // Slurm's partition (sacct's row) over the line's: 4200's line says `debug`, its row `gpu`.
    let ran = run(
        &["report", "--from-sacct", "--json", "--partition", "gpu"],
        &cluster,
    );
    let doc: serde_json::Value = serde_json::from_str(&ran.out).unwrap();
    assert_eq!(doc["oom_jobs"].as_u64(), Some(1), "{doc}");
    assert_eq!(doc["by_partition"][0][0], "gpu", "{doc}");
}

#[test]
fn an_account_needs_the_accounting() {
    let (_tmp, log) = job_log(&[Job::new("under-allocation.batch.json", 101)]);
    let ran = run(
        &["--log", path(&log), "report", "--account", "chem"],
        &FakeCluster::alice(),
    );
    assert_eq!(ran.code, ExitCode::FAILURE);
    assert!(
        ran.err.contains("--account needs --from-sacct"),
        "{}",
        ran.err
    );
}

#[test]
fn suggest_finds_the_earlier_runs_by_the_jobs_name() {
    let (_tmp, log) = job_log(&[]);
    let runs = "81|81|train|OUT_OF_MEMORY|200M||2026-11-30T09:00:00|1||1000||\n\
                81.batch|81.batch|batch|OUT_OF_MEMORY||199M|2026-11-30T09:00:00|1|1|||\n\
                82|82|train|OUT_OF_MEMORY|400M||2026-11-30T10:00:00|1||1000||\n\
                82.batch|82.batch|batch|OUT_OF_MEMORY||398M|2026-11-30T10:00:00|1|1|||\n";
    let query = format!(
        "-n -P -u alice --name train -S now-7776000 -E now -o {}",
        crate::suggest::FIELDS
    );
    let cluster = FakeCluster::alice()
        .answers("-j 82 -X -n -P -o JobName,User", Ok("train|alice\n"))
        .answers(&query, Ok(runs));
    let ran = run(&["suggest", "82", "--log", path(&log)], &cluster);
    assert_eq!(ran.code, ExitCode::SUCCESS, "{}", ran.err);
    assert_eq!(
        ran.out,
        "2 runs of train: none finished; killed at 200 MiB and at 400 MiB: it needs more than \
         400 MiB.\n  How much more, no run has shown: twice 400 MiB is the next try.\n  \
         Next time: #SBATCH --mem=800M (in place of your --mem or --mem-per-cpu line)\n"
    );
    let json = run(&["suggest", "82", "--json", "--log", path(&log)], &cluster);
    let doc: serde_json::Value = serde_json::from_str(&json.out).unwrap();
    assert_eq!(doc["next_request"]["mem_mb"], 800, "{doc}");
    assert_eq!(doc["runs"].as_array().map(Vec::len), Some(2));
}

#[test]
fn suggest_takes_the_name_sbatch_gives_a_script() {
    use super::suggest::job_name_option;
    let script = "#!/bin/bash\n# a comment\n#SBATCH --mem=2G\n#SBATCH -J first --time=1:00\n\
                  #SBATCH --job-name=train\npython3 x.py\n#SBATCH --job-name=ignored\n";
    assert_eq!(job_name_option(script).as_deref(), Some("train"));
    assert_eq!(job_name_option("#SBATCH -Jabc\n").as_deref(), Some("abc"));
    assert_eq!(
        job_name_option("#SBATCH --job-name \"x y\"\n").as_deref(),
        Some("x y")
    );
    assert_eq!(job_name_option("#!/bin/sh\necho\n"), None);
    let ran = run(&["suggest"], &FakeCluster::alice());
    assert_eq!(
        ran.code,
        ExitCode::from(2),
        "a JOBID, --name or --script is needed"
    );
}

#[test]
fn suggest_without_accounting_says_it_needs_it() {
    let (_tmp, log) = job_log(&[]);
    let disabled =
        crate::sacct::failure_summary("sacct: error: Slurm accounting storage is disabled\n");
    let cluster = FakeCluster::alice().answers("-j 82 -X -n -P -o JobName,User", Err(&disabled));
    let ran = run(&["suggest", "82", "--log", path(&log)], &cluster);
    assert_eq!(ran.code, ExitCode::FAILURE);
    assert!(ran.out.is_empty(), "{}", ran.out);
    assert!(
        ran.err
            .contains("suggest needs Slurm's accounting: accounting is not set up"),
        "{}",
        ran.err
    );
}
