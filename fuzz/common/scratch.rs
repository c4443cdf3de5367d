/// This fuzzing process's own folder in the temp folder, made once:
/// `oom-explain-fuzz-<what>-<pid>/`. (Included by the targets that need files.)
fn scratch_dir(what: &str) -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("oom-explain-fuzz-{what}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}
