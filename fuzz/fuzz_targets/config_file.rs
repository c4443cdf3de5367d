//! The site's TOML file named by `config=` (read by `Config::from_args`; the function that
//! parses its text, Config::read_file, is private, so the text is written to a file first).
#![no_main]
use libfuzzer_sys::fuzz_target;
use oom_explain::config::Config;
use std::path::PathBuf;
use std::sync::OnceLock;

include!("../common/config_checks.rs");

fn file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("oom-explain-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("oom-explain.toml")
    })
}

fuzz_target!(|data: &[u8]| {
    let path = file();
    std::fs::write(path, data).unwrap();
    let arg = format!("config={}", path.display());
    match Config::from_args(&[arg]) {
        Ok(config) => check_config(&config),
        // An admin must learn which file is wrong.
        Err(e) => assert!(e.0.contains(&*path.to_string_lossy()), "{e}"),
    }
});
