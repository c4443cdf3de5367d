//! Step records, the job epilog's merge into the job log, and the `oom-explain` command's
//! readers — on step records made from the committed real evidence (tests/fixtures/evidence),
//! in temporary spool and log folders.

use std::path::{Path, PathBuf};
use std::process::Command;

use oom_explain::config::Config;
use oom_explain::history;
use oom_explain::journal;
use oom_explain::record::{JobRecord, Origin, StepRecord};
use oom_explain::report::EvidenceRecord;

/// A step record from a real evidence fixture, re-labelled as `job` on `node`.
fn step_record(fixture: &str, job: u32, node: &str, job_cgroup: Option<PathBuf>) -> StepRecord {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/evidence/v1")
        .join(fixture);
    let mut evidence = EvidenceRecord::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
    evidence.context.id.job = job;
    let report = evidence.analyse(&Config::default());
    let origin = Origin {
        node: node.into(),
        user: Some("alice".into()),
        uid: Some(1001),
        partition: Some("debug".into()),
    };
    let text = report.text(&evidence.context);
    StepRecord::new(
        &report,
        &evidence.context,
        origin,
        job_cgroup,
        true,
        1_795_000_000,
        text,
    )
}

fn at(log: &Path) -> journal::JobLog<'_> {
    journal::JobLog::File {
        path: log,
        mode: 0o644,
    }
}

fn node(name: &str) -> Origin {
    Origin {
        node: name.into(),
        ..Origin::default()
    }
}

fn log_lines(log: &Path) -> Vec<JobRecord> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line a whole job record"))
        .collect()
}

#[test]
fn the_epilog_merges_its_jobs_steps_on_its_node_and_picks_up_leftovers() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("spool");
    let log = tmp.path().join("log/jobs.jsonl");
    let running = tmp.path().join("job_30"); // a job still on the node: its cgroup exists
    std::fs::create_dir(&running).unwrap();
    for record in [
        step_record("other-step.0.json", 10, "node1", None),
        step_record("other-step.1.json", 10, "node1", None),
        step_record("other-step.batch.json", 10, "node1", None),
        // The same job on another slurmd of the same host: not this epilog's.
        step_record("over-request.batch.json", 10, "node2", None),
        // A job whose epilog never ran (its cgroup is gone): a leftover.
        step_record(
            "under-allocation.batch.json",
            20,
            "node1",
            Some(tmp.path().join("job_20")),
        ),
        // A job still running here: left alone.
        step_record("near-miss.batch.json", 30, "node1", Some(running.clone())),
    ] {
        journal::spool_step(&spool, &record).unwrap();
    }
    std::fs::write(
        spool.join("40.batch.node1.1795000000.json"),
        "{ not a record",
    )
    .unwrap();

    let here = |r: &StepRecord| r.job_cgroup.as_ref().is_some_and(|d| d.exists());
    let merged = journal::epilog(&spool, at(&log), 10, &node("node1"), here).unwrap();
    let lines = log_lines(&log);
    assert_eq!(lines, merged.jobs);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let (own, leftover) = (&lines[0], &lines[1]);
    assert_eq!((own.job, own.recovered, own.steps.len()), (10, false, 3));
    assert_eq!(own.cause, "other-step");
    assert_eq!(own.origin.node, "node1");
    assert_eq!((leftover.job, leftover.recovered), (20, true));
    assert_eq!(leftover.cause, "under-allocation");
    assert_eq!(
        merged.bad,
        vec![spool.join("40.batch.node1.1795000000.bad")]
    );
    let mut left: Vec<String> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "10.batch.node2.1795000000.json",
            "30.batch.node1.1795000000.json",
            "40.batch.node1.1795000000.bad"
        ]
    );

    // node2's epilog of the same job takes its own record, and the job's lines merge on read.
    journal::epilog(&spool, at(&log), 10, &node("node2"), here).unwrap();
    let records = history::find_job(std::slice::from_ref(&log), 10).unwrap();
    assert_eq!(records.len(), 2);
    let text = history::explain(10, &records).join("\n");
    assert!(
        text.starts_with("Job 10 of alice on node1, node2, ended "),
        "{text}"
    );
    assert!(text.contains("cause: other-step"), "{text}");
    assert!(text.contains("(on node1)"), "{text}");
}

#[test]
fn a_requeued_jobs_records_of_the_same_step_and_node_are_all_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let (spool, log) = (tmp.path().join("spool"), tmp.path().join("log/jobs.jsonl"));
    // The first run's epilog failed; the job was requeued and ran the same step here again,
    // once ending in the same second as before.
    let first = step_record("under-allocation.batch.json", 9, "node1", None);
    let mut second = first.clone();
    second.ended += 60;
    for record in [&first, &second, &second] {
        journal::spool_step(&spool, record).unwrap();
    }
    journal::epilog(&spool, at(&log), 9, &node("node1"), |_| false).unwrap();
    assert_eq!(log_lines(&log)[0].steps.len(), 3);
}

/// The command as another user (`nobody`), on a job log everyone may read but without Slurm's
/// client on the PATH: it cannot learn PrivateData, so it shows that user's own jobs only.
#[test]
fn a_user_is_not_shown_another_users_job() {
    use std::os::unix::fs::PermissionsExt;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: running the command as another user needs root (CI runs as root)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (spool, log) = (tmp.path().join("spool"), tmp.path().join("log/jobs.jsonl"));
    journal::spool_step(
        &spool,
        &step_record("under-allocation.batch.json", 5, "node1", None),
    )
    .unwrap();
    let alice = Origin {
        user: Some("alice".into()),
        uid: Some(1001),
        ..node("node1")
    };
    journal::epilog(&spool, at(&log), 5, &alice, |_| false).unwrap();
    let binary = tmp.path().join("oom-explain");
    std::fs::copy(env!("CARGO_BIN_EXE_oom-explain"), &binary).unwrap();
    let explain_as_nobody = || {
        Command::new("/usr/sbin/runuser")
            .args(["-u", "nobody", "--"])
            .arg(&binary)
            .args(["--log", log.to_str().unwrap(), "5"])
            .env("PATH", "/nonexistent")
            .output()
            .unwrap()
    };
    let as_nobody = explain_as_nobody();
    let err = String::from_utf8_lossy(&as_nobody.stderr);
    assert!(!as_nobody.status.success());
    assert!(
        err.contains("job 5: the records here are not yours to see (Slurm could not be asked"),
        "{err}"
    );
    // Slurm's accounting is asked instead (absent here): nothing of alice's job is shown.
    assert!(err.contains("sacct could not run"), "{err}");
    assert!(as_nobody.stdout.is_empty());
    // The site's default: a job log only admins may read. The user is told so, not "Permission
    // denied", and the command goes on to what sacct knows (absent here).
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o600)).unwrap();
    let private = explain_as_nobody();
    let err = String::from_utf8_lossy(&private.stderr);
    assert!(err.contains("readable by the administrators only"), "{err}");
    assert!(
        err.contains("your job's report is also near the end of its .err file, or its .out"),
        "{err}"
    );
    assert!(err.contains("sacct could not run"), "{err}");
    assert!(!err.contains("Permission denied"), "{err}");
    // Root sees it.
    let as_root = Command::new(&binary)
        .args(["--log", log.to_str().unwrap(), "5"])
        .output()
        .unwrap();
    assert!(as_root.status.success());
}

#[test]
fn a_torn_line_in_the_job_log_costs_only_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("jobs.jsonl");
    let record = JobRecord::merge(
        vec![step_record("near-miss.batch.json", 3, "node1", None)],
        false,
    )
    .unwrap();
    // A line not written as the plugin writes it (spaces, another key order) is still found.
    let spaced = serde_json::to_string_pretty(&record)
        .unwrap()
        .replace('\n', " ");
    let mut bytes = b"\xff\xfe torn\n".to_vec();
    bytes.extend_from_slice(format!("{spaced}\n").as_bytes());
    std::fs::write(&log, bytes).unwrap();
    let found = history::find_job(std::slice::from_ref(&log), 3).unwrap();
    assert_eq!(found, [record]);
}

#[test]
fn who_ran_a_job_and_where_come_from_slurm_not_from_the_steps_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let (spool, log) = (tmp.path().join("spool"), tmp.path().join("log/jobs.jsonl"));
    // A step whose user set SLURM_JOB_PARTITION (and whatever else) in its environment.
    let mut record = step_record("under-allocation.batch.json", 8, "node1", None);
    record.origin.user = Some("mallory".into());
    record.origin.partition = Some("gpu-free".into());
    journal::spool_step(&spool, &record).unwrap();
    let slurm_says = Origin {
        user: Some("alice".into()),
        uid: Some(1001),
        partition: Some("debug".into()),
        ..node("node1")
    };
    journal::epilog(&spool, at(&log), 8, &slurm_says, |_| false).unwrap();
    let line = &log_lines(&log)[0];
    assert_eq!(line.origin, slurm_says);
    assert_eq!(line.steps[0].origin, slurm_says);
}

#[test]
fn a_job_is_taken_for_gone_when_its_cgroup_is_and_its_records_are_old_enough() {
    let tmp = tempfile::tempdir().unwrap();
    let still_here =
        |r: &StepRecord, after_end: u64| journal::job_still_here(r, r.ended + after_end, 600);
    let running = step_record("near-miss.batch.json", 1, "node1", Some(tmp.path().into()));
    assert!(still_here(&running, 10 * 86400));
    let no_folder = step_record(
        "near-miss.batch.json",
        1,
        "node1",
        Some(tmp.path().join("job_1")),
    );
    // Between two of its steps a job may have no folder: its records stay a while.
    assert!(still_here(&no_folder, 0));
    assert!(still_here(&no_folder, 599));
    assert!(!still_here(&no_folder, 600));
    let unknown = step_record("near-miss.batch.json", 1, "node1", None);
    assert!(still_here(&unknown, 3600));
    assert!(!still_here(&unknown, 2 * 86400));
}

#[test]
fn the_command_shows_what_the_jobs_stderr_got() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("spool");
    let log = tmp.path().join("log/jobs.jsonl");
    let mut record = step_record("load-spike.batch.json", 7, "node1", None);
    // A batch step does not know its user yet: the epilog fills it in from its own knowledge.
    record.origin.user = None;
    journal::spool_step(&spool, &record).unwrap();
    let here = Origin {
        user: Some("bob".into()),
        ..node("node1")
    };
    journal::epilog(&spool, at(&log), 7, &here, |_| false).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_oom-explain"))
        .args(["--log", log.to_str().unwrap(), "7"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    // The report lines, exactly as rendered for the job's stderr.
    for line in &record.report {
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} missing from\n{text}"
        );
    }
    let json = Command::new(env!("CARGO_BIN_EXE_oom-explain"))
        .args(["--log", log.to_str().unwrap(), "--json", "7"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["source"], "records");
    assert_eq!(doc["records"][0]["cause"], "load-spike");
    assert_eq!(doc["records"][0]["user"], "bob");
}

#[test]
fn concurrent_epilogs_never_interleave_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("spool");
    let log = tmp.path().join("log/jobs.jsonl");
    let jobs: Vec<u32> = (100..140).collect();
    for &job in &jobs {
        for fixture in ["rank-imbalance.0.json", "rank-imbalance.batch.json"] {
            journal::spool_step(&spool, &step_record(fixture, job, "node1", None)).unwrap();
        }
    }
    std::thread::scope(|s| {
        for &job in &jobs {
            let (spool, log) = (&spool, &log);
            s.spawn(move || {
                journal::epilog(spool, at(log), job, &node("node1"), |_| true).unwrap()
            });
        }
    });
    let lines = log_lines(&log);
    let mut seen: Vec<u32> = lines.iter().map(|r| r.job).collect();
    seen.sort();
    assert_eq!(seen, jobs, "each job exactly once");
    assert!(lines.iter().all(|r| r.steps.len() == 2));
}

#[test]
fn unsafe_places_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let open = tmp.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let record = step_record("near-miss.batch.json", 1, "node1", None);
    assert!(
        journal::spool_step(&open, &record).is_err(),
        "a world-writable spool"
    );
    assert!(
        journal::spool_step(&open.join("sub"), &record).is_err(),
        "made inside one"
    );
    // The log through a symlink.
    let logs = tmp.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", logs.join("jobs.jsonl")).unwrap();
    assert!(journal::append(&logs.join("jobs.jsonl"), 0o644, b"{}\n").is_err());
}

#[test]
fn check_config_uses_the_plugins_parser() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("plugstack.conf");
    let inc = tmp.path().join("plugstack.conf.d");
    std::fs::create_dir(&inc).unwrap();
    std::fs::write(
        &conf,
        "# site plugins\noptional /usr/lib/other.so x=1\ninclude plugstack.conf.d/*.conf\n",
    )
    .unwrap();
    // A plugin file of this build (its version line is what check-config compares with the
    // host's Slurm release).
    let plugin = tmp.path().join("oom_explain.so");
    std::fs::write(&plugin, format!("\0{}\0", oom_explain::VERSION_LINE)).unwrap();
    std::fs::write(
        inc.join("oom.conf"),
        format!("required {} headroom=25 records=all\n", plugin.display()),
    )
    .unwrap();
    let run = |path: &Path| {
        Command::new(env!("CARGO_BIN_EXE_oom-explain"))
            .args(["check-config", path.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let ok = run(&conf);
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{text}");
    assert!(
        text.contains("oom.conf:1: OK")
            && text.contains("headroom 25 %")
            && text.contains("records all"),
        "{text}"
    );
    std::fs::write(
        inc.join("oom.conf"),
        format!("required {} hedroom=25\n", plugin.display()),
    )
    .unwrap();
    let bad = run(&conf);
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(!bad.status.success());
    assert!(
        text.contains("oom.conf:1: error") && text.contains("\"hedroom\""),
        "{text}"
    );
}

/// The command's manual pages: `oom-explain.1` and one per subcommand, each generated from the
/// command-line definition, with the sections clap_mangen does not write (the exit status and
/// examples `--help` shows, and SEE ALSO).
fn man_pages() -> Vec<(String, String)> {
    use clap_mangen::roff::{Roff, bold, roman};
    use oom_explain::cli::help;
    // The pages name the package version only: the Slurm release depends on the build host.
    let mut cmd = <oom_explain::cli::Cli as clap::CommandFactory>::command()
        .version(env!("CARGO_PKG_VERSION"))
        .after_help(None::<&str>);
    cmd.build();
    let subcommands: Vec<clap::Command> = cmd.get_subcommands().cloned().collect();
    let page_of = |name: &str| (format!("oom-explain-{name}"), "1");
    let see_also = |pages: Vec<(String, &str)>| {
        let mut roff = Roff::new();
        roff.control("SH", ["SEE ALSO"]);
        let pages: Vec<(String, &str)> = pages
            .into_iter()
            .chain(help::SEE_ALSO.iter().map(|(n, s)| (n.to_string(), *s)))
            .collect();
        let mut inlines = Vec::new();
        for (i, (name, section)) in pages.iter().enumerate() {
            let comma = if i + 1 < pages.len() { ", " } else { "" };
            inlines.push(bold(name.as_str()));
            inlines.push(roman(format!("({section}){comma}")));
        }
        roff.text(inlines);
        roff.to_roff()
    };
    let render = |cmd: clap::Command, extra: String| {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd)
            .source(format!("oom-explain {}", env!("CARGO_PKG_VERSION")))
            .render(&mut page)
            .unwrap();
        let page = String::from_utf8(page).unwrap();
        // The sections go before VERSION where there is one, else at the end.
        match page.find(".SH VERSION") {
            Some(at) => format!("{}{extra}{}", &page[..at], &page[at..]),
            None => page + &extra,
        }
    };
    let mut main_sections = Roff::new();
    main_sections.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in help::EXIT_STATUS {
        main_sections
            .control("TP", [])
            .text([bold(code)])
            .text([roman(meaning)]);
    }
    main_sections.control("SH", ["EXAMPLES"]);
    for (command, what) in help::EXAMPLES {
        main_sections
            .control("TP", [])
            .text([bold(command)])
            .text([roman(what)]);
    }
    let names: Vec<(String, &str)> = subcommands.iter().map(|s| page_of(s.get_name())).collect();
    let main = render(cmd.clone(), main_sections.to_roff() + &see_also(names));
    let mut pages = vec![("oom-explain.1".to_owned(), main)];
    for sub in subcommands {
        let (name, section) = page_of(sub.get_name());
        let page = render(sub, see_also(vec![("oom-explain".into(), "1")]));
        pages.push((format!("{name}.{section}"), page));
    }
    pages
}

#[test]
fn the_man_pages_are_generated_from_the_command_line_definition() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let pages = man_pages();
    for (name, page) in &pages {
        let path = docs.join(name);
        if std::env::var_os("UPDATE_EXPECTED").is_some() {
            std::fs::write(&path, page).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            &committed == page,
            "docs/{name} is out of date: UPDATE_EXPECTED=1 cargo test --test records"
        );
    }
    // Every page named exists: the command's, and the plugin's (docs/oom-explain-plugin.8).
    let named = pages_named(&pages.iter().map(|(_, p)| p.as_str()).collect::<String>());
    assert!(
        named.contains(&"oom-explain-plugin.8".to_owned()),
        "{named:?}"
    );
    for page in named {
        assert!(
            docs.join(&page).is_file(),
            "a page names {page}, which docs/ lacks"
        );
    }
    let main = &pages[0].1;
    for section in [
        ".SH \"EXIT STATUS\"",
        ".SH EXAMPLES",
        ".SH \"SEE ALSO\"",
        "oom\\-explain\\-completions(1)",
    ] {
        assert!(
            main.contains(section),
            "{section} missing from oom-explain.1"
        );
    }
}

/// The pages a manual page names, `name(section)` (roff writes `-` as `\-`), as file names.
fn pages_named(roff: &str) -> Vec<String> {
    let text = roff
        .replace("\\-", "-")
        .replace("\\fB", "")
        .replace("\\fR", "");
    let mut found = Vec::new();
    for (at, _) in text.match_indices("oom-explain") {
        let rest = &text[at..];
        let name_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(rest.len());
        let (name, after) = rest.split_at(name_end);
        if let Some(section) = after
            .strip_prefix('(')
            .and_then(|a| a.split_once(')'))
            .map(|(s, _)| s)
            .filter(|s| s.len() == 1 && s.chars().all(|c| c.is_ascii_digit()))
        {
            let page = format!("{name}.{section}");
            if !found.contains(&page) {
                found.push(page);
            }
        }
    }
    found
}

#[test]
fn the_report_counts_jobs_by_cause_user_and_partition_and_the_unused_memory() {
    use oom_explain::fleet::{Builder, Filter};
    let base = |fixture: &str, job: u32, node: &str, user: &str| {
        let mut step = step_record(fixture, job, node, None);
        step.origin.user = Some(user.into());
        step.origin.uid = ["alice", "bob", "carol", "dave"]
            .iter()
            .position(|u| *u == user)
            .map(|i| 1001 + i as u32);
        JobRecord::merge(vec![step], false).unwrap()
    };
    let mut lines = vec![
        // Job 1 ran on two nodes and was killed on both: one job.
        base("under-allocation.batch.json", 1, "node1", "alice").to_line(),
        base("under-allocation.batch.json", 1, "node2", "alice").to_line(),
        base("tmpfs.batch.json", 2, "node1", "alice").to_line(),
        base("load-spike.batch.json", 3, "node1", "bob").to_line(),
        base("near-miss.batch.json", 4, "node1", "bob").to_line(),
    ];
    let mut over = base("over-request.batch.json", 5, "node1", "carol");
    (over.peak, over.limit, over.elapsed_s) = (Some(1 << 30), Some(5 << 30), Some(7200));
    lines.push(over.to_line());
    let mut old = base("under-allocation.batch.json", 6, "node1", "dave");
    old.ended = 1_000;
    lines.push(old.to_line());
    lines.push("not json".into());

    let mut all = Builder::new(Filter::default());
    lines.iter().for_each(|l| all.add_line(l));
    let r = all.finish(10);
    assert_eq!((r.lines, r.records, r.skipped), (8, 7, 1));
    assert_eq!(r.oom_jobs, 4, "jobs 1 (once), 2, 3 and 6: {:?}", r.by_cause);
    assert_eq!(r.by_user[0], ("alice".to_owned(), 2));
    assert_eq!(r.near_misses, 1);
    assert_eq!(r.over_requests, 1);
    assert!(
        (r.over_request_gib_hours - 8.0).abs() < 1e-9,
        "4 GiB unused for 2 h"
    );

    let mut recent = Builder::new(Filter {
        since: Some(1_000_000),
        user: Some("alice".into()),
        ..Filter::default()
    });
    lines.iter().for_each(|l| recent.add_line(l));
    let r = recent.finish(10);
    assert_eq!((r.records, r.oom_jobs), (3, 2));
    let text = r.lines().join("\n");
    assert!(
        text.contains("under-allocation") && text.contains("tmpfs"),
        "{text}"
    );

    // A user who may not see others' jobs (PrivateData=jobs) gets a report of their own.
    let mut own = Builder::new(Filter {
        uid: Some(1002),
        ..Filter::default()
    });
    lines.iter().for_each(|l| own.add_line(l));
    let r = own.finish(10);
    assert_eq!((r.records, r.oom_jobs), (2, 1));
    assert!(
        r.by_user.iter().all(|(user, _)| user == "bob"),
        "{:?}",
        r.by_user
    );
}

#[test]
fn the_report_over_a_large_generated_log_counts_exactly() {
    // 30,000 records from the real fixtures (many 1 MiB read buffers' worth), with a known
    // mix: every 10th job killed (4 causes in turn), every 25th an over-request, the rest fine.
    let causes = [
        "under-allocation.batch.json",
        "load-spike.batch.json",
        "tmpfs.batch.json",
        "worker-multiplication.batch.json",
    ];
    let templates: Vec<JobRecord> = causes
        .iter()
        .chain(["over-request.batch.json", "near-miss.batch.json"].iter())
        .map(|f| JobRecord::merge(vec![step_record(f, 0, "node1", None)], false).unwrap())
        .collect();
    let none = {
        let mut r = templates[5].clone();
        r.cause = "none".into();
        r
    };
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("big.jsonl");
    let mut text = String::new();
    let (mut killed, mut over) = ([0u64; 4], 0u64);
    for job in 1..=30_000u32 {
        let mut r = if job % 10 == 0 {
            let i = (job / 10 % 4) as usize;
            killed[i] += 1;
            templates[i].clone()
        } else if job % 25 == 0 {
            over += 1;
            templates[4].clone()
        } else {
            none.clone()
        };
        r.job = job;
        r.origin.user = Some(format!("user{}", job % 7));
        text.push_str(&r.to_line());
        text.push('\n');
    }
    std::fs::write(&log, &text).unwrap();
    assert!(text.len() > 8 << 20, "spans many read buffers");
    let out = Command::new(env!("CARGO_BIN_EXE_oom-explain"))
        .args(["report", "--json", "--log", log.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["records"], 30_000);
    assert_eq!(r["oom_jobs"], killed.iter().sum::<u64>());
    assert_eq!(r["over_requests"], over);
    let by_cause: std::collections::HashMap<String, u64> = r["by_cause"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_u64().unwrap()))
        .collect();
    for (i, fixture) in causes.iter().enumerate() {
        let cause = fixture.split('.').next().unwrap();
        assert_eq!(by_cause[cause], killed[i], "{cause}");
    }
}

/// `job_log=syslog` and a daemon that stops taking messages part-way: the lines that went out
/// are done, the others' records wait in the spool for the next epilog (never sent twice).
#[test]
fn a_syslog_daemon_that_stalls_part_way_keeps_the_unsent_jobs_for_the_next_epilog() {
    use std::os::unix::net::UnixDatagram;
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("spool");
    journal::spool_step(
        &spool,
        &step_record("near-miss.batch.json", 10, "node1", None),
    )
    .unwrap();
    let gone = Some(tmp.path().join("job_20"));
    let leftover = step_record("under-allocation.batch.json", 20, "node1", gone);
    journal::spool_step(&spool, &leftover).unwrap();
    // The daemon's queue full but for one message.
    let socket = tmp.path().join("log.sock");
    let daemon = UnixDatagram::bind(&socket).unwrap();
    let filler = UnixDatagram::unbound().unwrap();
    filler.connect(&socket).unwrap();
    filler.set_nonblocking(true).unwrap();
    while filler.send(b"x").is_ok() {}
    let mut buf = [0u8; 64];
    daemon.recv(&mut buf).unwrap();
    let syslog = oom_explain::syslog::Syslog {
        socket,
        ..Default::default()
    };
    let log = journal::JobLog::Syslog(&syslog);
    let merged = journal::epilog(&spool, log, 10, &node("node1"), |_| false).unwrap();
    assert_eq!(merged.jobs.len(), 1, "the epilog's own job went out");
    assert_eq!(merged.jobs[0].job, 10);
    assert!(
        merged
            .kept
            .as_deref()
            .is_some_and(|k| k.starts_with("1 job(s) kept")),
        "{merged:?}"
    );
    let waiting: Vec<String> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert!(waiting[0].starts_with("20.batch.node1."), "{waiting:?}");
}
