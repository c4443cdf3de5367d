//! The job log through syslog (`job_log=syslog`), read back by a real rsyslogd that writes the
//! facility to a file, as a site's central store would: `oom-explain JOBID` and
//! `oom-explain report` then read that file.
//!
//! Run by tests/run-all.sh on a lab started with `job_log=syslog syslog_facility=local3
//! syslog_socket=$LAB/run/oom-syslog.sock` and Debian's rsyslog installed.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::Lab;

/// rsyslogd in the foreground, listening on the lab's socket only (never /dev/log), writing
/// local3 to a file as docs/records.md tells a site to: only root's messages (a user can send
/// any facility and tag), 0600, long lines kept.
struct Rsyslogd {
    child: Child,
    file: PathBuf,
}

impl Rsyslogd {
    fn start(lab: &Path) -> Rsyslogd {
        let dir = lab.join("rsyslog");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = lab.join("run/oom-syslog.sock");
        let _ = std::fs::remove_file(&socket);
        let file = dir.join("central.log");
        let conf = dir.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                "global(workDirectory=\"{dir}\" maxMessageSize=\"64k\")\n\
                 module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
                 input(type=\"imuxsock\" Socket=\"{socket}\" Annotate=\"on\" \
                 ParseTrusted=\"on\")\n\
                 if $syslogfacility-text == \"local3\" and $!uid == \"0\" then {{\n\
                 action(type=\"omfile\" file=\"{file}\" fileCreateMode=\"0600\")\n\
                 stop\n}}\n",
                dir = dir.display(),
                socket = socket.display(),
                file = file.display()
            ),
        )
        .unwrap();
        let child = Command::new("rsyslogd")
            .args(["-n", "-f"])
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rsyslogd (run-all installs Debian's rsyslog)");
        for _ in 0..100 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            socket.exists(),
            "rsyslogd made no socket at {}",
            socket.display()
        );
        Rsyslogd { child, file }
    }
}

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn oom_explain(lab: &Lab, log: &Path, args: &[&str]) -> String {
    let out = lab.oom_explain_on(log, args);
    assert!(
        out.status.success(),
        "oom-explain {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_killed_jobs_line_goes_through_rsyslog_and_is_explained_from_its_file() {
    let lab = Lab::get();
    let rsyslogd = Rsyslogd::start(&lab.lab);
    // A user forges a "record" of a job: the daemon, as configured, keeps only root's.
    let socket = lab.lab.join("run/oom-syslog.sock");
    let forged = lab.run_as(&[
        "logger",
        "-u",
        socket.to_str().unwrap(),
        "-p",
        "local3.info",
        "-t",
        "oom-explain",
        "{\"schema\":1,\"job\":999999,\"forged\":true}",
    ]);
    assert!(
        forged.status.success(),
        "{}",
        String::from_utf8_lossy(&forged.stderr)
    );
    let job = lab.submit_alloc("syslog-oom", &["--mem=100M", "--oom-explain"], "400");
    assert_eq!(lab.wait(&job), "OUT_OF_MEMORY");
    let needle = format!("\"job\":{},", job.id);
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&rsyslogd.file).unwrap_or_default();
        if text.contains(&needle) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let line = text
        .lines()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no line of job {} in rsyslog's file:\n{text}", job.id));
    // rsyslog's own format: time, host, then the tag and pid the plugin gave.
    assert!(line.contains(" oom-explain["), "{line}");
    assert!(
        !text.contains("forged"),
        "a user's message was kept:\n{text}"
    );
    // Nothing went to the job log file.
    assert!(
        !lab.job_log.exists()
            || !std::fs::read_to_string(&lab.job_log)
                .unwrap()
                .contains(&needle)
    );
    // The command reads the collected file: the job's report, and the cluster report.
    let explained = oom_explain(lab, &rsyslogd.file, &[&job.id.to_string()]);
    assert!(
        explained.contains("cause: under-allocation") && explained.contains("#SBATCH --mem="),
        "{explained}"
    );
    let report = oom_explain(lab, &rsyslogd.file, &["report"]);
    assert!(report.contains("Jobs killed for memory: 1"), "{report}");
}
