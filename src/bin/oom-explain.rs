//! The `oom-explain` command (see `oom-explain --help` and docs/oom-explain.1).

fn main() -> std::process::ExitCode {
    oom_explain::cli::run(std::env::args_os())
}
