//! Where the command writes, and why it stops early. Output goes through `writeln!` on a
//! writer, never `println!`: a reader that went away (`oom-explain | head`) is a quiet end, not
//! a panic.

use std::io::{self, Write};

/// The command's output, and its messages to the person running it.
pub struct Streams<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

impl Streams<'_> {
    /// One line of output.
    pub fn line(&mut self, text: &str) -> Result<(), Stop> {
        writeln!(self.out, "{text}")?;
        Ok(())
    }

    pub fn lines<S: AsRef<str>>(&mut self, lines: &[S]) -> Result<(), Stop> {
        lines.iter().try_for_each(|l| self.line(l.as_ref()))
    }

    /// `value` as indented JSON, one document.
    pub fn json(&mut self, value: &impl serde::Serialize) -> Result<(), Stop> {
        serde_json::to_writer_pretty(&mut *self.out, value).map_err(io::Error::from)?;
        writeln!(self.out)?;
        Ok(())
    }

    /// A message for the person (stderr). One that cannot be written is dropped: there is no
    /// one left to tell.
    pub fn warn(&mut self, message: &str) {
        let _ = writeln!(self.err, "oom-explain: {message}");
    }
}

/// Why a command ends before its end.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// Nobody reads the output any more (a closed pipe): end quietly.
    OutputClosed,
    /// What went wrong, in one line for the person.
    Failed(String),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::BrokenPipe => Stop::OutputClosed,
            _ => Stop::Failed(e.to_string()),
        }
    }
}

impl From<String> for Stop {
    fn from(why: String) -> Self {
        Stop::Failed(why)
    }
}
