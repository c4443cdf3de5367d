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
    body: String,
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
        // What the report says it saw: the "Seen:" paragraph, else its first sentence.
        let seen: Vec<&str> = err
            .lines()
            .skip_while(|l| !l.starts_with("  Seen:"))
            .take_while(|l| {
                *l == err.lines().find(|l| l.starts_with("  Seen:")).unwrap_or("")
                    || l.starts_with("    ")
            })
            .collect();
        let evidence = match seen.is_empty() {
            false => flat(&seen.join(" ")).replace("Seen: ", ""),
            true => flat(
                &err.lines()
                    .skip_while(|l| !l.starts_with("oom-explain:"))
                    .take_while(|l| l.starts_with("oom-explain:") || l.starts_with("    "))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        };
        // The report in full, as the job's .err has it (for docs/scenarios.md and review).
        let report: Vec<&str> = err
            .lines()
            .skip_while(|l| !l.starts_with("oom-explain:"))
            .take_while(|l| l.starts_with("oom-explain:") || l.starts_with("  "))
            .collect();
        reports.push(format!(
            "### {} ({})\n\n```\n{}\n```\n",
            s.name,
            s.what,
            report.join("\n")
        ));
        rows.push(format!(
            "| {} | {} | {} | {} | {} | {} |",
            s.name,
            s.what,
            s.expect,
            got.join(", "),
            state,
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
        "Profile `{}` ({}), {} scenarios:\n\n| scenario | workload | expected | got | job state | evidence (from the report) |\n|---|---|---|---|---|---|\n{}\n",
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
