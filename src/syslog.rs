//! The job log sent to syslog (`job_log=syslog`), for sites that forward syslog to a central
//! store: each job record one message, with the facility and tag the site chose.
//!
//! Written to the syslog socket (`/dev/log`) directly, as glibc's syslog() writes it: that
//! function keeps process-wide state (openlog's tag) which would change slurmstepd's own
//! messages. The socket is non-blocking and each send waits a bounded time, so a stalled syslog
//! daemon never holds up the epilog.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The facilities a site may choose (RFC 5424 codes).
pub const FACILITIES: &[(&str, u8)] = &[
    ("user", 1),
    ("daemon", 3),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// Severity "informational": a record, not a problem of the plugin.
const INFO: u8 = 6;
/// How long one epilog waits for the syslog daemon in all, before keeping its records.
const SEND_WAIT: Duration = Duration::from_secs(5);

/// Where and how records go to syslog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syslog {
    pub facility: u8,
    pub tag: String,
    pub socket: PathBuf,
}

impl Default for Syslog {
    fn default() -> Self {
        Syslog {
            facility: 3,
            tag: "oom-explain".into(),
            socket: PathBuf::from("/dev/log"),
        }
    }
}

impl Syslog {
    /// One message as glibc's syslog() sends it to the local daemon:
    /// `<PRI>Mmm dd hh:mm:ss TAG[PID]: MESSAGE` (the daemon adds the host).
    pub fn message(&self, text: &str, now_unix: u64, pid: u32) -> String {
        let priority = self.facility * 8 + INFO;
        format!(
            "<{priority}>{} {}[{pid}]: {text}",
            timestamp(now_unix),
            self.tag
        )
    }

    /// Sends each line of `lines` as one message. An error (no daemon, or one that stays busy)
    /// leaves the rest unsent: the caller keeps the records for the next epilog.
    pub fn send(&self, lines: &[u8], now_unix: u64) -> io::Result<()> {
        // Records go only to a socket in a folder no user controls (checked as every folder
        // root writes in): nobody can put their own socket there to read them.
        if let Some(folder) = self.socket.parent() {
            crate::spool::Dir::open(folder)?;
        }
        let socket = UnixDatagram::unbound()?;
        socket
            .connect(&self.socket)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.socket.display())))?;
        socket.set_nonblocking(true)?;
        let start = Instant::now();
        let pid = std::process::id();
        for line in String::from_utf8_lossy(lines).lines() {
            let message = self.message(line, now_unix, pid);
            loop {
                match socket.send(message.as_bytes()) {
                    Ok(_) => break,
                    Err(e)
                        if e.kind() == io::ErrorKind::WouldBlock && start.elapsed() < SEND_WAIT =>
                    {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => {
                        return Err(io::Error::new(
                            e.kind(),
                            format!("{}: {e}", self.socket.display()),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// `Nov 30 10:05:01` (RFC 3164, UTC: the daemon keeps its own time of receipt anyway).
fn timestamp(unix: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // "2026-11-30 10:05" and the seconds, from the same calendar the records use.
    let date = crate::size::date(unix);
    let month: usize = date[5..7].parse().unwrap_or(1);
    let day: u32 = date[8..10].parse().unwrap_or(1);
    format!(
        "{} {day:>2} {}:{:02}",
        MONTHS[month.clamp(1, 12) - 1],
        &date[11..16],
        unix % 60
    )
}

/// A syslog tag: letters, digits, `.`, `_`, `-`, at most 32 (RFC 3164's limit).
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 32
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_what_glibc_would_send() {
        let syslog = Syslog {
            facility: 19, // local3
            ..Syslog::default()
        };
        // 2026-11-30 10:05:01 UTC
        assert_eq!(
            syslog.message("{\"job\":1}", 1_796_033_101, 42),
            "<158>Nov 30 10:05:01 oom-explain[42]: {\"job\":1}"
        );
        assert_eq!(timestamp(1_767_225_600), "Jan  1 00:00:00");
    }

    #[test]
    fn each_line_is_one_datagram_on_the_socket() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("log.sock");
        let daemon = UnixDatagram::bind(&path).unwrap();
        let syslog = Syslog {
            socket: path,
            ..Syslog::default()
        };
        syslog.send(b"{\"job\":1}\n{\"job\":2}\n", 0).unwrap();
        let mut buf = [0u8; 256];
        for job in ["1", "2"] {
            let n = daemon.recv(&mut buf).unwrap();
            let got = String::from_utf8_lossy(&buf[..n]).into_owned();
            assert!(
                got.starts_with("<30>Jan  1 00:00:00 oom-explain[")
                    && got.ends_with(&format!("]: {{\"job\":{job}}}")),
                "{got}"
            );
        }
        drop(daemon);
        // No daemon: an error, never a hang.
        assert!(syslog.send(b"{}\n", 0).is_err());
    }

    #[test]
    fn tags_are_plain_words() {
        assert!(valid_tag("oom-explain") && valid_tag("oom_explain.v1"));
        for bad in ["", "a b", "x:y", "[x]", &"t".repeat(33)] {
            assert!(!valid_tag(bad), "{bad:?}");
        }
    }
}
