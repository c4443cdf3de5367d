//! What the command asks outside itself: who runs it, and Slurm's tools (sacct, scontrol). One
//! seam, so that the tests answer instead of a cluster.

use std::io::Read;
use std::process::{ChildStdout, Command, Stdio};

use crate::access::Viewer;
use crate::sacct::{self, SacctJobId, SacctRow};
use crate::slurm::SlurmRelease;

pub trait Cluster {
    /// The uid running the command.
    fn caller_uid(&self) -> u32;
    /// Who runs the command, and what Slurm lets them see.
    fn viewer(&self) -> Viewer;
    /// `scontrol show config`'s output, if it could be asked.
    fn slurm_config(&self) -> Option<String>;
    /// The most memory a node of the cluster has (sinfo's RealMemory, MiB), if it says.
    fn largest_node_mib(&self) -> Option<u64>;
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
        Viewer::new(uid, self.slurm_config().as_deref())
    }

    fn slurm_config(&self) -> Option<String> {
        // At most 10 s: with slurmctld down scontrol would wait longer (coreutils' timeout).
        Command::new("timeout")
            .args(["10", "scontrol", "show", "config"])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn largest_node_mib(&self) -> Option<u64> {
        let out = Command::new("timeout")
            .args(["10", "sinfo", "-h", "-o", "%m"])
            .output()
            .ok()
            .filter(|out| out.status.success())?;
        let text = String::from_utf8_lossy(&out.stdout);
        // "%m" is a node's memory, or a range "1000+" for a partition of several sizes.
        text.lines()
            .filter_map(|l| l.trim().trim_end_matches('+').parse::<u64>().ok())
            .max()
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
        let stdout = child.stdout.take().expect("piped");
        if let Err(e) = each_line(stdout, each) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("reading sacct's output: {e}"));
        }
        let status = child.wait().map_err(|e| format!("sacct: {e}"))?;
        let errors = errors.join().unwrap_or_default();
        match status.success() {
            true => Ok(()),
            false => Err(sacct::failure_summary(&errors)),
        }
    }
}

/// Calls `each` with every line of `pipe` (without its newline). A report reads every job's row
/// through it, most of it a long value: a second thread reads the pipe in large chunks while
/// this one decodes, and the pipe is made larger, so that sacct, the reading and the decoding
/// overlap instead of taking turns.
fn each_line(pipe: ChildStdout, each: &mut dyn FnMut(&[u8])) -> std::io::Result<()> {
    const CHUNK: usize = 1 << 20;
    // Best effort (the default is 64 KiB): fewer switches between sacct and the reader.
    let _ = nix::fcntl::fcntl(&pipe, nix::fcntl::FcntlArg::F_SETPIPE_SZ(CHUNK as i32));
    let (full, filled) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(2);
    let (empty, emptied) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut pipe = pipe;
        loop {
            let mut chunk = emptied
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
            chunk.clear();
            match (&mut pipe).take(CHUNK as u64).read_to_end(&mut chunk) {
                Ok(0) => return,
                Ok(_) if full.send(Ok(chunk)).is_ok() => {}
                Ok(_) => return, // the caller stopped
                Err(e) => return drop(full.send(Err(e))),
            }
        }
    });
    let mut carry: Vec<u8> = Vec::new();
    for chunk in filled {
        let chunk = chunk?;
        let mut rest = &chunk[..];
        while let Some(end) = memchr::memchr(b'\n', rest) {
            match carry.is_empty() {
                true => each(&rest[..end]),
                false => {
                    carry.extend_from_slice(&rest[..end]);
                    each(&carry);
                    carry.clear();
                }
            }
            rest = &rest[end + 1..];
        }
        carry.extend_from_slice(rest);
        let _ = empty.send(chunk);
    }
    if !carry.is_empty() {
        each(&carry);
    }
    let _ = reader.join();
    Ok(())
}
