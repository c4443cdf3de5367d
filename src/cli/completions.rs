//! `oom-explain completions SHELL`: the shell's completion script, from the command's own
//! definition.

use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;
use super::output::{Stop, Streams};

pub fn run(shell: Shell, streams: &mut Streams) -> Result<ExitCode, Stop> {
    // Made whole first: clap_complete panics on a write error, and a closed pipe is none.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "oom-explain", &mut script);
    streams.out.write_all(&script)?;
    Ok(ExitCode::SUCCESS)
}
