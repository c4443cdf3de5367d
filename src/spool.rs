//! Files written and read as root without trusting any path a user could control.
//!
//! slurmstepd and the job epilog run this code as root. A folder is used only through a handle
//! ([`Dir`]) opened one path component at a time from `/`, never following a symlink, each
//! component checked on its handle: owned by root (or by us) and writable by no one else — or,
//! for a shared folder such as /tmp, sticky, where no one else can move what root owns in it.
//! Every file is then opened relative to that handle (`openat`), so a path is never resolved
//! twice and nothing can be swapped in between the check and the use.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg, OFlag, RenameFlags, openat, renameat, renameat2};
use nix::sys::stat::{Mode, fchmod, fstat, mkdirat};
use nix::unistd::{UnlinkatFlags, unlinkat};

/// An exclusive lock on `file`, waited for at most `wait` (an epilog never hangs on another).
pub fn lock_within(mut file: File, path: &Path, wait: Duration) -> io::Result<Flock<File>> {
    let start = Instant::now();
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => return Ok(locked),
            Err((f, nix::errno::Errno::EWOULDBLOCK)) if start.elapsed() < wait => {
                file = f;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err((_, e)) => {
                return Err(io::Error::other(format!(
                    "{}: cannot lock: {e}",
                    path.display()
                )));
            }
        }
    }
}

/// Groups below this id are the system's own (Debian, Ubuntu, RHEL: 1000).
const FIRST_USER_GID: u32 = 1000;

/// A checked folder, open.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

fn refuse(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{}: {why}", path.display()),
    )
}

fn at(path: &Path, e: nix::Error) -> io::Error {
    io::Error::new(
        io::Error::from(e).kind(),
        format!("{}: {}", path.display(), e.desc()),
    )
}

/// A plain file name: one component, not hidden, not `..`.
fn plain(dir: &Path, name: &str) -> io::Result<()> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') || name.contains('\0') {
        return Err(refuse(dir, &format!("bad file name {name:?}")));
    }
    Ok(())
}

impl Dir {
    /// Opens `path` (absolute) component by component, checking each folder on the way.
    pub fn open(path: &Path) -> io::Result<Dir> {
        Self::open_with(path, None, false)
    }

    /// As [`Dir::open`], but no folder on the way may be writable by group or others, sticky or
    /// not: a folder of programs root runs (whoever could swap one would run it as root).
    pub fn open_strict(path: &Path) -> io::Result<Dir> {
        Self::open_with(path, None, true)
    }

    /// As [`Dir::open`], first making the last folder with `mode` if it is missing (only inside
    /// a checked parent).
    pub fn open_or_create(path: &Path, mode: u32) -> io::Result<Dir> {
        Self::open_with(path, Some(mode), false)
    }

    fn open_with(path: &Path, create: Option<u32>, strict: bool) -> io::Result<Dir> {
        if !path.is_absolute() {
            return Err(refuse(path, "not an absolute path"));
        }
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let root = nix::fcntl::open("/", flags, Mode::empty()).map_err(|e| at(path, e))?;
        let mut dir = Dir {
            fd: root,
            path: PathBuf::from("/"),
        };
        dir.check(false)?;
        let components: Vec<_> = path.components().collect();
        for (i, component) in components.iter().enumerate() {
            let name = match component {
                Component::RootDir => continue,
                Component::Normal(name) => *name,
                _ => return Err(refuse(path, "`.` or `..` in the path")),
            };
            let last = i + 1 == components.len();
            if let (true, Some(mode)) = (last, create) {
                match mkdirat(dir.fd.as_fd(), name, Mode::from_bits_truncate(mode)) {
                    Ok(()) | Err(nix::Error::EEXIST) => {}
                    Err(e) => return Err(at(&dir.path.join(name), e)),
                }
            }
            let child = dir.path.join(name);
            let fd =
                openat(dir.fd.as_fd(), name, flags, Mode::empty()).map_err(|e| at(&child, e))?;
            dir = Dir { fd, path: child };
            dir.check(!last && !strict)?;
        }
        Ok(dir)
    }

    /// Owned by root or us and writable by no one else. A folder on the way may be shared where
    /// no one else can replace what root owns in it: sticky (/tmp), or writable by a system
    /// group only (Ubuntu's /var/log is 0775 root:syslog).
    fn check(&self, on_the_way: bool) -> io::Result<()> {
        let stat = fstat(self.fd.as_fd()).map_err(|e| at(&self.path, e))?;
        let me = nix::unistd::geteuid().as_raw();
        if stat.st_uid != 0 && stat.st_uid != me {
            return Err(refuse(&self.path, "not owned by root"));
        }
        let sticky = stat.st_mode & libc::S_ISVTX != 0;
        let system_group = stat.st_gid < FIRST_USER_GID;
        let shared_safely = match (stat.st_mode & 0o002 != 0, stat.st_mode & 0o020 != 0) {
            (false, false) => true,
            (true, _) => on_the_way && sticky,
            (false, true) => on_the_way && (sticky || system_group),
        };
        if !shared_safely {
            return Err(refuse(&self.path, "writable by group or others"));
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_file(&self, name: &str, flags: OFlag, mode: u32) -> io::Result<File> {
        plain(&self.path, name)?;
        let flags = flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        openat(self.fd.as_fd(), name, flags, Mode::from_bits_truncate(mode))
            .map(File::from)
            .map_err(|e| at(&self.path.join(name), e))
    }

    /// Writes `contents` to a new file `name` (never an existing one, never through a
    /// symlink), mode 0600, whole or not at all: it is written as `<name>.part` and renamed
    /// into place, so a reader never sees a half-written file and a full disk leaves none.
    pub fn create_new(&self, name: &str, contents: &[u8]) -> io::Result<()> {
        self.write_whole(name, contents, 0o600, RenameFlags::RENAME_NOREPLACE)
    }

    /// Replaces `name` with `contents` (mode `mode`), whole or not at all, as
    /// [`Dir::create_new`] writes; a reader sees the old file or the new one. The caller keeps
    /// other writers out (a lock): a `.part` left by one that died is written over.
    pub fn replace(&self, name: &str, contents: &[u8], mode: u32) -> io::Result<()> {
        let _ = unlinkat(
            self.fd.as_fd(),
            format!("{name}.part").as_str(),
            UnlinkatFlags::NoRemoveDir,
        );
        self.write_whole(name, contents, mode, RenameFlags::empty())
    }

    /// `<name>.part` written and renamed to `name` with `rename` (RENAME_NOREPLACE: never over
    /// an existing file).
    fn write_whole(
        &self,
        name: &str,
        contents: &[u8],
        mode: u32,
        rename: RenameFlags,
    ) -> io::Result<()> {
        plain(&self.path, name)?;
        let part = format!("{name}.part");
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL;
        let written = self
            .open_file(&part, flags, mode)
            .and_then(|mut file| {
                file.write_all(contents)?;
                // A crash after the rename must not leave an empty file in place of the old.
                if rename.is_empty() {
                    file.sync_data()?;
                }
                // The umask may have taken bits the reader needs.
                fchmod(file.as_fd(), Mode::from_bits_truncate(mode))
                    .map_err(|e| at(&self.path.join(&part), e))
            })
            .and_then(|()| {
                let fd = self.fd.as_fd();
                renameat2(fd, part.as_str(), fd, name, rename)
                    .map_err(|e| at(&self.path.join(name), e))
            });
        if written.is_err() {
            let _ = unlinkat(self.fd.as_fd(), part.as_str(), UnlinkatFlags::NoRemoveDir);
        }
        written
    }

    /// An exclusive lock on the file `name` (created 0600 if missing), waited for at most
    /// `wait`: writers of a file replaced whole take it first.
    pub fn lock(&self, name: &str, wait: Duration) -> io::Result<Flock<File>> {
        let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NONBLOCK;
        let file = self.open_file(name, flags, 0o600)?;
        lock_within(file, &self.path.join(name), wait)
    }

    /// A regular file of ours, read whole if it is at most `cap` bytes. Non-blocking: a FIFO
    /// put in its place can neither block the read nor pass for a file.
    pub fn read_capped(&self, name: &str, cap: u64) -> io::Result<Vec<u8>> {
        let file = self.open_file(name, OFlag::O_RDONLY | OFlag::O_NONBLOCK, 0)?;
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Err(refuse(&self.path.join(name), "not a regular file"));
        }
        let mut bytes = Vec::new();
        file.take(cap + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > cap {
            return Err(refuse(
                &self.path.join(name),
                &format!("larger than {cap} bytes"),
            ));
        }
        Ok(bytes)
    }

    /// The file `name` open for appending (created with `mode` if missing), a regular file of
    /// ours with exactly `mode`. Non-blocking, so that no FIFO or device can hold it up.
    pub fn open_append(&self, name: &str, mode: u32) -> io::Result<File> {
        let flags = OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT | OFlag::O_NONBLOCK;
        let file = self.open_file(name, flags, mode)?;
        let meta = file.metadata()?;
        if !meta.file_type().is_file() || meta.uid() != nix::unistd::geteuid().as_raw() {
            return Err(refuse(&self.path.join(name), "not a regular file of ours"));
        }
        if meta.mode() & 0o7777 != mode {
            fchmod(file.as_fd(), Mode::from_bits_truncate(mode))
                .map_err(|e| at(&self.path.join(name), e))?;
        }
        Ok(file)
    }

    /// The names in the folder (the folder read through its own handle).
    pub fn names(&self) -> io::Result<Vec<String>> {
        let fd = self.fd.try_clone()?;
        let mut dir = nix::dir::Dir::from_fd(fd).map_err(|e| at(&self.path, e))?;
        let names = dir
            .iter()
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().to_str().ok().map(str::to_owned))
            .filter(|name| name != "." && name != "..")
            .collect();
        Ok(names)
    }

    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        plain(&self.path, from)?;
        plain(&self.path, to)?;
        renameat(self.fd.as_fd(), from, self.fd.as_fd(), to)
            .map_err(|e| at(&self.path.join(from), e))
    }

    pub fn remove(&self, name: &str) -> io::Result<()> {
        plain(&self.path, name)?;
        unlinkat(self.fd.as_fd(), name, UnlinkatFlags::NoRemoveDir)
            .map_err(|e| at(&self.path.join(name), e))
    }

    /// The path of `name`, a regular file owned by root and writable by no one else: a program
    /// root may run.
    pub fn root_file(&self, name: &str) -> io::Result<PathBuf> {
        plain(&self.path, name)?;
        let path = self.path.join(name);
        let flags = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
        let stat =
            nix::sys::stat::fstatat(self.fd.as_fd(), name, flags).map_err(|e| at(&path, e))?;
        if stat.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(refuse(&path, "not a regular file"));
        }
        if stat.st_uid != 0 || stat.st_mode & 0o022 != 0 {
            return Err(refuse(
                &path,
                "not owned by root, or writable by group or others",
            ));
        }
        Ok(path)
    }

    /// When `name` last changed (its inode), in Unix seconds.
    pub fn changed(&self, name: &str) -> io::Result<i64> {
        plain(&self.path, name)?;
        let flags = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
        nix::sys::stat::fstatat(self.fd.as_fd(), name, flags)
            .map(|s| s.st_ctime)
            .map_err(|e| at(&self.path.join(name), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn private_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        dir
    }

    #[test]
    fn refuses_unsafe_places() {
        let tmp = private_dir();
        // A world-writable folder (like /tmp itself) is refused as the place to write...
        assert!(Dir::open(&std::env::temp_dir()).is_err());
        // ...and so is a path with `..`, or a name that leaves the folder.
        assert!(Dir::open(&tmp.path().join("../x")).is_err());
        let dir = Dir::open(tmp.path()).unwrap();
        assert!(dir.create_new("../escape.json", b"{}").is_err());
        dir.create_new("a.json", b"{}").unwrap();
        assert!(dir.create_new("a.json", b"{}").is_err(), "never overwrite");
        assert_eq!(
            dir.names().unwrap(),
            ["a.json"],
            "nothing half-written left over"
        );
        std::os::unix::fs::symlink("/etc/passwd", tmp.path().join("b.json")).unwrap();
        assert!(
            dir.create_new("b.json", b"{}").is_err(),
            "never through a symlink"
        );
        assert!(dir.read_capped("b.json", 1 << 20).is_err());
        assert!(dir.open_append("b.json", 0o600).is_err());
    }

    #[test]
    fn a_symlink_anywhere_on_the_path_is_refused() {
        let tmp = private_dir();
        std::fs::create_dir(tmp.path().join("real")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("real"), tmp.path().join("link")).unwrap();
        assert!(Dir::open(&tmp.path().join("real")).is_ok());
        assert!(Dir::open(&tmp.path().join("link")).is_err());
        assert!(Dir::open_or_create(&tmp.path().join("link/spool"), 0o700).is_err());
    }

    #[test]
    fn a_folder_on_the_way_that_others_can_write_is_refused() {
        // root/shared (0777, not sticky)/spool (0700): whoever can write to `shared` could
        // replace `spool`; only the last folder was checked before.
        let tmp = private_dir();
        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::create_dir(shared.join("spool")).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = Dir::open(&shared.join("spool")).unwrap_err().to_string();
        assert!(e.contains("shared: writable by group or others"), "{e}");
        // Sticky, as /tmp: no one else can move what root owns in it.
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(Dir::open(&shared.join("spool")).is_ok());
        // Writable by a system group, as Ubuntu's /var/log (0775 root:syslog); not by a
        // group of users.
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o775)).unwrap();
        let group = |gid| std::os::unix::fs::chown(&shared, None, Some(gid)).unwrap();
        group(4);
        assert!(Dir::open(&shared.join("spool")).is_ok());
        group(1500);
        assert!(Dir::open(&shared.join("spool")).is_err());
        // The last folder itself is never shared.
        std::fs::set_permissions(shared.join("spool"), std::fs::Permissions::from_mode(0o770))
            .unwrap();
        group(4);
        assert!(Dir::open(&shared.join("spool")).is_err());
    }

    #[test]
    fn reads_are_capped_and_never_block_on_a_fifo() {
        let tmp = private_dir();
        let dir = Dir::open(tmp.path()).unwrap();
        dir.create_new("big.json", &[b' '; 2048]).unwrap();
        assert_eq!(dir.read_capped("big.json", 4096).unwrap().len(), 2048);
        assert!(dir.read_capped("big.json", 1024).is_err());
        nix::unistd::mkfifo(&tmp.path().join("fifo.json"), Mode::S_IRWXU).unwrap();
        assert!(dir.read_capped("fifo.json", 1024).is_err());
        assert!(dir.open_append("fifo.json", 0o600).is_err());
    }

    #[test]
    fn an_append_gives_the_file_the_mode_asked_for() {
        let tmp = private_dir();
        let dir = Dir::open_or_create(&tmp.path().join("log"), 0o755).unwrap();
        dir.open_append("jobs.jsonl", 0o644).unwrap();
        dir.open_append("jobs.jsonl", 0o600)
            .unwrap()
            .write_all(b"x\n")
            .unwrap();
        let mode = std::fs::metadata(tmp.path().join("log/jobs.jsonl"))
            .unwrap()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(dir.names().unwrap(), ["jobs.jsonl"]);
    }
}
