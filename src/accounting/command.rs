//! Slurm's own programs, run as root from slurmstepd: from a folder only root may change, with
//! only `SLURM_CONF` from our environment, each cut short at its limit.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};

use crate::spool::Dir;

/// A command's answer is one field of one job: more than this is not an answer.
const MAX_OUTPUT_BYTES: usize = 256 * 1024;

/// Slurm's program `name` in `dir`: the folder and every folder above it root's and writable by
/// no one else, the program root's regular file (root runs it).
pub fn tool(dir: &Path, name: &str) -> io::Result<PathBuf> {
    Dir::open_strict(dir)?.root_file(name)
}

/// Where Slurm's programs are when the site does not say (`slurm_bin_dir=`): `bin` beside the
/// `sbin` of the running slurmstepd (/usr/sbin/slurmstepd: /usr/bin). Its environment has no
/// PATH to go by.
pub fn default_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.join("bin"))
}

/// Runs `program` with `args`, for at most `limit` and never past `deadline`: its standard
/// output, or one line saying what failed. Polled, not waited on: no thread and no SIGCHLD
/// handler in Slurm's process.
pub fn run(
    program: &Path,
    args: &[&str],
    deadline: Instant,
    limit: Duration,
) -> Result<String, String> {
    run_with_input(program, args, &[], deadline, limit)
}

/// [`run`], with `input` on the program's standard input: what must not be on its command line,
/// which every user on the node may read (`/proc/PID/cmdline`).
pub fn run_with_input(
    program: &Path,
    args: &[&str],
    input: &[u8],
    deadline: Instant,
    limit: Duration,
) -> Result<String, String> {
    let name = program.file_name().map_or_else(
        || program.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let left = deadline.saturating_duration_since(Instant::now());
    // Cut short by the caller's deadline is not "no answer": the service may be well.
    let cut_short = left < limit;
    let limit = left.min(limit);
    if limit.is_zero() {
        return Err(format!("{name}: no time left"));
    }
    // Only what Slurm's tools need of our environment (slurmd's): where slurm.conf is.
    let mut command = Command::new(program);
    command.env_clear().args(args);
    if let Some(conf) = std::env::var_os("SLURM_CONF") {
        command.env("SLURM_CONF", conf);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let mut stdin = child.stdin.take();
    let mut to_send = input;
    let (mut stdout, mut stderr) = (child.stdout.take(), child.stderr.take());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let started = Instant::now();
    let status = loop {
        // Feed and read while it runs: neither side may stall on a full pipe.
        feed(&mut stdin, &mut to_send);
        drain(&mut stdout, &mut out);
        drain(&mut stderr, &mut err);
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < limit => std::thread::sleep(POLL),
            _ => {
                stop(&mut child);
                return Err(match cut_short {
                    true => format!("{name}: no answer in the {limit:?} left"),
                    false => format!("{name}: {NO_ANSWER} {limit:?}"),
                });
            }
        }
    };
    drain(&mut stdout, &mut out);
    drain(&mut stderr, &mut err);
    if !status.success() {
        // sacctmgr says some failures ("Nothing modified") on its standard output.
        let said = [&err, &out]
            .into_iter()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            .find_map(|text| {
                text.lines()
                    .find(|l| !l.trim().is_empty())
                    .map(|l| l.trim().to_owned())
            })
            .unwrap_or_default();
        return Err(format!("{name} failed ({status}): {said}"));
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Kills a command that ran to its limit and reaps it if it goes within a moment. One stuck in
/// the kernel (a hung file system) is never waited on: it stays our zombie until it ends and
/// slurmstepd reaps it (or the process ends).
fn stop(child: &mut Child) {
    let _ = child.kill();
    for _ in 0..10 {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(POLL);
    }
}

/// Writes what the pipe takes now of `rest`, without waiting; closes it once all is sent (the
/// program then sees the end of its input), or on an error.
fn feed(pipe: &mut Option<ChildStdin>, rest: &mut &[u8]) {
    let Some(p) = pipe else { return };
    if !rest.is_empty() {
        if !nonblocking(p.as_fd()) {
            *pipe = None;
            return;
        }
        match p.write(rest) {
            Ok(n) => *rest = &rest[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return,
            Err(_) => *rest = &[],
        }
    }
    if rest.is_empty() {
        *pipe = None;
    }
}

fn nonblocking(fd: BorrowedFd) -> bool {
    fcntl(fd, FcntlArg::F_GETFL)
        .map(|flags| OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK)
        .and_then(|flags| fcntl(fd, FcntlArg::F_SETFL(flags)))
        .is_ok()
}

/// How a command that ran to its limit fails: the service behind it is down or overloaded.
const NO_ANSWER: &str = "no answer within";

/// Whether a failure of [`run`] was a command that ran to its own limit (not one cut short by
/// the caller's deadline).
pub fn gave_no_answer(failure: &str) -> bool {
    failure.contains(NO_ANSWER)
}

/// How often a running command is looked at.
const POLL: Duration = Duration::from_millis(10);

/// Reads what the pipe holds now into `into` (up to [`MAX_OUTPUT_BYTES`]; the rest is read
/// and dropped), without waiting; the pipe is closed at its end or on an error.
fn drain(pipe: &mut Option<impl Read + AsFd>, into: &mut Vec<u8>) {
    let Some(p) = pipe else { return };
    if !nonblocking(p.as_fd()) {
        *pipe = None;
        return;
    }
    let mut buffer = [0u8; 8192];
    loop {
        match p.read(&mut buffer) {
            Ok(0) => break *pipe = None,
            Ok(n) if into.len() < MAX_OUTPUT_BYTES => into.extend_from_slice(&buffer[..n]),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break *pipe = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(5);

    fn far() -> Instant {
        Instant::now() + LIMIT
    }

    #[test]
    fn a_command_is_run_with_its_output_and_its_failure_in_one_line() {
        let out = run(
            Path::new("/bin/sh"),
            &["-c", "echo '12|oe1:ab'; echo more"],
            far(),
            LIMIT,
        );
        assert_eq!(out.unwrap(), "12|oe1:ab\nmore\n");
        let failed = run(
            Path::new("/bin/sh"),
            &["-c", "echo ' Nothing modified'; exit 1"],
            far(),
            LIMIT,
        );
        assert_eq!(
            failed.unwrap_err(),
            "sh failed (exit status: 1): Nothing modified"
        );
        let missing = run(Path::new("/nonexistent/sacct"), &[], far(), LIMIT).unwrap_err();
        assert!(missing.starts_with("/nonexistent/sacct: "), "{missing}");
        // Only SLURM_CONF reaches it from slurmstepd's environment.
        let env = run(Path::new("/usr/bin/env"), &[], far(), LIMIT).unwrap();
        assert!(env.lines().all(|l| l.starts_with("SLURM_CONF=")), "{env}");
    }

    #[test]
    fn input_goes_on_standard_input_whatever_its_size() {
        // More than a pipe holds: fed while the program reads.
        let input = "x".repeat(200_000);
        let out = run_with_input(
            Path::new("/usr/bin/wc"),
            &["-c"],
            input.as_bytes(),
            far(),
            LIMIT,
        );
        assert_eq!(out.unwrap().trim(), "200000");
    }

    #[test]
    fn a_command_that_hangs_or_floods_is_cut_short() {
        let started = Instant::now();
        let deadline = Instant::now() + Duration::from_millis(300);
        let hung = run(Path::new("/bin/sleep"), &["30"], deadline, LIMIT).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        // Cut short by the caller's deadline, it is not taken for a service that gave no
        // answer (that would pause the node's stores for minutes)...
        assert!(!gave_no_answer(&hung), "{hung}");
        // ...but a command that ran to its own limit is.
        let short = Duration::from_millis(200);
        let hung = run(Path::new("/bin/sleep"), &["30"], far(), short).unwrap_err();
        assert!(hung.contains("no answer within 200ms"), "{hung}");
        assert!(gave_no_answer(&hung), "{hung}");
        // An endless answer is read as it comes (never stalls on a full pipe), kept up to the
        // cap, and the command is stopped at its limit.
        let flood = run(Path::new("/usr/bin/yes"), &[], far(), short).unwrap_err();
        assert!(gave_no_answer(&flood), "{flood}");
        assert!(
            run(Path::new("/bin/true"), &[], Instant::now(), LIMIT).is_err(),
            "no time left"
        );
    }
}
