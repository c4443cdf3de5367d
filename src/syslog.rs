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

/// A facility's code by its name (`daemon` → 3).
pub fn facility_code(name: &str) -> Option<u8> {
    FACILITIES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// A facility's name by its code.
pub fn facility_name(code: u8) -> Option<&'static str> {
    FACILITIES.iter().find(|(_, c)| *c == code).map(|(n, _)| *n)
}

/// Severity "informational": a record, not a problem of the plugin.
const INFO: u8 = 6;
/// How long one epilog waits for the syslog daemon in all, before keeping its records.
const SEND_WAIT: Duration = Duration::from_secs(5);
/// The longest job line sent (a larger record is shrunk: `JobRecord::to_line_within`): far
/// below what a datagram may carry here (~208 KiB), and what rsyslog keeps with
/// `maxMessageSize="64k"`.
pub const MAX_LINE_BYTES: usize = 60 << 10;

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
            facility: facility_code("daemon").expect("a facility"),
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

    /// Sends each line as one message, waiting at most 5 s in all for a busy daemon. On an
    /// error (no daemon, one that stays busy) the rest is left unsent: the error says how many
    /// went out, and the caller keeps the others' records for the next epilog.
    pub fn send(&self, lines: &[String], now_unix: u64) -> Result<(), (usize, io::Error)> {
        self.send_within(lines, now_unix, SEND_WAIT)
    }

    fn send_within(
        &self,
        lines: &[String],
        now_unix: u64,
        wait: Duration,
    ) -> Result<(), (usize, io::Error)> {
        let socket = self.connect().map_err(|e| (0, e))?;
        let start = Instant::now();
        let pid = std::process::id();
        for (sent, line) in lines.iter().enumerate() {
            let message = self.message(line, now_unix, pid);
            loop {
                match socket.send(message.as_bytes()) {
                    Ok(_) => break,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && start.elapsed() < wait => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => return Err((sent, self.error(e))),
                }
            }
        }
        Ok(())
    }

    /// The daemon's socket, non-blocking. Only in a folder no user controls (checked as every
    /// folder root writes in), so that nobody can put their own socket there to read the
    /// records; connect() then looks the path up again, which is safe as long as the folders
    /// on the way stay root's.
    fn connect(&self) -> io::Result<UnixDatagram> {
        if let Some(folder) = self.socket.parent() {
            crate::spool::Dir::open(folder)?;
        }
        let socket = UnixDatagram::unbound()?;
        socket.connect(&self.socket).map_err(|e| self.error(e))?;
        socket.set_nonblocking(true)?;
        Ok(socket)
    }

    fn error(&self, e: io::Error) -> io::Error {
        io::Error::new(e.kind(), format!("{}: {e}", self.socket.display()))
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
        let lines = ["{\"job\":1}".to_owned(), "{\"job\":2}".to_owned()];
        syslog.send(&lines, 0).unwrap();
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
        // A daemon that reads nothing: the queue fills, the send gives up in time and says
        // how many went out.
        let start = Instant::now();
        let many: Vec<String> = (0..1000).map(|n| format!("{{\"job\":{n}}}")).collect();
        let (sent, _) = syslog
            .send_within(&many, 0, Duration::from_millis(200))
            .unwrap_err();
        assert!(sent > 0 && sent < many.len(), "{sent}");
        assert!(start.elapsed() < Duration::from_secs(2));
        drop(daemon);
        // No daemon: an error at once, nothing sent.
        assert_eq!(syslog.send(&lines, 0).unwrap_err().0, 0);
    }

    #[test]
    fn tags_are_plain_words() {
        assert!(valid_tag("oom-explain") && valid_tag("oom_explain.v1"));
        for bad in ["", "a b", "x:y", "[x]", &"t".repeat(33)] {
            assert!(!valid_tag(bad), "{bad:?}");
        }
    }
}
