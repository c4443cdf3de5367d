//! Writing files as root without trusting any path a user could control.
//!
//! slurmstepd runs the plugin's end-of-step code as root. A file is written only into a
//! directory the admin configured that is owned by root, is not a symlink and is writable by no
//! one else; the file is created new (never an existing one, never through a symlink), mode 0600.

use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Checks that `dir` is a directory (not a symlink) owned by us (root in slurmstepd) and
/// writable by no one else.
pub fn check_dir(dir: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    let refuse = |why: &str| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{}: {why}", dir.display()),
        ))
    };
    if !meta.file_type().is_dir() {
        return refuse("not a directory (or a symlink)");
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return refuse("not owned by root");
    }
    if meta.mode() & 0o022 != 0 {
        return refuse("writable by group or others");
    }
    Ok(())
}

/// Makes `dir` with `mode` if it is missing — only inside a parent that passes [`check_dir`]
/// — and checks it.
pub fn ensure_dir(dir: &Path, mode: u32) -> io::Result<()> {
    if std::fs::symlink_metadata(dir).is_err() {
        if let Some(parent) = dir.parent() {
            check_dir(parent)?;
        }
        match std::fs::DirBuilder::new().mode(mode).create(dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
    }
    check_dir(dir)
}

/// Writes `contents` to a new file `name` in `dir`, with the checks above.
pub fn write_new(dir: &Path, name: &str, contents: &[u8]) -> io::Result<()> {
    check_dir(dir)?;
    if name.contains('/') || name.starts_with('.') {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{}: bad file name {name:?}", dir.display()),
        ));
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dir.join(name))?;
    file.write_all(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_unsafe_places() {
        let dir = std::env::temp_dir().join(format!("oom-explain-spool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A world-writable directory (like /tmp itself) is refused.
        let tmp = std::env::temp_dir();
        assert!(write_new(&tmp, "x.json", b"{}").is_err());
        assert!(write_new(&dir, "../escape.json", b"{}").is_err());
        if nix::unistd::geteuid().is_root() {
            std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .unwrap();
            write_new(&dir, "a.json", b"{}").unwrap();
            // Never overwrite.
            assert!(write_new(&dir, "a.json", b"{}").is_err());
            // Never through a symlink.
            std::os::unix::fs::symlink("/etc/passwd", dir.join("b.json")).unwrap();
            assert!(write_new(&dir, "b.json", b"{}").is_err());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
