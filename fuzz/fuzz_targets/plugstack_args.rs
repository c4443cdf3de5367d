//! The plugin's arguments on its plugstack.conf line (`Config::from_args`), split on
//! whitespace and NUL as Slurm splits the line.
//!
//! `config=` arguments are dropped: the file they name is the config_file target's input, and
//! a fuzzed path could name /dev/zero or a FIFO.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oom_explain::config::Config;

include!("../common/config_checks.rs");

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let args: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c == '\0')
        .filter(|a| !a.is_empty() && !a.starts_with("config="))
        .map(str::to_owned)
        .collect();
    let result = Config::from_args(&args);
    assert_eq!(
        result,
        Config::from_args(&args),
        "the same line, the same settings"
    );
    match result {
        Ok(config) => check_config(&config),
        // Every error says it comes from plugstack.conf, for slurmd's log.
        Err(e) => assert!(e.0.starts_with("plugstack.conf: "), "{e}"),
    }
});
