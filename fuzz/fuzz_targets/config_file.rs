//! The site's TOML file named by `config=` (read by `Config::from_args`; the function that
//! parses its text, Config::read_file, is private, so the text is written to a file first).
#![no_main]
use libfuzzer_sys::fuzz_target;
use oom_explain::config::Config;

include!("../common/config_checks.rs");

include!("../common/scratch.rs");

fn file() -> std::path::PathBuf {
    scratch_dir("config").join("oom-explain.toml")
}

fuzz_target!(|data: &[u8]| {
    let path = file();
    std::fs::write(&path, data).unwrap();
    let arg = format!("config={}", path.display());
    match Config::from_args(&[arg]) {
        Ok(config) => check_config(&config),
        // An admin must learn which file is wrong.
        Err(e) => assert!(e.0.contains(&*path.to_string_lossy()), "{e}"),
    }
});
