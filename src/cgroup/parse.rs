//! Pure parsers for the text of cgroup memory files, and the one place that reads them.
//!
//! Every reader answers `Ok(None)` when the kernel does not have the file (older kernels,
//! v1 vs v2) so each figure stays an `Option`; anything else that goes wrong names the path.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {what}")]
    Parse { path: PathBuf, what: String },
    #[error("cannot find the step's memory cgroup: {0}")]
    NotFound(String),
}

/// v1 writes "no limit" as PAGE_COUNTER_MAX pages (9223372036854771712 on 4 KiB pages);
/// anything this large is no limit at all.
const UNLIMITED_FROM: u64 = 1 << 62;

/// A limit file's value: `max` (v2) or a huge number (v1) mean "no limit".
pub fn parse_limit(text: &str) -> Result<Option<u64>, String> {
    let text = text.trim();
    if text == "max" {
        return Ok(None);
    }
    let value = parse_u64(text)?;
    Ok((value < UNLIMITED_FROM).then_some(value))
}

pub fn parse_u64(text: &str) -> Result<u64, String> {
    let text = text.trim();
    text.parse::<u64>()
        .map_err(|_| format!("expected a number, found {text:?}"))
}

/// `key value` lines, as in memory.stat, memory.events and v1's memory.oom_control.
pub fn parse_keyed(text: &str) -> Result<BTreeMap<String, u64>, String> {
    let mut map = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut words = line.split_whitespace();
        let (Some(key), Some(value), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!("expected \"key value\", found {line:?}"));
        };
        map.insert(key.to_owned(), parse_u64(value)?);
    }
    Ok(map)
}

/// Reads a file's text, or `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<String>, CgroupError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Reads and parses one file in `dir`; `None` when the kernel has no such file.
pub fn read_with<T>(
    dir: &Path,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, CgroupError> {
    let path = dir.join(name);
    match read_optional(&path)? {
        None => Ok(None),
        Some(text) => parse(&text)
            .map(Some)
            .map_err(|what| CgroupError::Parse { path, what }),
    }
}

pub fn read_u64(dir: &Path, name: &str) -> Result<Option<u64>, CgroupError> {
    read_with(dir, name, parse_u64)
}

pub fn read_limit(dir: &Path, name: &str) -> Result<Option<u64>, CgroupError> {
    // A missing file and "no limit" are both None: neither limits the step.
    Ok(read_with(dir, name, parse_limit)?.flatten())
}

pub fn read_keyed(dir: &Path, name: &str) -> Result<Option<BTreeMap<String, u64>>, CgroupError> {
    read_with(dir, name, parse_keyed)
}

/// The sub-directories of `dir` whose names start with `prefix`, sorted by the number after it
/// (task_2 before task_10). A missing `dir` has none.
pub fn numbered_children(dir: &Path, prefix: &str) -> Vec<(u32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut children: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name();
            let n = name.to_str()?.strip_prefix(prefix)?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    children.sort();
    children
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(parse_limit("max\n"), Ok(None));
        assert_eq!(parse_limit("9223372036854771712\n"), Ok(None));
        assert_eq!(parse_limit("52428800\n"), Ok(Some(52_428_800)));
        assert!(parse_limit("lots").is_err());
    }

    #[test]
    fn keyed_files() {
        let map = parse_keyed("low 0\nhigh 0\nmax 18\noom 1\noom_kill 1\n").unwrap();
        assert_eq!(map["max"], 18);
        assert_eq!(map["oom_kill"], 1);
        assert!(parse_keyed("oom_kill\n").is_err());
        assert!(parse_keyed("oom_kill one\n").is_err());
    }

    #[test]
    fn a_parse_error_names_the_file() {
        let dir = std::env::temp_dir().join(format!("oom-explain-parse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("memory.peak"), "garbage\n").unwrap();
        let err = read_u64(&dir, "memory.peak").unwrap_err().to_string();
        assert!(
            err.contains("memory.peak") && err.contains("garbage"),
            "{err}"
        );
        assert_eq!(read_u64(&dir, "memory.absent").unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
