//! What the command asks outside itself: who runs it, and Slurm's tools (sacct, scontrol). One
//! seam, so that the tests answer instead of a cluster.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::access::Viewer;
use crate::sacct::{self, SacctJobId, SacctRow};
use crate::slurm::SlurmRelease;

pub trait Cluster {
    /// The uid running the command.
    fn caller_uid(&self) -> u32;
    /// Who runs the command, and what Slurm lets them see.
    fn viewer(&self) -> Viewer;
    /// sacct's output for `args`; the error is one line that says what failed and what to do.
    fn sacct(&self, args: &[&str]) -> Result<String, String>;
    /// The Slurm release sacct belongs to (`sacct --version`), if it says.
    fn sacct_release(&self) -> Option<SlurmRelease>;
    /// sacct's output for `args`, line by line to `each` as it comes (a long period's jobs
    /// are never held whole); the error as for [`Cluster::sacct`].
    fn sacct_each_line(&self, args: &[&str], each: &mut dyn FnMut(&[u8])) -> Result<(), String>;
}

/// The jobs Slurm's accounting knows as `id`: one, or every task of an array.
pub fn job_ids(cluster: &dyn Cluster, id: &str) -> Result<Vec<SacctJobId>, String> {
    let text = cluster.sacct(&["-j", id, "-X", "-n", "-P", "-o", sacct::ID_FIELDS])?;
    Ok(sacct::parse_job_ids(&text))
}

/// What Slurm's accounting recorded of one job (`1234`, `1234_5`) and its steps: only from its
/// submission on, so that an older job Slurm gave the same id is left out.
pub fn accounting(cluster: &dyn Cluster, job: &SacctJobId) -> Result<Vec<SacctRow>, String> {
    let mut args = vec!["-j", job.id.as_str(), "-P", "-n", "-o", sacct::FIELDS];
    if let Some(submitted) = &job.submitted {
        args.extend(["-S", submitted.as_str()]);
    }
    let text = cluster.sacct(&args)?;
    Ok(sacct::parse(&text))
}

/// The cluster this command runs on.
pub struct SlurmCluster;

impl Cluster for SlurmCluster {
    fn caller_uid(&self) -> u32 {
        nix::unistd::getuid().as_raw()
    }

    fn viewer(&self) -> Viewer {
        let uid = self.caller_uid();
        if uid == 0 {
            return Viewer::new(uid, None); // root sees all: no need to ask Slurm
        }
        // At most 10 s: with slurmctld down scontrol would wait longer (coreutils' timeout).
        let config = Command::new("timeout")
            .args(["10", "scontrol", "show", "config"])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned());
        Viewer::new(uid, config.as_deref())
    }

    fn sacct(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("sacct")
            .args(args)
            .output()
            .map_err(|e| format!("sacct could not run (is Slurm's client installed here?): {e}"))?;
        if !out.status.success() {
            return Err(sacct::failure_summary(&String::from_utf8_lossy(
                &out.stderr,
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn sacct_release(&self) -> Option<SlurmRelease> {
        let out = Command::new("sacct").arg("--version").output().ok()?;
        SlurmRelease::parse(&String::from_utf8_lossy(&out.stdout))
    }

    fn sacct_each_line(&self, args: &[&str], each: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        let mut child = Command::new("sacct")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("sacct could not run (is Slurm's client installed here?): {e}"))?;
        // Its errors read beside: a sacct that says much there must not stall on a full pipe.
        let mut stderr = child.stderr.take().expect("piped");
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        let mut stdout = BufReader::with_capacity(1 << 20, child.stdout.take().expect("piped"));
        let mut line = Vec::new();
        loop {
            line.clear();
            match stdout.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => each(line.strip_suffix(b"\n").unwrap_or(&line)),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("reading sacct's output: {e}"));
                }
            }
        }
        let status = child.wait().map_err(|e| format!("sacct: {e}"))?;
        let errors = errors.join().unwrap_or_default();
        match status.success() {
            true => Ok(()),
            false => Err(sacct::failure_summary(&errors)),
        }
    }
}
