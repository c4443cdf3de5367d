//! A plugstack.conf as `oom-explain check-config` reads it (`config::check_plugstack`).
//!
//! Inputs with `include` or `config=` outside comments are skipped: a fuzzed glob or path would
//! read the rest of the file system (or /dev/zero); what they name is not this file's parsing.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oom_explain::config::{Config, check_plugstack};

include!("../common/scratch.rs");

fn file() -> std::path::PathBuf {
    scratch_dir("plugstack").join("plugstack.conf")
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .any(|l| l.contains("include") || l.contains("config="))
    {
        return;
    }
    let path = file();
    std::fs::write(&path, data).unwrap();
    let Ok(lines) = check_plugstack(&path) else {
        return;
    };
    let count = text.lines().count();
    for line in &lines {
        assert!(
            line.line >= 1 && line.line <= count,
            "line {} of {count}",
            line.line
        );
        // check-config decides exactly as the plugin would.
        assert_eq!(line.config, Config::from_args(&line.args));
    }
});
