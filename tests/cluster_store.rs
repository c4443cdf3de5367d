//! Records at cluster scale, kept in Slurm's accounting (`accounting_field=`): on the real
//! two-node lab with slurmdbd, MariaDB and PrivateData=jobs (lab profile `twonode-accounting`).
//! tests/run-all.sh starts it twice, for the two ways a line goes there:
//! - `accounting_field=AdminComment`: each step's end, through slurmctld while the job runs
//!   (private: nothing in slurmdbd's transaction log);
//! - `accounting_field=SystemComment accounting_with_private_data=yes`: the job epilog, through
//!   slurmdbd (`sacctmgr modify job`), which the admin must accept under PrivateData=jobs.
//!
//! The "login host" here has no job log at all: the lab's job log is moved away before the
//! command runs, so only slurmdbd can answer.
//! Built only with `--features cluster-tests`.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use support::{Lab, Submitted, flat};

const OTHER_USER: &str = "oomstranger";

/// `sacct` as root: the job's field, as slurmdbd holds it.
fn admin_comment(lab: &Lab, job: &Submitted) -> String {
    let id = job.id.to_string();
    let format = format!("JobIDRaw,{}", field(lab));
    let out = Command::new("sacct")
        .args(["-n", "-P", "-X", "-o", &format, "-j", &id])
        .env("SLURM_CONF", &lab.slurm_conf)
        .output()
        .unwrap();
    // Only the job's own row: the lab's database may hold an older array of the same id.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{id}|")))
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// The field the running lab's plugin stores in: AdminComment goes through slurmctld at each
/// step's end, SystemComment through slurmdbd in the epilog.
fn field(lab: &Lab) -> &'static str {
    match std::fs::read_to_string(lab.lab.join("etc/plugstack.conf"))
        .unwrap()
        .contains("accounting_field=SystemComment")
    {
        true => "SystemComment",
        false => "AdminComment",
    }
}

fn through_slurmctld(lab: &Lab) -> bool {
    field(lab) == "AdminComment"
}

/// What any user can list: slurmdbd checks no PrivateData for its transaction log.
fn transactions_as_stranger(lab: &Lab) -> String {
    lab.add_user(OTHER_USER);
    let out = Command::new("/usr/sbin/runuser")
        .args(["-u", OTHER_USER, "--"])
        .args(["sacctmgr", "-n", "-P", "list", "transactions"])
        .env("SLURM_CONF", &lab.slurm_conf)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until the job's field holds our value with `nodes` lines (the epilogs run a moment
/// after the job ends).
fn stored_lines(lab: &Lab, job: &Submitted, nodes: usize) -> Vec<serde_json::Value> {
    let mut found = Vec::new();
    for _ in 0..150 {
        let value = admin_comment(lab, job);
        if let Some(records) = oom_explain::accounting::value::decode(&value) {
            found = records
                .iter()
                .map(|r| serde_json::to_value(r).unwrap())
                .collect();
            if found.len() >= nodes {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        found.len(),
        nodes,
        "job {}: {} {:?}\n{}",
        job.id,
        field(lab),
        admin_comment(lab, job),
        node_logs(lab)
    );
    found
}

fn node_logs(lab: &Lab) -> String {
    ["node1", "node2"]
        .iter()
        .map(|n| {
            std::fs::read_to_string(lab.lab.join(format!("log/slurmd-{n}.log"))).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The command, as `user`, on a host whose job log does not exist: a copy of the binary anyone
/// may run, with the lab's Slurm configuration and nothing else.
fn explain_as(lab: &Lab, user: &str, args: &[&str]) -> Output {
    let binary = binary_for_users();
    Command::new("/usr/sbin/runuser")
        .args(["-u", user, "--", "env", "-i"])
        .arg(format!("SLURM_CONF={}", lab.slurm_conf.display()))
        .arg("PATH=/usr/local/bin:/usr/bin:/bin")
        .arg(binary)
        .args(["--log", "/nonexistent/jobs.jsonl"])
        .args(args)
        .output()
        .unwrap()
}

fn binary_for_users() -> PathBuf {
    let dir = Path::new("/tmp/oom-explain-store-test");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let binary = dir.join("oom-explain");
    std::fs::copy(env!("CARGO_BIN_EXE_oom-explain"), &binary).unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    binary
}

/// slurmdbd's count of one kind of request, from `sacctmgr show stats`.
fn dbd_requests(lab: &Lab, kind: &str) -> u64 {
    let out = Command::new("sacctmgr")
        .args(["show", "stats"])
        .env("SLURM_CONF", &lab.slurm_conf)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.split_whitespace().next() == Some(kind))
        .and_then(|l| l.split("count:").nth(1))
        .and_then(|c| c.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_job_killed_on_node2_is_explained_from_slurms_accounting_alone_and_only_to_its_owner() {
    let lab = Lab::get();
    assert_eq!(
        lab.profile, "twonode-accounting",
        "start the lab with OOM_EXPLAIN_LAB_PROFILE=twonode-accounting"
    );
    let (modify_before, reads_before) = (
        dbd_requests(lab, "DBD_MODIFY_JOB"),
        dbd_requests(lab, "DBD_GET_JOBS_COND"),
    );
    let killed = lab.submit_alloc(
        "store-killed",
        &["--mem=100M", "--oom-explain", "-w", "node2"],
        "400",
    );
    // A job that went well has nothing to say: no write for it.
    let fine = lab.submit_alloc(
        "store-fine",
        &["--mem=300M", "--oom-explain", "-w", "node1"],
        "50",
    );
    assert_eq!(lab.wait(&killed), "OUT_OF_MEMORY");
    assert_eq!(lab.wait(&fine), "COMPLETED");
    let lines = stored_lines(lab, &killed, 1);
    assert_eq!(lines[0]["node"], "node2");
    assert_eq!(lines[0]["cause"], "under-allocation");
    std::thread::sleep(Duration::from_secs(3)); // the fine job's epilog, had it written
    assert_eq!(
        admin_comment(lab, &fine),
        "",
        "a job with nothing to say was stored"
    );
    let (modify, reads) = (
        dbd_requests(lab, "DBD_MODIFY_JOB") - modify_before,
        dbd_requests(lab, "DBD_GET_JOBS_COND") - reads_before,
    );
    println!(
        "slurmdbd requests for 2 jobs (1 worth storing): {modify} write(s), {reads} read(s) (ours and this test's sacct polls)"
    );
    match through_slurmctld(lab) {
        // slurmctld hands the value over with the job's completion record.
        true => assert_eq!(modify, 0, "a write through slurmdbd"),
        false => assert_eq!(modify, 1, "one write for the one job with something to say"),
    }

    // The login host: no job log at all.
    let moved = lab.job_log.with_extension("moved-away");
    let _ = std::fs::rename(&lab.job_log, &moved);
    let id = killed.id.to_string();
    let owner = explain_as(lab, "oomtest", &[&id]);
    let _ = std::fs::rename(&moved, &lab.job_log);
    let said = flat(&text(&owner));
    assert!(
        owner.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&owner.stderr)
    );
    assert!(
        said.contains(&format!("Job {id} of oomtest on node2")),
        "{said}"
    );
    assert!(said.contains("ran out of memory"), "{said}");
    assert!(said.contains("#SBATCH --mem="), "{said}");
    let json = explain_as(lab, "oomtest", &["--json", &id]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["source"], "accounting");
    assert_eq!(doc["records"][0]["node"], "node2");

    // Another user: PrivateData=jobs, so slurmdbd shows them nothing of it.
    lab.add_user(OTHER_USER);
    let stranger = explain_as(lab, OTHER_USER, &[&id]);
    assert!(!stranger.status.success());
    let all = format!(
        "{}{}",
        text(&stranger),
        String::from_utf8_lossy(&stranger.stderr)
    );
    assert!(
        !all.contains("ran out of memory") && !all.contains("node2"),
        "{all}"
    );
    assert!(flat(&all).contains("no such job"), "{all}");
}

#[test]
fn both_nodes_of_a_job_keep_their_line_in_one_value() {
    let lab = Lab::get();
    // A task killed on each node: both epilogs write the same job's field at the same moment.
    let job = lab.submit(
        "store-two-nodes",
        &["-N2", "--mem=100M", "--oom-explain"],
        &format!("srun /usr/bin/python3 {} 400", lab.workload("alloc.py")),
    );
    // The batch script goes on after srun's failure: FAILED or OUT_OF_MEMORY by release.
    assert_ne!(lab.wait(&job), "COMPLETED");
    let lines = stored_lines(lab, &job, 2);
    let mut nodes: Vec<&str> = lines.iter().map(|l| l["node"].as_str().unwrap()).collect();
    nodes.sort();
    assert_eq!(nodes, ["node1", "node2"]);
    assert!(
        lines.iter().all(|l| l["oom_kills"].as_u64() >= Some(1)),
        "{lines:?}"
    );
}

#[test]
fn another_tools_value_in_the_field_is_kept() {
    let lab = Lab::get();
    // Killed after a few seconds: time to set the other tool's value while it runs.
    let job = lab.submit(
        "store-foreign",
        &["--mem=100M", "--oom-explain", "-w", "node1"],
        &format!("sleep 6; /usr/bin/python3 {} 400", lab.workload("alloc.py")),
    );
    // Set through slurmdbd while the job runs, on this job's row (the lab's database may hold
    // older jobs of the same id: only one submitted since counts). slurmctld does not know such
    // a value: the step's end must look in slurmdbd too, or the job's completion record would
    // replace it with ours.
    let id = job.id.to_string();
    let mut set = false;
    for _ in 0..50 {
        let rows = Command::new("sacct")
            .args(["-n", "-P", "-X", "-j", &id, "-o", "JobIDRaw,Submit,State"])
            .env("SLURM_CONF", &lab.slurm_conf)
            .output()
            .unwrap();
        let rows = String::from_utf8_lossy(&rows.stdout).into_owned();
        let running = rows.lines().find_map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (f.len() == 3 && f[0] == id && f[2] == "RUNNING").then(|| f[1].to_owned())
        });
        if let Some(submitted) = running {
            let out = Command::new("sacctmgr")
                .args(["-i", "modify", "job", "where"])
                .args([format!("jobid={id}"), format!("starttime={submitted}")])
                .args(["set", &format!("{}=JS1:kept", field(lab))])
                .env("SLURM_CONF", &lab.slurm_conf)
                .output()
                .unwrap();
            // Slurm 22.05's sacctmgr stores it in lower case.
            if out.status.success() && admin_comment(lab, &job).eq_ignore_ascii_case("JS1:kept") {
                set = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(set, "could not set the other tool's value");
    assert_eq!(lab.wait(&job), "OUT_OF_MEMORY");
    let log = lab.lab.join("log/slurmd-node1.log");
    let mut said = String::new();
    for _ in 0..100 {
        said = std::fs::read_to_string(&log).unwrap_or_default();
        if said.contains(&format!(
            "job {}: {} holds another tool's value",
            job.id,
            field(lab)
        )) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        said.contains(&format!(
            "job {}: {} holds another tool's value",
            job.id,
            field(lab)
        )),
        "{said}"
    );
    assert!(admin_comment(lab, &job).eq_ignore_ascii_case("JS1:kept"));
}

#[test]
fn the_cluster_report_comes_from_sacct_with_filters() {
    let lab = Lab::get();
    let job = lab.submit_alloc(
        "store-report",
        &["--mem=100M", "--oom-explain", "-w", "node1"],
        "400",
    );
    assert_eq!(lab.wait(&job), "OUT_OF_MEMORY");
    stored_lines(lab, &job, 1);
    lab.add_user(OTHER_USER);
    let moved = lab.job_log.with_extension("moved-away-report");
    let _ = std::fs::rename(&lab.job_log, &moved);
    let report = explain_as(lab, "root", &["report", "--from-sacct", "--since", "1d"]);
    let partition = explain_as(
        lab,
        "root",
        &[
            "report",
            "--from-sacct",
            "--since",
            "1d",
            "--partition",
            "nosuch",
        ],
    );
    let own = explain_as(
        lab,
        OTHER_USER,
        &["report", "--from-sacct", "--since", "1d"],
    );
    let _ = std::fs::rename(&moved, &lab.job_log);
    let said = text(&report);
    assert!(
        report.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&report.stderr)
    );
    assert!(said.contains("From Slurm's accounting"), "{said}");
    assert!(said.contains("under-allocation"), "{said}");
    assert!(said.contains("oomtest"), "{said}");
    let killed: u64 = said
        .lines()
        .find_map(|l| l.strip_prefix("Jobs killed for memory: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    assert!(killed >= 1, "{said}");
    assert!(
        text(&partition).contains("Jobs killed for memory: 0"),
        "{}",
        text(&partition)
    );
    // Under PrivateData=jobs a user's report holds their own jobs only: none here.
    let own_text = text(&own);
    assert!(
        own.status.success(),
        "{}",
        String::from_utf8_lossy(&own.stderr)
    );
    assert!(own_text.contains("Jobs killed for memory: 0"), "{own_text}");
    assert!(!own_text.contains("oomtest"), "{own_text}");
}

#[test]
fn private_data_holds_through_slurmctld_and_the_transaction_log_shows_slurmdbds_way() {
    let lab = Lab::get();
    let job = lab.submit_alloc(
        "store-private",
        &["--mem=100M", "--oom-explain", "-w", "node1"],
        "400",
    );
    assert_eq!(lab.wait(&job), "OUT_OF_MEMORY");
    let lines = stored_lines(lab, &job, 1);
    assert_eq!(lines[0]["job"], job.id);
    // The epilog's line has Slurm's name and partition for the owner and the job; the step's end
    // looks no names up and leaves both to the readers (taken from Slurm's accounting).
    match through_slurmctld(lab) {
        true => assert!(lines[0]["user"].is_null() && lines[0]["partition"].is_null()),
        false => assert_eq!(
            (&lines[0]["user"], &lines[0]["partition"]),
            (&"oomtest".into(), &"debug".into())
        ),
    }
    let value = admin_comment(lab, &job);
    if through_slurmctld(lab) {
        // Stored without the admin's consent to the transaction log: it never goes there.
        assert!(
            node_logs(lab).contains(&format!(
                "job {}: line stored in AdminComment through slurmctld",
                job.id
            )),
            "{}",
            node_logs(lab)
        );
        assert!(
            !transactions_as_stranger(lab).contains("oe1:"),
            "a value in the transaction log"
        );
        return;
    }
    // Through slurmdbd (the admin consented), the docs' warning holds: another user reads it in
    // the transaction log, PrivateData=jobs or not.
    assert!(
        transactions_as_stranger(lab).contains(&value),
        "the transaction log no longer shows values: update docs/records.md"
    );
}

#[test]
fn each_task_of_an_array_keeps_its_own_line_in_its_own_row() {
    let lab = Lab::get();
    let job = lab.submit_alloc(
        "store-array",
        &["--array=1-3", "--mem=100M", "--oom-explain", "-w", "node2"],
        "400",
    );
    // The array's tasks have raw ids of their own; the array's id is one of them.
    let id = job.id.to_string();
    let mut raws: Vec<u32> = Vec::new();
    for _ in 0..300 {
        let out = Command::new("sacct")
            .args(["-n", "-P", "-X", "-j", &id, "-o", "JobIDRaw,State"])
            .env("SLURM_CONF", &lab.slurm_conf)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let done: Vec<u32> = text
            .lines()
            .filter(|l| l.ends_with("OUT_OF_MEMORY"))
            .filter_map(|l| l.split('|').next()?.parse().ok())
            .collect();
        if done.len() == 3 {
            raws = done;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(raws.len(), 3, "the array's tasks did not all end");
    for raw in raws {
        let task = Submitted {
            id: raw,
            name: job.name.clone(),
        };
        let lines = stored_lines(lab, &task, 1);
        assert_eq!(
            lines[0]["job"], raw,
            "task {raw}'s row holds another task's line"
        );
    }
}

/// Sends SIGCONT to slurmctld when dropped: a failed assertion never leaves the lab stopped.
struct Stopped(i32);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

/// The first line of both slurmd logs that says `what`, waited for.
fn log_line(lab: &Lab, what: &str) -> Option<String> {
    for _ in 0..150 {
        if let Some(line) = node_logs(lab).lines().find(|l| l.contains(what)) {
            return Some(line.to_owned());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

#[test]
fn a_slurmctld_that_gives_no_answer_holds_the_step_end_3_s_at_most_then_is_left_alone() {
    let lab = Lab::get();
    if !through_slurmctld(lab) {
        return; // the SystemComment lab never asks slurmctld
    }
    let pid: i32 = std::fs::read_to_string(lab.lab.join("run/slurmctld.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let alloc = lab.workload("alloc.py");
    let job = lab.submit(
        "store-no-answer",
        &["--mem=100M", "--oom-explain", "-w", "node1"],
        &format!("sleep 4; /usr/bin/python3 {alloc} 400"),
    );
    // Running: then slurmctld stops answering, before the kill.
    let mut running = false;
    for _ in 0..100 {
        let out = Command::new("squeue")
            .args(["-h", "-o", "%T", "-j", &job.id.to_string()])
            .env("SLURM_CONF", &lab.slurm_conf)
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).trim() == "RUNNING" {
            running = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(running, "job {} never ran", job.id);
    let stopped = Stopped(pid);
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let said = log_line(
        lab,
        &format!("job {}: not stored through slurmctld", job.id),
    );
    drop(stopped);
    let said = said.unwrap_or_else(|| node_logs(lab));
    assert!(said.contains("no answer within 2s"), "{said}");
    let ms: u64 = said
        .split("step's end (")
        .nth(1)
        .and_then(|rest| rest.split(" ms)").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert!(ms <= 3100, "the step's end waited {ms} ms: {said}");
    assert_eq!(lab.wait(&job), "OUT_OF_MEMORY");
    // The next step's end on the node does not ask it again for a while.
    let next = lab.submit_alloc(
        "store-after-no-answer",
        &["--mem=100M", "--oom-explain", "-w", "node1"],
        "400",
    );
    assert_eq!(lab.wait(&next), "OUT_OF_MEMORY");
    let paused = log_line(
        lab,
        &format!("job {}: not stored through slurmctld", next.id),
    );
    let _ = std::fs::remove_file(lab.records.join("slurmctld.no-answer"));
    let paused = paused.unwrap_or_else(|| node_logs(lab));
    assert!(
        paused.contains("slurmctld gave no answer in time"),
        "{paused}"
    );
}

#[test]
fn a_hostile_job_name_neither_points_the_write_elsewhere_nor_forges_the_value() {
    let lab = Lab::get();
    if !through_slurmctld(lab) {
        return; // the epilog's way reads slurmdbd's own columns
    }
    // Ids and a value of ours in the names: `scontrol show job` would print them beside Slurm's
    // own; squeue, which reads the job here, prints none of the job's own text.
    let named = lab.submit_alloc(
        "store-named",
        &[
            "-J",
            "x ArrayJobId=1 ArrayTaskId=1",
            "--mem=100M",
            "--oom-explain",
            "-w",
            "node1",
        ],
        "400",
    );
    let fake_line = r#"{"schema":1,"job":1,"node":"node9"}"#;
    let hex: String = fake_line.bytes().map(|b| format!("{b:02x}")).collect();
    let forged = format!("x AdminComment=oe1:{hex}");
    let forged = lab.submit_alloc(
        "store-forged",
        &["-J", &forged, "--mem=100M", "--oom-explain", "-w", "node2"],
        "400",
    );
    for job in [&named, &forged] {
        assert_eq!(lab.wait(job), "OUT_OF_MEMORY");
        let lines = stored_lines(lab, job, 1);
        assert_eq!(lines[0]["job"], job.id, "{lines:?}");
    }
}
