//! `oom-explain report`: the cluster's memory failures and waste, from the job logs. Streams
//! the lines and keeps only counters (and the ids of killed jobs, a small share), so a year of
//! records is read in seconds.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::record::{self, JobLine, SCHEMA, is_kill};

/// Which records count.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Unix seconds: records of jobs that ended before are skipped.
    pub since: Option<u64>,
    pub user: Option<String>,
    /// Only this uid's jobs (a user who may not see others').
    pub uid: Option<u32>,
    /// Unix seconds: records of jobs that ended after are skipped.
    pub until: Option<u64>,
    pub partition: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Where the records came from, when not from job logs (one line for the reader).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Lines read, and of them the records that passed the filter.
    pub lines: u64,
    pub records: u64,
    /// Lines that were not records of a known schema.
    pub skipped: u64,
    pub first_ended: Option<u64>,
    pub last_ended: Option<u64>,
    pub nodes: u64,
    /// Distinct jobs killed for memory, in all and by cause, user and partition.
    pub oom_jobs: u64,
    pub by_cause: Vec<(String, u64)>,
    pub by_user: Vec<(String, u64)>,
    pub by_partition: Vec<(String, u64)>,
    pub near_misses: u64,
    /// Memory requested but never used, over the jobs' run time, in GiB-hours: in all, and for
    /// the jobs flagged as over-requests.
    pub unused_gib_hours: f64,
    pub over_requests: u64,
    pub over_request_gib_hours: f64,
    pub unused_by_user: Vec<(String, f64)>,
    /// The (user, cause) pairs with the most killed jobs, with what to tell them.
    pub advice: Vec<Advice>,
}

#[derive(Debug, Serialize)]
pub struct Advice {
    pub user: String,
    pub cause: String,
    pub jobs: u64,
    pub text: String,
}

#[derive(Default)]
pub struct Builder {
    filter: Filter,
    report: Report,
    nodes: HashSet<String>,
    killed: HashSet<u32>,
    by_cause: HashMap<String, u64>,
    by_user: HashMap<String, u64>,
    by_partition: HashMap<String, u64>,
    pairs: HashMap<(String, String), u64>,
    unused_by_user: HashMap<String, f64>,
    /// Owners' names by uid, looked up once each.
    names: HashMap<u32, Option<String>>,
}

/// Whose row of Slurm's accounting a line came from: its job, owner and partition.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub job: u32,
    pub uid: u32,
    pub partition: Option<&'a str>,
}

impl Builder {
    pub fn new(filter: Filter) -> Self {
        Builder {
            filter,
            ..Builder::default()
        }
    }

    pub fn add_line(&mut self, line: &str) {
        self.add_line_of(line, None);
    }

    /// A line that must be of `row`'s job and owner (it came from their row in Slurm's
    /// accounting): any other is skipped. The row's partition is Slurm's word over the line's,
    /// and a line without its owner's name (a step's end does not look names up) gets it here.
    pub fn add_line_of(&mut self, line: &str, row: Option<Row>) {
        self.report.lines += 1;
        let Ok(mut r) = serde_json::from_str::<JobLine>(record::json_of(line)) else {
            self.report.skipped += 1;
            return;
        };
        if r.schema != SCHEMA || row.is_some_and(|row| (r.job, r.uid) != (row.job, Some(row.uid))) {
            self.report.skipped += 1;
            return;
        }
        if let Some(partition) = row.and_then(|row| row.partition) {
            r.partition = Some(partition.into());
        }
        if r.user.is_none()
            && let Some(uid) = r.uid
        {
            let name = self
                .names
                .entry(uid)
                .or_insert_with(|| record::user_name(uid));
            r.user = name.clone().map(Into::into);
        }
        if self.filter.since.is_some_and(|s| r.ended < s)
            || self
                .filter
                .user
                .as_deref()
                .is_some_and(|u| r.user.as_deref() != Some(u))
            || self.filter.uid.is_some_and(|uid| r.uid != Some(uid))
            || self.filter.until.is_some_and(|u| r.ended > u)
            || self
                .filter
                .partition
                .as_deref()
                .is_some_and(|p| r.partition.as_deref() != Some(p))
        {
            return;
        }
        let rep = &mut self.report;
        rep.records += 1;
        rep.first_ended = Some(rep.first_ended.map_or(r.ended, |f| f.min(r.ended)));
        rep.last_ended = Some(rep.last_ended.map_or(r.ended, |l| l.max(r.ended)));
        if !self.nodes.contains(r.node.as_ref()) {
            self.nodes.insert(r.node.to_string());
        }
        let user = r.user.as_deref().unwrap_or("?");
        if is_kill(&r.cause) && self.killed.insert(r.job) {
            rep.oom_jobs += 1;
            *self.by_cause.entry(r.cause.to_string()).or_default() += 1;
            *self.by_user.entry(user.to_owned()).or_default() += 1;
            *self
                .by_partition
                .entry(r.partition.as_deref().unwrap_or("?").to_owned())
                .or_default() += 1;
            *self
                .pairs
                .entry((user.to_owned(), r.cause.to_string()))
                .or_default() += 1;
        }
        if r.cause == "near-miss" {
            rep.near_misses += 1;
        }
        if let Some(gib_hours) = record::unused_gib_hours(r.peak, r.limit, r.elapsed_s) {
            rep.unused_gib_hours += gib_hours;
            *self.unused_by_user.entry(user.to_owned()).or_default() += gib_hours;
            if r.cause == "over-request" {
                rep.over_requests += 1;
                rep.over_request_gib_hours += gib_hours;
            }
        }
    }

    pub fn finish(self, top: usize) -> Report {
        fn ranked<V: PartialOrd + Copy>(map: HashMap<String, V>, top: usize) -> Vec<(String, V)> {
            let mut v: Vec<_> = map.into_iter().collect();
            v.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(&b.0)));
            v.truncate(top);
            v
        }
        let mut report = self.report;
        report.nodes = self.nodes.len() as u64;
        report.by_cause = ranked(self.by_cause, usize::MAX);
        report.by_user = ranked(self.by_user, top);
        report.by_partition = ranked(self.by_partition, top);
        report.unused_by_user = ranked(self.unused_by_user, top);
        let mut pairs: Vec<_> = self.pairs.into_iter().collect();
        pairs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        report.advice = pairs
            .into_iter()
            .take(top.min(5))
            .map(|((user, cause), jobs)| Advice {
                text: advice_for(&cause).into(),
                user,
                cause,
                jobs,
            })
            .collect();
        report
    }
}

/// What to tell a user whose jobs keep dying of this cause.
fn advice_for(cause: &str) -> &'static str {
    crate::causes::Cause::from_id(cause).map_or("read the job's report (oom-explain JOBID)", |c| {
        c.definition().for_admins
    })
}

impl Report {
    pub fn lines(&self) -> Vec<String> {
        let date = |t: Option<u64>| t.map_or("?".into(), crate::size::date);
        let share = |n: u64| match self.oom_jobs {
            0 => String::new(),
            all if n * 100 < all => " (<1 %)".into(),
            all => format!(" ({} %)", n * 100 / all),
        };
        let mut out = vec![
            format!(
                "oom-explain report: {} from {}, {} to {}",
                counted(self.records, "job record"),
                counted(self.nodes, "node"),
                date(self.first_ended),
                date(self.last_ended)
            ),
            String::new(),
            format!("Jobs killed for memory: {}", self.oom_jobs),
        ];
        if let Some(source) = &self.source {
            out.insert(1, source.clone());
        }
        let list = |out: &mut Vec<String>, title: &str, items: &[(String, u64)]| {
            if !items.is_empty() {
                out.push(format!("  by {title}:"));
                for (name, n) in items {
                    out.push(format!("    {name:<24} {n:>8}{}", share(*n)));
                }
            }
        };
        list(&mut out, "cause", &self.by_cause);
        list(&mut out, "user", &self.by_user);
        list(&mut out, "partition", &self.by_partition);
        out.push(format!(
            "Near misses (finished close to their limit): {}",
            self.near_misses
        ));
        out.push(String::new());
        out.push(format!(
            "Memory requested but never used: {:.0} GiB-hours ({:.0} of them in {})",
            self.unused_gib_hours,
            self.over_request_gib_hours,
            counted(self.over_requests, "over-request")
        ));
        if !self.unused_by_user.is_empty() {
            out.push("  by user:".into());
            for (user, gh) in &self.unused_by_user {
                out.push(format!("    {user:<24} {gh:>10.0}"));
            }
        }
        if !self.advice.is_empty() {
            out.push(String::new());
            out.push("Top advice:".into());
            for a in &self.advice {
                out.push(format!(
                    "  {} ({}, {}): {}",
                    a.user,
                    counted(a.jobs, "job"),
                    a.cause,
                    a.text
                ));
            }
        }
        if self.skipped > 0 {
            out.push(format!(
                "({} lines were not records and were skipped.)",
                self.skipped
            ));
        }
        out
    }
}
/// "1 node", "3 nodes".
fn counted(n: u64, thing: &str) -> String {
    match n {
        1 => format!("1 {thing}"),
        n => format!("{n} {thing}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_said_in_the_singular_for_one() {
        assert_eq!(counted(1, "node"), "1 node");
        assert_eq!(counted(0, "node"), "0 nodes");
        assert_eq!(counted(3, "job record"), "3 job records");
    }
}
