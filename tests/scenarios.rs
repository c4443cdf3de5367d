//! The scenario corpus (tests/scenarios/*.sh): one real workload per cause, run on the real test
//! cluster. Prints the table scenario | expected | got | evidence, writes it to
//! target/scenarios-<cgroup version>-<profile>.md (docs/scenarios.md holds a copy), and
//! asserts every row.
//!
//! Runs the scenarios of the lab's current profile; tests/run-all.sh runs it once per profile.
//! Built only with `--features cluster-tests`.

mod support;

use std::path::Path;

use support::{Lab, Submitted, causes, flat};

struct Scenario {
    name: String,
    expect: String,
    what: String,
    profile: String,
    user: Option<String>,
    parent_limit_mib: Option<u64>,
    /// Only on this cgroup version ("cgroup v1"/"cgroup v2"), when the set-up needs it.
    cgroup: Option<String>,
    /// What it must be told while it runs (`# warns:`; `no` when not said).
    warns: Warns,
    body: String,
}

/// Warnings while a scenario runs, as its `# warns:` header expects them.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Warns {
    /// At least one, [`WARNED_AHEAD_S`] or more before the step's end.
    Yes,
    /// None.
    No,
    /// None, or the last one withdrawn (growth that levelled off).
    NoOrWithdrawn,
}

/// A warning must come at least this long before the kill ("tens of seconds").
const WARNED_AHEAD_S: u64 = 15;

/// The notices in a job's .err: (a warning?, seconds into the step).
fn notices(err: &str) -> Vec<(bool, u64)> {
    err.lines()
        .filter_map(|line| {
            // The job script's own notices (`Warning after 66 s:`): the scenarios' steps.
            let (warning, rest) = match line.strip_prefix("oom-explain: Warning after ") {
                Some(rest) => (true, rest),
                None => (false, line.strip_prefix("oom-explain: Update after ")?),
            };
            Some((warning, seconds(rest.split(':').next()?)?))
        })
        .collect()
}

/// "65 s", "7 min", "1 h 05 min" in seconds.
fn seconds(text: &str) -> Option<u64> {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [n, "s"] => n.parse().ok(),
        [n, "min"] => Some(n.parse::<u64>().ok()? * 60),
        [h, "h", m, "min"] => Some(h.parse::<u64>().ok()? * 3600 + m.parse::<u64>().ok()? * 60),
        _ => None,
    }
}

/// The report at the end of a job's .err (the notices before it left out).
fn end_report(err: &str) -> Vec<&str> {
    let is_notice =
        |l: &str| l.starts_with("oom-explain: Warning ") || l.starts_with("oom-explain: Update ");
    err.lines()
        .skip_while(|l| !l.starts_with("oom-explain:") || is_notice(l))
        .take_while(|l| (l.starts_with("oom-explain:") && !is_notice(l)) || l.starts_with("  "))
        .collect()
}

/// What a scenario was told while it ran, for the table and the check against `# warns:`.
fn check_warnings(s: &Scenario, err: &str, elapsed_s: Option<u64>) -> (String, Option<String>) {
    let told = notices(err);
    let said = match told.is_empty() {
        true => "none".to_owned(),
        false => told
            .iter()
            .map(|(warning, at)| {
                format!(
                    "{} at {at} s",
                    if *warning { "warned" } else { "withdrawn" }
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    let first_warning = told.iter().find(|(w, _)| *w).map(|(_, at)| *at);
    let wrong = match s.warns {
        Warns::No => !told.is_empty(),
        Warns::NoOrWithdrawn => told.last().is_some_and(|(warning, _)| *warning),
        Warns::Yes => match (first_warning, elapsed_s) {
            (Some(at), Some(end)) => at + WARNED_AHEAD_S > end,
            _ => true,
        },
    };
    let failure = wrong.then(|| {
        format!(
            "{}: told while it ran: {said} (step ended after {elapsed_s:?} s), expected {:?}",
            s.name, s.warns
        )
    });
    (said, failure)
}

fn header<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("# {key}:")))
        .map(str::trim)
}

fn scenarios() -> Vec<Scenario> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut all: Vec<Scenario> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .map(|path| {
            let body = std::fs::read_to_string(&path).unwrap();
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            Scenario {
                expect: header(&body, "expect")
                    .unwrap_or_else(|| panic!("{name}: no '# expect:'"))
                    .to_owned(),
                what: header(&body, "what").unwrap_or("").to_owned(),
                profile: header(&body, "profile").unwrap_or("default").to_owned(),
                user: header(&body, "user").map(str::to_owned),
                parent_limit_mib: header(&body, "parent-limit").map(|v| v.parse().unwrap()),
                cgroup: header(&body, "cgroup").map(|v| format!("cgroup {v}")),
                warns: match header(&body, "warns") {
                    None | Some("no") => Warns::No,
                    Some("yes") => Warns::Yes,
                    Some("no-or-withdrawn") => Warns::NoOrWithdrawn,
                    Some(other) => panic!("{name}: '# warns: {other}'"),
                },
                name,
                body,
            }
        })
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

/// A limit above the job (on `slurm_<node>/uid_<uid>`): to Slurm and to the job, the node ran short.
fn set_parent_limit(lab: &Lab, uid: u32, mib: u64) -> std::path::PathBuf {
    assert_eq!(
        lab.cgroup, "cgroup v1",
        "parent-limit scenarios are set up on the v1 lab"
    );
    let dir = Path::new("/sys/fs/cgroup/memory/slurm_localhost").join(format!("uid_{uid}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("memory.limit_in_bytes"), (mib << 20).to_string()).unwrap();
    dir
}

#[test]
fn every_scenario_gets_its_cause() {
    let lab = Lab::get();
    let chosen: Vec<Scenario> = scenarios()
        .into_iter()
        .filter(|s| s.profile == lab.profile)
        .filter(|s| s.cgroup.as_ref().is_none_or(|c| *c == lab.cgroup))
        .collect();
    assert!(
        !chosen.is_empty(),
        "no scenario for profile {}",
        lab.profile
    );

    let mut parent_dirs = Vec::new();
    let jobs: Vec<(Scenario, Submitted)> = chosen
        .into_iter()
        .map(|s| {
            if let (Some(user), Some(mib)) = (&s.user, s.parent_limit_mib) {
                parent_dirs.push(set_parent_limit(lab, lab.add_user(user), mib));
            } else if let Some(user) = &s.user {
                lab.add_user(user);
            }
            let body = s
                .body
                .replace("@WORKLOADS@", lab.workload("").trim_end_matches('/'));
            let body = body.trim_start_matches("#!/bin/sh\n").to_owned();
            let job = lab.submit_as(
                s.user.as_deref(),
                &format!("scenario-{}", s.name),
                &[],
                &body,
            );
            (s, job)
        })
        .collect();

    let mut rows = Vec::new();
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for (s, job) in &jobs {
        let state = lab.wait(job);
        let err = lab.stderr_of(job);
        let got = causes(&err);
        // The report in full, as the job's .err has it (for docs/scenarios.md and review).
        let report = end_report(&err);
        // What the report says it saw: the "Seen:" paragraph, else its first sentence.
        let seen: Vec<&str> = report
            .iter()
            .skip_while(|l| !l.starts_with("  Seen:"))
            .enumerate()
            .take_while(|(i, l)| *i == 0 || l.starts_with("    "))
            .map(|(_, l)| *l)
            .collect();
        let evidence = match seen.is_empty() {
            false => flat(&seen.join(" ")).replace("Seen: ", ""),
            true => flat(
                &report
                    .iter()
                    .take_while(|l| l.starts_with("oom-explain:") || l.starts_with("    "))
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        };
        let elapsed_s = lab
            .job_records(job, 1, 10)
            .first()
            .and_then(|r| r["elapsed_s"].as_u64());
        let (told, warning_failure) = check_warnings(s, &err, elapsed_s);
        failures.extend(warning_failure);
        reports.push(format!(
            "### {} ({})\n\n```\n{}\n```\n",
            s.name,
            s.what,
            err.lines()
                .filter(|l| !l.starts_with("slurmstepd"))
                .skip_while(|l| !l.starts_with("oom-explain:"))
                .take_while(|l| l.starts_with("oom-explain:") || l.starts_with("  "))
                .collect::<Vec<_>>()
                .join("\n")
        ));
        rows.push(format!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            s.name,
            s.what,
            s.expect,
            got.join(", "),
            state,
            told,
            evidence.replace('|', "/")
        ));
        if got != [s.expect.clone()] {
            failures.push(format!(
                "{}: expected {}, got {got:?}\n{err}",
                s.name, s.expect
            ));
        }
    }
    for dir in parent_dirs {
        let _ = std::fs::remove_dir(dir);
    }

    let table = format!(
        "Profile `{}` ({}), {} scenarios:\n\n| scenario | workload | expected | got | job state | told while it ran | evidence (from the report) |\n|---|---|---|---|---|---|---|\n{}\n",
        lab.profile,
        lab.cgroup,
        rows.len(),
        rows.join("\n")
    );
    println!("{table}");
    let lane = lab.cgroup.replace("cgroup ", "");
    let out = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/scenarios-{lane}-{}.md", lab.profile));
    std::fs::write(&out, &table).unwrap();
    let full = out.with_file_name(format!("scenarios-{lane}-{}-reports.md", lab.profile));
    std::fs::write(&full, reports.join("\n")).unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
