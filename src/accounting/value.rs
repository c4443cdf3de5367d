//! The value oom-explain keeps in a job's accounting field: `oe1:` and the hex of the job's
//! lines, one JSON line per node as in the job log (docs/records.md).
//!
//! Encoded, because slurmdbd writes the value into its SQL statement as it comes (quotes and
//! all) and sacct separates fields with `|`. Hex in lower case, because Slurm 22.05's sacctmgr
//! lower-cases the value it stores (fixed in 23.02), which base64 would not survive; reading
//! ignores case. (A base32 crate cost the plugin 50 KB more than hex.)

use std::borrow::Cow;

use serde::Deserialize;

use crate::record::{JobRecord, outcome_rank};

/// Marks a value as ours, and its version (in lower case, as 22.05 stores it anyway).
pub const PREFIX: &str = "oe1:";

/// The most a value may hold, in bytes: well under the 64 KiB of slurmdbd's column (TEXT), and
/// small enough to come back from sacct through one pipe buffer.
pub const MAX_VALUE_BYTES: usize = 32 * 1024;

/// What a job's field holds now.
#[derive(Debug, PartialEq)]
pub enum Current {
    Empty,
    /// Our value: the job lines (text, one per line) of the nodes that wrote before.
    Ours(String),
    /// Another tool's value (Princeton's jobstats keeps `JS1:…` in AdminComment): never ours
    /// to replace.
    Foreign,
}

impl Current {
    /// What sacct printed for the field (trailing newline and blanks ignored).
    pub fn of(text: &str) -> Current {
        let text = text.trim();
        if text.is_empty() {
            return Current::Empty;
        }
        match text_of(text) {
            Some(lines) => Current::Ours(lines),
            None => Current::Foreign,
        }
    }
}

/// The value for these job lines.
fn encode(lines: &[&str]) -> String {
    format!(
        "{PREFIX}{}",
        faster_hex::hex_string(lines.join("\n").as_bytes())
    )
}

/// The job lines in one of our values, as text (one JSON line per node); `None` for a value that
/// is not ours (or is damaged).
pub fn text_of(value: &str) -> Option<String> {
    text_into(value.trim().as_bytes(), &mut Vec::new()).map(str::to_owned)
}

/// [`text_of`] decoded into `buffer` (reused from one job to the next: the cluster report
/// decodes every job's value).
pub fn text_into<'b>(value: &[u8], buffer: &'b mut Vec<u8>) -> Option<&'b str> {
    let encoded = value
        .get(..PREFIX.len())
        .filter(|p| p.eq_ignore_ascii_case(PREFIX.as_bytes()))
        .map(|_| &value[PREFIX.len()..])?;
    buffer.clear();
    buffer.resize(encoded.len() / 2, 0);
    // SIMD where the CPU has it: the hex crate made the report 3× slower than over a job log.
    faster_hex::hex_decode(encoded, buffer).ok()?;
    std::str::from_utf8(buffer).ok()
}

/// The job lines in one of our values, as records (the command's reading); lines that are not
/// records of a schema this version reads are left out.
pub fn decode(value: &str) -> Option<Vec<JobRecord>> {
    Some(
        text_of(value)?
            .lines()
            .filter_map(|line| serde_json::from_str::<JobRecord>(line).ok())
            .filter(|r| r.schema == crate::record::SCHEMA)
            .collect(),
    )
}

/// What the store needs of a line: whose and how telling. (Only these fields are read: the
/// plugin never builds other nodes' records.)
#[derive(Deserialize)]
struct Key<'a> {
    job: u32,
    #[serde(borrow)]
    node: Cow<'a, str>,
    ended: u64,
    #[serde(borrow)]
    cause: Cow<'a, str>,
}

fn key(line: &str) -> Option<Key<'_>> {
    serde_json::from_str(line).ok()
}

/// A line of a node's job record in the value: its steps' details only up to this size.
const LINE_BYTES: usize = 8 * 1024;

/// The value once this node's lines (`mine`, of the job `job`) join the other nodes' (`before`,
/// the text of our value): a node's earlier line of the job is replaced. When the whole would
/// exceed `max` bytes (at most [`MAX_VALUE_BYTES`]), this node's lines lose their steps'
/// details (as syslog's do), then the least telling lines are left out (a kill stays before a
/// near miss before the rest). `None` when this node's own lines would be the ones left out.
pub fn merged(job: u32, before: &str, mine: &[JobRecord], max: usize) -> Option<String> {
    let max = max.min(MAX_VALUE_BYTES);
    let mine: Vec<&JobRecord> = mine.iter().filter(|r| r.job == job).collect();
    let others: Vec<&str> = before
        .lines()
        .filter(|line| {
            key(line).is_some_and(|k| k.job == job && !mine.iter().any(|m| m.origin.node == k.node))
        })
        .collect();
    for cap in [LINE_BYTES, 0] {
        let own: Vec<String> = mine.iter().map(|r| r.to_line_within(cap)).collect();
        let mut all: Vec<&str> = others
            .iter()
            .copied()
            .chain(own.iter().map(String::as_str))
            .collect();
        all.sort_unstable_by_key(|line| key(line).map(|k| k.node.into_owned()));
        let value = encode(&all);
        if value.len() <= max {
            return Some(value);
        }
        if cap == 0 {
            return most_telling(all, &own, max);
        }
    }
    None
}

/// The most telling of `lines` that fit, if `own` are among them.
fn most_telling(mut lines: Vec<&str>, own: &[String], max: usize) -> Option<String> {
    let rank = |line: &&str| {
        key(line).map_or((4, String::new()), |k| {
            (outcome_rank(&k.cause), k.node.into_owned())
        })
    };
    lines.sort_unstable_by_key(rank);
    while !lines.is_empty() && encode(&lines).len() > max {
        lines.pop();
    }
    let kept = own.iter().all(|o| lines.contains(&o.as_str()));
    lines.sort_unstable_by_key(|line| rank(line).1);
    kept.then(|| encode(&lines))
}

/// Whether the field holds this node's lines of the job as written (a concurrent node may have
/// replaced the value in between).
pub fn holds(value: &Current, mine: &[JobRecord]) -> bool {
    let Current::Ours(text) = value else {
        return false;
    };
    let keys: Vec<Key> = text.lines().filter_map(key).collect();
    mine.iter().all(|m| {
        keys.iter().any(|k| {
            k.job == m.job && k.node == m.origin.node && k.ended == m.ended && k.cause == m.cause
        })
    })
}

/// Whether `noted` (one job line) tells what `line` tells: the same job on the same node, with
/// the same outcome (later steps that change nothing of it need no new write).
pub fn tells_the_same(noted: &str, line: &JobRecord) -> bool {
    key(noted.trim())
        .is_some_and(|k| k.job == line.job && k.node == line.origin.node && k.cause == line.cause)
}

/// The value in one of sacct's `-P` lines, whichever field holds it (a foreign value in another
/// field may itself hold `|`).
pub fn find_in_row(line: &[u8]) -> Option<&[u8]> {
    let mut rest = line;
    loop {
        // memchr: a report reads every job's row, most of it a long value.
        let end = memchr::memchr(b'|', rest).unwrap_or(rest.len());
        let field = &rest[..end];
        let ours = field.get(..PREFIX.len());
        if ours.is_some_and(|p| p.eq_ignore_ascii_case(PREFIX.as_bytes())) {
            return Some(field);
        }
        rest = rest.get(end + 1..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(job: u32, node: &str, cause: &str, report_lines: usize) -> JobRecord {
        let line = format!(
            r#"{{"schema":1,"job":{job},"node":"{node}","user":"ann","uid":1000,"partition":"debug",
            "ended":1700000000,"cause":"{cause}","oom_kills":1,"peak":104857600,"limit":104857600,
            "elapsed_s":60,"recommendation":null,"recovered":false,"steps":[]}}"#
        );
        let mut r: JobRecord = serde_json::from_str(&line.replace('\n', "")).unwrap();
        if report_lines > 0 {
            let step = format!(
                r#"{{"schema":1,"job":{job},"step":"batch","node":"{node}","ended":1700000000,
                "elapsed_s":60,"cgroup":"cgroup v2","job_cgroup":null,"opted_in":true,
                "cause":"{cause}","secondary":null,"oom_kills":1,"peak":1,"limit":1,"job_peak":1,
                "job_limit":1,"request":null,"recommendation":null,"report":[]}}"#
            );
            let mut step: crate::record::StepRecord =
                serde_json::from_str(&step.replace('\n', "")).unwrap();
            step.report = (0..report_lines)
                .map(|i| format!("line {i} of a report that explains what the job's memory did"))
                .collect();
            r.steps.push(step);
        }
        r
    }

    fn value_of(records: &[JobRecord]) -> String {
        let lines: Vec<String> = records.iter().map(JobRecord::to_line).collect();
        encode(&lines.iter().map(String::as_str).collect::<Vec<_>>())
    }

    #[test]
    fn a_value_round_trips_and_holds_neither_quote_nor_bar() {
        let mut r = record(7, "node1", "under-allocation", 3);
        r.steps[0].report[0] = "the job's 'data' | all of it \"here\"".into();
        let value = merged(7, "", std::slice::from_ref(&r), MAX_VALUE_BYTES).unwrap();
        assert!(value.starts_with("oe1:"));
        assert!(!value.chars().any(|c| c.is_ascii_uppercase()), "{value}");
        // As Slurm 22.05's sacctmgr would store it, and as a tool might print it.
        assert_eq!(decode(&value.to_uppercase()), Some(vec![r.clone()]));
        assert!(!value.contains(['\'', '"', '|', '\n', '\\']), "{value}");
        assert_eq!(decode(&value), Some(vec![r]));
    }

    #[test]
    fn what_the_field_holds_is_told_apart() {
        assert_eq!(Current::of(""), Current::Empty);
        assert_eq!(Current::of("  \n"), Current::Empty);
        assert_eq!(Current::of("JS1:H4sIAAAAAAAAA6tWyk"), Current::Foreign);
        assert_eq!(Current::of("oe1:not hex!"), Current::Foreign);
        assert_eq!(Current::of("set by hand"), Current::Foreign);
        let r = record(7, "node1", "near-miss", 0);
        assert_eq!(
            Current::of(&format!("{}\n", value_of(std::slice::from_ref(&r)))),
            Current::Ours(r.to_line())
        );
    }

    #[test]
    fn a_node_replaces_its_own_line_and_keeps_the_others() {
        let old_mine = record(7, "node2", "near-miss", 0);
        let theirs = record(7, "node1", "under-allocation", 0);
        let stray = record(8, "node3", "under-allocation", 0);
        let mut mine = record(7, "node2", "under-allocation", 0);
        mine.ended += 5;
        let before = text_of(&value_of(&[old_mine, theirs.clone(), stray])).unwrap();
        let value = merged(7, &before, std::slice::from_ref(&mine), MAX_VALUE_BYTES).unwrap();
        assert_eq!(decode(&value).unwrap(), vec![theirs, mine.clone()]);
        assert!(holds(&Current::of(&value), std::slice::from_ref(&mine)));
        let mut other_run = mine.clone();
        other_run.ended += 1;
        assert!(!holds(&Current::of(&value), &[other_run]));
        assert!(!holds(&Current::Foreign, &[mine]));
    }

    #[test]
    fn a_node_of_a_large_job_fits_its_line_or_yields_to_kills() {
        // 40 nodes wrote before, each with a report; then a kill, then an over-request.
        let before: Vec<JobRecord> = (0..40)
            .map(|n| record(9, &format!("node{n:03}"), "near-miss", 20))
            .collect();
        let before = text_of(&value_of(&before)).unwrap();
        let kill = record(9, "node250", "under-allocation", 20);
        let value = merged(9, &before, std::slice::from_ref(&kill), MAX_VALUE_BYTES).unwrap();
        assert!(value.len() <= MAX_VALUE_BYTES, "{}", value.len());
        let back = decode(&value).unwrap();
        assert!(
            back.iter()
                .any(|r| r.origin.node == "node250" && r.cause == "under-allocation")
        );
        assert!(back.len() > 1 && back.len() < 41, "{}", back.len());
        // A value full of kills has no room for an over-request.
        let kills: Vec<JobRecord> = (0..100)
            .map(|n| record(9, &format!("node{n:03}"), "under-allocation", 0))
            .collect();
        let kills = text_of(&value_of(&kills)).unwrap();
        let over = record(9, "node300", "over-request", 20);
        assert!(merged(9, &kills, &[over], MAX_VALUE_BYTES).is_none());
        // Where the way in takes less (scontrol's input line), the kill still goes in, alone
        // if need be; a line too long even alone does not.
        let value = merged(9, &before, std::slice::from_ref(&kill), 4000).unwrap();
        assert!(value.len() <= 4000, "{}", value.len());
        assert!(
            decode(&value)
                .unwrap()
                .iter()
                .any(|r| r.origin.node == "node250")
        );
        assert!(merged(9, "", std::slice::from_ref(&kill), 10).is_none());
    }

    #[test]
    fn the_value_is_found_in_any_field_of_a_sacct_line() {
        let value = value_of(&[record(7, "node1", "near-miss", 0)]);
        assert_eq!(
            find_in_row(format!("7|JS1:a|b|{value}").as_bytes()),
            Some(value.as_bytes())
        );
        assert_eq!(
            find_in_row(format!("7|{value}|").as_bytes()),
            Some(value.as_bytes())
        );
        assert_eq!(find_in_row(b"7|JS1:abc|"), None);
    }

    #[test]
    fn a_line_of_the_same_node_and_time_with_another_outcome_is_not_held() {
        let near = record(7, "node1", "near-miss", 0);
        let value = Current::Ours(near.to_line());
        assert!(holds(&value, std::slice::from_ref(&near)));
        let killed = record(7, "node1", "under-allocation", 0);
        assert!(!holds(&value, &[killed]));
    }
}
