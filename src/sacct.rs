//! The explanation of a job with no record, from Slurm's accounting (`sacct`): lower fidelity,
//! and it says what it cannot know.

use crate::accounting::value;
use crate::next_request::{NextRequest, Source};
use crate::record::JobRecord;
use crate::size::{self, human};
use crate::slurm::SlurmRelease;

/// The fields asked of sacct, in this order (`sacct -P -n -o …`); the last two may hold the
/// job's lines (`accounting_field=`).
pub const FIELDS: &str =
    "JobID,State,ReqMem,MaxRSS,Elapsed,NTasks,NNodes,ExitCode,Partition,AdminComment,SystemComment";

/// The fields that name a job, asked with `sacct -j ID -X -n -P -o …`: how Slurm shows it
/// (`1234`, an array task `1234_5`), its raw id (the one records carry) and when it was
/// submitted.
pub const ID_FIELDS: &str = "JobID,JobIDRaw,Submit";

/// A job as `sacct -o JobID,JobIDRaw,Submit` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SacctJobId {
    /// `1234`, `1234_5` (an array task) or `1234+1` (a heterogeneous job's component).
    pub id: String,
    pub raw: u32,
    /// `2026-11-30T10:05:01`, as sacct prints it (and takes it back with `-S`).
    pub submitted: Option<String>,
}

/// Parses `sacct -X -n -P -o ID_FIELDS` output: one job per line, each once. Tasks of an array
/// still pending (`1234_[6-9]`) have not run: left out. A job id Slurm gave out again (its
/// state was reset, or job ids wrapped) names older jobs too: only the newest job, or the
/// newest array's tasks, is kept.
pub fn parse_job_ids(text: &str) -> Vec<SacctJobId> {
    let mut ids: Vec<SacctJobId> = Vec::new();
    for line in text.lines() {
        let mut fields = line.trim().split('|');
        let (Some(id), Some(Ok(raw))) = (fields.next(), fields.next().map(|r| r.trim().parse()))
        else {
            continue;
        };
        let submitted = fields.next().map(str::trim).filter(|s| !s.is_empty());
        if id.is_empty() || id.contains('[') {
            continue;
        }
        // The same job twice (its id given out again): the newest submission stands.
        match ids.iter_mut().find(|k| k.raw == raw && k.id == id) {
            Some(known) => known.submitted = known.submitted.clone().max(submitted.map(Into::into)),
            None => ids.push(SacctJobId {
                id: id.into(),
                raw,
                submitted: submitted.map(str::to_owned),
            }),
        }
    }
    newest_job(ids)
}

/// Of jobs that share an id, the newest: a plain job, or an array's tasks (which share their
/// array's submit time; the newest task's stands for the array).
fn newest_job(ids: Vec<SacctJobId>) -> Vec<SacctJobId> {
    let is_task = |i: &SacctJobId| i.id.contains('_');
    let newest = |task: bool| {
        ids.iter()
            .filter(|i| is_task(i) == task)
            .filter_map(|i| i.submitted.clone())
            .max()
    };
    let (plain, tasks) = (newest(false), newest(true));
    match (plain, tasks) {
        (Some(p), Some(t)) => {
            let keep_tasks = t > p;
            ids.into_iter()
                .filter(|i| is_task(i) == keep_tasks)
                .collect()
        }
        _ => ids,
    }
}

/// sacct's failure in one line: what failed, what to do, and the first line sacct printed.
pub fn failure_summary(stderr: &str) -> String {
    let said = stderr
        .lines()
        .map(|l| l.trim().trim_start_matches("sacct: ").trim())
        .find(|l| !l.is_empty())
        .unwrap_or("no message");
    let said: String = match said.char_indices().nth(120) {
        Some((cut, _)) => format!("{}...", &said[..cut]),
        None => said.to_owned(),
    };
    let text = stderr.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    let what = if has(&["accounting storage is disabled", "accounting_storage/none"]) {
        "accounting is not set up on this cluster, so sacct knows no past jobs"
    } else if has(&[
        "connection refused",
        "unable to contact",
        "problem talking to the database",
    ]) {
        "Slurm's accounting database did not answer; try again in a few minutes, or tell your \
         administrators if it lasts"
    } else if has(&["invalid job id", "invalid job format"]) {
        "sacct does not take this job id"
    } else {
        "sacct failed"
    };
    format!("{what} (sacct: {said})")
}

/// One line of sacct's output: the job or one of its steps.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SacctRow {
    pub id: String,
    pub state: String,
    /// The request as sacct prints it (e.g. `200M`: the whole job's), and in bytes per node.
    pub req_mem: String,
    pub req_bytes: Option<u64>,
    pub max_rss: Option<u64>,
    pub elapsed: String,
    pub tasks: Option<u32>,
    pub nodes: Option<u32>,
    pub exit_code: String,
    pub partition: Option<String>,
    /// The job's lines the epilogs left in its accounting field (the job's own row only).
    #[serde(skip)]
    pub stored: Option<Vec<JobRecord>>,
}

/// Parses `sacct -P -n -o FIELDS` output (`|`-separated, no header).
pub fn parse(text: &str) -> Vec<SacctRow> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split('|').collect();
            if f.len() < 8 || f[0].is_empty() {
                return None;
            }
            // ReqMem is the whole job's (all its nodes'): per node, as --mem takes it.
            let nodes = f[6].parse::<u64>().ok().filter(|&n| n > 0).unwrap_or(1);
            Some(SacctRow {
                id: f[0].into(),
                state: f[1].split_whitespace().next().unwrap_or("").into(),
                req_mem: f[2].into(),
                req_bytes: req_mem(f[2]).map(|total| total / nodes),
                max_rss: parse_bytes(f[3]),
                elapsed: f[4].into(),
                tasks: f[5].parse().ok(),
                nodes: f[6].parse().ok(),
                exit_code: f[7].into(),
                partition: f.get(8).filter(|p| !p.is_empty()).map(|p| p.to_string()),
                stored: f.iter().skip(9).find_map(|field| value::decode(field)),
            })
        })
        .collect()
}

/// sacct's ReqMem in bytes: `200M`, `1.50G` (sacct steps up a unit while the number stays
/// whole in 512ths), and before 21.08 `200Mn`/`4000Mc`.
pub(crate) fn req_mem(text: &str) -> Option<u64> {
    let text = text.trim_end_matches(['n', 'c']);
    match text.ends_with(|c: char| c.is_ascii_digit()) {
        true => size::parse_slurm_size_mib(text).and_then(|m| m.checked_mul(1 << 20)),
        false => parse_bytes(text),
    }
}

/// sacct's sizes: a number with K, M, G, T (binary), or plain bytes.
pub(crate) fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, scale) = match text.chars().last()? {
        'K' => (&text[..text.len() - 1], 1u64 << 10),
        'M' => (&text[..text.len() - 1], 1 << 20),
        'G' => (&text[..text.len() - 1], 1 << 30),
        'T' => (&text[..text.len() - 1], 1 << 40),
        _ => (text, 1),
    };
    let n: f64 = number.parse().ok()?;
    Some((n * scale as f64) as u64)
}

/// The next request of a job without a record, for `--json`: twice the request of a job Slurm
/// recorded as killed for memory (a lower bound is all sacct knows), else none.
pub fn next_request(job: &str, rows: &[SacctRow]) -> Option<NextRequest> {
    let own = |r: &&SacctRow| r.id == job || r.id.starts_with(&format!("{job}."));
    rows.iter()
        .filter(own)
        .find(|r| r.state == "OUT_OF_MEMORY")?;
    let requested = rows.iter().find(|r| r.id == job)?.req_bytes?;
    Some(NextRequest::mem(
        requested.saturating_mul(2),
        "at-least",
        Source::Sacct,
    ))
}

/// The honest explanation for `oom-explain JOBID` when the plugin left no record. `release` is
/// the Slurm that recorded the figures (`sacct --version`): it decides what MaxRSS means.
pub fn explain(job: &str, rows: &[SacctRow], release: Option<SlurmRelease>) -> Vec<String> {
    explain_for(job, rows, release, false)
}

/// The same, where the job logs are for the administrators only (`records_private`): the job
/// may well have a record, which the caller cannot read.
pub fn explain_for(
    job: &str,
    rows: &[SacctRow],
    release: Option<SlurmRelease>,
    records_private: bool,
) -> Vec<String> {
    // Only this job's rows: `sacct -j 2` also names array 2's tasks (`2_1`…) of another job.
    let own = |r: &&SacctRow| r.id == job || r.id.starts_with(&format!("{job}."));
    let rows: Vec<SacctRow> = match rows.iter().any(|r| own(&r)) {
        true => rows.iter().filter(own).cloned().collect(),
        false => rows.to_vec(),
    };
    let rows = rows.as_slice();
    let Some(job_row) = rows.iter().find(|r| r.id == job).or(rows.first()) else {
        return vec![format!(
            "Job {job}: no record here, and sacct knows no such job."
        )];
    };
    let oom = rows.iter().find(|r| r.state == "OUT_OF_MEMORY");
    let max_rss = rows.iter().filter_map(|r| r.max_rss).max();
    let tasks = rows.iter().filter_map(|r| r.tasks).max();
    let mut out = match records_private {
        false => vec![
            format!("Job {job}: no oom-explain record (the job ran without --oom-explain,"),
            "  or before records were kept); from Slurm's accounting (sacct) only:".into(),
        ],
        true => vec![
            format!("Job {job}: its oom-explain record, if it has one, is for the administrators"),
            "  on this cluster; from Slurm's accounting (sacct) only:".into(),
        ],
    };
    out.extend([format!(
        "  State {}{}, requested {} per node on {} node(s){}, ran {}.",
        job_row.state,
        oom.filter(|r| r.id != job_row.id)
            .map(|r| format!(" (step {} OUT_OF_MEMORY)", r.id))
            .unwrap_or_default(),
        match (job_row.req_bytes, job_row.nodes) {
            (Some(per_node), Some(n)) if n > 1 => human(per_node),
            _ if job_row.req_mem.is_empty() => "?".to_owned(),
            _ => job_row.req_mem.clone(),
        },
        job_row.nodes.unwrap_or(1),
        tasks.map(|t| format!(", {t} task(s)")).unwrap_or_default(),
        job_row.elapsed
    )]);
    let rss_text = max_rss.map_or("not recorded".to_owned(), human);
    let rss_is_peak = release.filter(|r| r.max_rss_is_peak());
    match (oom, job_row.req_bytes) {
        (Some(_), Some(req)) => {
            let (_, twice) = size::slurm_request(req.saturating_mul(2));
            out.push(format!(
                "  It ran out of memory: the kernel killed it at its {} limit. It needed more;",
                human(req)
            ));
            out.push(
                "    how much more, one run cannot tell. Twice as much is a safe next try:".into(),
            );
            out.push(format!("      #SBATCH --mem={twice}"));
            match rss_is_peak {
                Some(r) => {
                    out.push(format!(
                        "  sacct's MaxRSS ({rss_text}): from Slurm 24.11 on (this is {r}) it is the kernel's"
                    ));
                    out.push("    peak where Slurm gathers through cgroups; a job killed at its limit peaks at".into());
                    out.push(
                        "    the limit, so it does not show how much more the job needed.".into(),
                    );
                }
                None => {
                    out.push(format!(
                        "  sacct's MaxRSS ({rss_text}) is sampled every few seconds: it misses the final rise,"
                    ));
                    out.push("    so it is no guide to what the job needs.".into());
                }
            }
        }
        (Some(_), None) => {
            out.push("  It ran out of memory; sacct does not say how much it had asked for.".into())
        }
        (None, _) => match rss_is_peak {
            Some(r) => {
                out.push(format!(
                    "  Slurm recorded no out-of-memory kill. Largest MaxRSS: {rss_text} (on Slurm {r},"
                ));
                out.push("    the kernel's peak where Slurm gathers through cgroups).".into());
            }
            None => {
                out.push(format!(
                    "  Slurm recorded no out-of-memory kill. Largest MaxRSS: {rss_text} (sampled, so the"
                ));
                out.push("    real peak may be higher).".into());
            }
        },
    }
    out.push(
        "  Not known without a record: the real peak, which process was killed, and why".into(),
    );
    out.push("    (a load spike, copies per worker, a leak, files in /dev/shm...).".into());
    match records_private {
        false => out.push(
            "  Next time: sbatch --oom-explain ... and this command gives the full story.".into(),
        ),
        true => out.extend([
            "  If oom-explain watched it (--oom-explain, or your site's default), its".into(),
            "    report is near the end of its .err (or its .out if it set no --error);".into(),
            "    if not, sbatch --oom-explain next time puts one there.".into(),
        ]),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real output of `sacct -P -n -o FIELDS` for an OOM-killed job on the test cluster
    /// (Slurm 22.05.8 with slurmdbd; 2026-11-22). MaxRSS of the killed step: 0.
    const KILLED: &str = "1|OUT_OF_MEMORY|200M||00:00:00||1|0:125\n\
                          1.batch|OUT_OF_MEMORY||0|00:00:00|1|1|0:125\n";

    #[test]
    fn where_records_are_for_the_admins_it_never_says_the_job_had_none() {
        let rows = parse(KILLED);
        let private = explain_for("1", &rows, None, true);
        assert!(
            private[0].contains("is for the administrators"),
            "{private:?}"
        );
        assert!(
            private
                .iter()
                .all(|l| !l.contains("ran without --oom-explain"))
        );
        assert!(
            private
                .iter()
                .any(|l| l.contains("near the end of its .err"))
        );
        let told = &private[private.len() - 3..];
        assert!(told.iter().all(|l| l.chars().count() <= 80), "{told:?}");
        let plain = explain("1", &rows, None);
        assert!(plain[0].contains("ran without --oom-explain"), "{plain:?}");
        assert!(
            plain
                .last()
                .unwrap()
                .contains("Next time: sbatch --oom-explain")
        );
    }

    #[test]
    fn a_killed_job_is_explained_with_what_is_not_known() {
        let rows = parse(KILLED);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].req_bytes, Some(200 << 20));
        let text = explain("1", &rows, SlurmRelease::parse("22.05.8")).join("\n");
        assert!(text.contains("State OUT_OF_MEMORY"), "{text}");
        assert!(text.contains("sacct's MaxRSS (0 KiB) is sampled"), "{text}");
        assert!(text.contains("--mem=400M"), "{text}");
        assert!(text.contains("Not known without a record"), "{text}");
    }

    #[test]
    fn from_24_11_on_max_rss_is_trusted_as_the_peak_and_said_so() {
        let killed = "7|OUT_OF_MEMORY|200M||00:00:01||1|0:125\n\
                      7.batch|OUT_OF_MEMORY||204800K|00:00:01|1|1|0:125\n";
        let text = explain("7", &parse(killed), SlurmRelease::parse("24.11.5")).join("\n");
        assert!(
            text.contains("from Slurm 24.11 on (this is 24.11) it is the kernel's"),
            "{text}"
        );
        assert!(!text.contains("sampled"), "{text}");
        let fine = "8|COMPLETED|200M||00:00:01||1|0:0\n8.batch|COMPLETED||150M|00:00:01|1|1|0:0\n";
        let text = explain("8", &parse(fine), SlurmRelease::parse("26.05.5")).join("\n");
        assert!(
            text.contains("Largest MaxRSS: 150 MiB (on Slurm 26.05,"),
            "{text}"
        );
    }

    #[test]
    fn sizes_as_sacct_prints_them() {
        assert_eq!(parse_bytes("1540K"), Some(1540 << 10));
        assert_eq!(parse_bytes("2.5G"), Some(5 << 29));
        assert_eq!(parse_bytes("0"), Some(0));
        assert_eq!(parse_bytes(""), None);
    }

    #[test]
    fn an_array_resolves_to_its_tasks_raw_ids() {
        // sacct -j 2000 -X -n -P -o JobID,JobIDRaw: the task that kept the array's own id
        // last, tasks still pending as one range.
        let text = "2000_1|2001\n2000_2|2002\n2000_3|2000\n2000_[4-9]|2000\n";
        let ids = parse_job_ids(text);
        let named: Vec<(&str, u32)> = ids.iter().map(|i| (i.id.as_str(), i.raw)).collect();
        assert_eq!(
            named,
            [("2000_1", 2001), ("2000_2", 2002), ("2000_3", 2000)]
        );
        assert_eq!(
            parse_job_ids("77|77\n"),
            [SacctJobId {
                id: "77".into(),
                raw: 77,
                submitted: None
            }]
        );
        assert!(parse_job_ids("").is_empty());
        // Job id 2 given out twice (a reset of Slurm's state): the newest job only.
        let reused = "2_1|3|2026-11-29T08:00:00\n2|2|2026-11-30T10:04:55\n";
        let newest: Vec<String> = parse_job_ids(reused).into_iter().map(|i| i.id).collect();
        assert_eq!(newest, ["2"]);
        let two_plain = "2|2|2026-11-29T08:00:00\n2|2|2026-11-30T10:04:55\n";
        let newest = parse_job_ids(two_plain);
        assert_eq!(newest.len(), 1);
        assert_eq!(newest[0].submitted.as_deref(), Some("2026-11-30T10:04:55"));
        let reused =
            "2|2|2026-11-29T08:00:00\n2_1|3|2026-11-30T10:04:55\n2_2|2|2026-11-30T10:04:55\n";
        let newest: Vec<String> = parse_job_ids(reused).into_iter().map(|i| i.id).collect();
        assert_eq!(newest, ["2_1", "2_2"]);
        assert!(parse_job_ids("garbage\n1|x\n").is_empty());
    }

    #[test]
    fn a_sacct_failure_is_one_line_that_says_what_to_do() {
        let disabled = "sacct: error: Slurm accounting storage is disabled\n";
        assert_eq!(
            failure_summary(disabled),
            "accounting is not set up on this cluster, so sacct knows no past jobs \
             (sacct: error: Slurm accounting storage is disabled)"
        );
        let down = "sacct: error: slurm_persist_conn_open_without_init: failed to open persistent \
                    connection to host:db:6819: Connection refused\n\
                    sacct: error: Sending PersistInit msg: Connection refused\n\
                    sacct: error: Problem talking to the database: Connection refused\n";
        let summary = failure_summary(down);
        assert!(
            summary.starts_with("Slurm's accounting database did not answer"),
            "{summary}"
        );
        assert!(!summary.contains('\n'), "{summary}");
        assert!(summary.contains("(sacct: error: slurm_persist_conn_open_without_init"));
        assert!(summary.len() < 300, "{summary}");
        assert_eq!(failure_summary(""), "sacct failed (sacct: no message)");
    }

    #[test]
    fn an_unknown_job() {
        assert!(explain("99", &[], None)[0].contains("no such job"));
    }
}
