//! Docs that cannot drift (issue 13).
//!
//! Every report quoted in README.md and docs/*.md is a copy of a file that a test generates from
//! real data, and is checked here. A quote is a fenced block right after a marker line:
//!
//! ```text
//! <!-- quote: tests/expected/v1-slurm-22.05/batch-oom.txt -->
//! <!-- quote: tests/expected/evidence-v1/tmpfs.batch.txt lines=1-3 -->   (an excerpt, 1-based)
//! ```
//!
//! A fenced block that looks like a report (a line that starts with `oom-explain:`, or an
//! indented `#SBATCH --mem…`, `srun --mem…` or `cause: …` line as reports print them) and has no
//! marker fails the test: a new quote cannot slip in unchecked.
//!
//! The sources, and what regenerates them (review the diff, then rewrite the quotes):
//! - `tests/expected/<cgroup set>/*.txt`: the cgroup trees of real steps
//!   (`UPDATE_EXPECTED=1 cargo test --test fixtures`);
//! - `tests/expected/evidence-v1/*.txt`: the scenario corpus's evidence records, replayed;
//! - `tests/expected/command/*.txt`: the `oom-explain` command and the plugin's slurmd log line,
//!   on records made from those evidence records;
//! - `docs/oom-explain-plugin.8`: the plugin's manual page, from the key table in src/config.rs.
//!
//! The last three, and every quote: `UPDATE_EXPECTED=1 cargo test --test docs`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use oom_explain::config::{self, Config, KEYS, Values};
use oom_explain::journal;
use oom_explain::options::Mode;
use oom_explain::record::{JobRecord, Origin, StepRecord};
use oom_explain::report::EvidenceRecord;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn updating() -> bool {
    std::env::var_os("UPDATE_EXPECTED").is_some()
}

/// Compares `text` with the committed file at `path` (relative to the repository), or writes it
/// there under UPDATE_EXPECTED. The error names the file.
fn check_generated(path: &str, text: &str) -> Result<(), String> {
    let file = root().join(path);
    if updating() {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        if std::fs::read_to_string(&file).ok().as_deref() != Some(text) {
            std::fs::write(&file, text).unwrap();
        }
        return Ok(());
    }
    match std::fs::read_to_string(&file) {
        Ok(committed) if committed == text => Ok(()),
        Ok(committed) => Err(format!(
            "{path} is out of date (UPDATE_EXPECTED=1 cargo test --test docs):\n{}",
            first_difference(&committed, text)
        )),
        Err(e) => Err(format!(
            "{path}: {e} (UPDATE_EXPECTED=1 cargo test --test docs)"
        )),
    }
}

fn first_difference(old: &str, new: &str) -> String {
    let (old, new): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let at = old
        .iter()
        .zip(&new)
        .position(|(a, b)| a != b)
        .unwrap_or(old.len().min(new.len()));
    format!(
        "  line {}: {:?}\n     now: {:?}",
        at + 1,
        old.get(at).copied().unwrap_or("(end)"),
        new.get(at).copied().unwrap_or("(end)")
    )
}

// ---------------------------------------------------------------------------------------------
// The generated sources.

/// The scenario corpus's evidence records (tests/fixtures/evidence/v1), each as the plugin wrote
/// it on the test cluster. They were captured before the plugin recorded the node's memory, which
/// the plugin reads from /proc/meminfo at the step's end: the test node's (tests/fixtures/node)
/// stands in for it, as it was the node they ran on.
fn evidence_records() -> Vec<(String, EvidenceRecord)> {
    let node_memory = oom_explain::step::node_memory(&root().join("tests/fixtures/node"))
        .expect("tests/fixtures/node/proc/meminfo");
    let dir = root().join("tests/fixtures/evidence/v1");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/evidence/v1")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let mut record = EvidenceRecord::from_json(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            record.context.node_memory.get_or_insert(node_memory);
            (name, record)
        })
        .collect()
}

fn evidence_record(name: &str) -> EvidenceRecord {
    evidence_records()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no evidence record {name}"))
        .1
}

/// What each step's stderr got (with `--oom-explain=always`, so a step that went well shows its
/// one-line summary): what it was told while it ran (as recorded), then the report.
fn evidence_reports() -> Vec<(String, String)> {
    evidence_records()
        .into_iter()
        .map(|(name, r)| {
            let report = r.analyse(&Config::default());
            let told = r.evidence.series.iter().flat_map(|s| &s.notices);
            let lines: Vec<String> = told
                .flat_map(|n| oom_explain::render::warning::lines(n, r.context.id))
                .chain(report.lines(&r.context, Mode::Always).unwrap())
                .collect();
            (
                format!("tests/expected/evidence-v1/{name}.txt"),
                lines.join("\n") + "\n",
            )
        })
        .collect()
}

/// The step record the plugin leaves for an evidence record, as `job` of `origin`.
fn step_record(name: &str, job: u32, origin: &Origin) -> StepRecord {
    let mut evidence = evidence_record(name);
    evidence.context.id.job = job;
    let report = evidence.analyse(&Config::default());
    let text = report.text(&evidence.context);
    StepRecord::new(
        &report,
        &evidence.context,
        origin.clone(),
        None,
        true,
        1_795_000_000,
        text,
    )
}

/// Real output of `sacct -j 1 -P -n -o JobID,State,ReqMem,MaxRSS,Elapsed,NTasks,NNodes,ExitCode`
/// for an OOM-killed job on the test cluster (Slurm 22.05.8 with slurmdbd, 2026-11-22), as
/// src/sacct.rs's tests hold it.
const SACCT_KILLED: &str = "1|OUT_OF_MEMORY|200M||00:00:00||1|0:125\n\
                            1.batch|OUT_OF_MEMORY||0|00:00:00|1|1|0:125\n";

/// Runs the built `oom-explain` with `args`, where `sacct` prints [`SACCT_KILLED`] (and
/// `sacct --version` the test cluster's release) and `scontrol show config` says users may see
/// each other's jobs, so that the output is the same as root or not. Its standard output.
fn command(args: &[&str], tmp: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let bin = tmp.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(tmp.join("sacct.out"), SACCT_KILLED).unwrap();
    // The command first asks which jobs an id names (`-o JobID,JobIDRaw,Submit`: job 1 is itself).
    let sacct = format!(
        "#!/bin/sh\ncase \"$*\" in --version) echo 'slurm 22.05.8' ;; *JobIDRaw*) echo '1|1' ;; \
         *) cat '{}' ;; esac\n",
        tmp.join("sacct.out").display()
    );
    let scontrol = "#!/bin/sh\necho 'PrivateData = none'\necho 'SlurmUser = slurm(64030)'\n";
    for (name, script) in [("sacct", sacct.as_str()), ("scontrol", scontrol)] {
        std::fs::write(bin.join(name), script).unwrap();
        std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_oom-explain"))
        .args(args)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env_remove("OOM_EXPLAIN_LOG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oom-explain {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What the command and the job epilog print, on records made from the evidence records.
fn command_outputs() -> Vec<(String, String)> {
    let tmp = tempfile::tempdir().unwrap();
    let (spool, log) = (tmp.path().join("spool"), tmp.path().join("log/jobs.jsonl"));
    let user = Origin {
        node: "node1".into(),
        user: Some("oomtest".into()),
        uid: Some(1001),
        partition: Some("debug".into()),
    };
    // Job 4: the other-step scenario's three steps (two srun lines at once, and the script).
    for name in ["other-step.0", "other-step.1", "other-step.batch"] {
        journal::spool_step(&spool, &step_record(name, 4, &user)).unwrap();
    }
    let log_at = journal::JobLog::File {
        path: &log,
        mode: 0o644,
    };
    journal::epilog(&spool, log_at, 4, &user, |_| false).unwrap();
    let from_records = command(&["--log", log.to_str().unwrap(), "4"], tmp.path());
    // Job 1: no record anywhere, so sacct is asked.
    let empty = tmp.path().join("no-records");
    std::fs::create_dir(&empty).unwrap();
    let from_sacct = command(&["--log", empty.to_str().unwrap(), "1"], tmp.path());

    // The job epilog's line in slurmd's log, for the under-allocation scenario's job as the
    // demo (tests/cluster/demo.sh) runs it: job 1 on the lab's node.
    let demo = Origin {
        node: "localhost".into(),
        ..user.clone()
    };
    let job = JobRecord::merge(vec![step_record("under-allocation.batch", 1, &demo)], false)
        .expect("one step");
    let epilog_line = format!(
        "{}{}\n",
        oom_explain::spank::log::PREFIX,
        oom_explain::record::job_summary(&job)
    );
    vec![
        (
            "tests/expected/command/explain-from-records.txt".into(),
            from_records,
        ),
        (
            "tests/expected/command/explain-from-sacct.txt".into(),
            from_sacct,
        ),
        (
            "tests/expected/command/epilog-log-line.txt".into(),
            epilog_line,
        ),
    ]
}

/// Generates (or, under UPDATE_EXPECTED, writes) every source this test owns, once per run:
/// the quotes are checked against the files only after that.
fn generated() -> &'static Vec<String> {
    static ERRORS: OnceLock<Vec<String>> = OnceLock::new();
    ERRORS.get_or_init(|| {
        let mut all = evidence_reports();
        all.extend(command_outputs());
        all.push(("docs/oom-explain-plugin.8".into(), plugin_man_page()));
        all.iter()
            .filter_map(|(path, text)| check_generated(path, text).err())
            .collect()
    })
}

#[test]
fn the_generated_reports_and_the_manual_page_are_up_to_date() {
    let errors = generated();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// The quotes.

/// What a marker quotes: a source, whole or the lines `a` to `b` (1-based, inclusive).
struct Quote {
    path: String,
    lines: Option<(usize, usize)>,
}

/// `<!-- quote: PATH [lines=A-B] -->` (None: not a marker).
fn marker(line: &str) -> Option<Result<Quote, String>> {
    let inner = line
        .trim()
        .strip_prefix("<!--")?
        .strip_suffix("-->")?
        .trim()
        .strip_prefix("quote:")?;
    let mut words = inner.split_whitespace();
    let Some(path) = words.next() else {
        return Some(Err("a quote marker without a path".into()));
    };
    let mut lines = None;
    for word in words {
        let range = word.strip_prefix("lines=").and_then(|r| {
            let (a, b) = r.split_once('-')?;
            let (a, b) = (a.parse().ok()?, b.parse().ok()?);
            (1 <= a && a <= b).then_some((a, b))
        });
        match range {
            Some(r) => lines = Some(r),
            None => return Some(Err(format!("{word:?}: expected lines=A-B"))),
        }
    }
    Some(Ok(Quote {
        path: path.to_owned(),
        lines,
    }))
}

/// Whether a fenced block's lines look like a report the plugin or the command printed.
fn looks_like_a_report(body: &[&str]) -> bool {
    body.iter().any(|l| {
        let text = l.trim_start();
        let indented = text.len() < l.len();
        l.starts_with("oom-explain:")
            || (indented
                && (text.starts_with("#SBATCH --mem")
                    || text.starts_with("srun --mem")
                    || text.starts_with("cause: ")))
    })
}

/// The source's lines, or the excerpt's.
fn quoted_lines(
    text: &str,
    lines: Option<(usize, usize)>,
    path: &str,
) -> Result<Vec<String>, String> {
    let all: Vec<String> = text.lines().map(str::to_owned).collect();
    match lines {
        None => Ok(all),
        Some((a, b)) if b <= all.len() => Ok(all[a - 1..b].to_vec()),
        Some((a, b)) => Err(format!("{path} has {} lines, not {a}-{b}", all.len())),
    }
}

/// A fence that opens a block (```` ``` ```` or `~~~`, with an info string or not): its
/// indentation and its three characters.
fn opening_fence(line: &str) -> Option<(usize, &'static str)> {
    let t = line.trim_start();
    let fence = ["```", "~~~"].into_iter().find(|f| t.starts_with(f))?;
    Some((line.len() - t.len(), fence))
}

/// Checks one Markdown file's quotes. `source` reads a source by its path. Returns what is wrong
/// and the text with every quote rewritten from its source.
fn check_doc(
    doc: &str,
    text: &str,
    source: impl Fn(&str) -> Result<String, String>,
) -> (Vec<String>, String) {
    let lines: Vec<&str> = text.lines().collect();
    let mut errors = Vec::new();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let quote = marker(line);
        if let Some(Err(e)) = &quote {
            errors.push(format!("{doc}:{}: {e}", i + 1));
        }
        let fence_at = if quote.is_some() { i + 1 } else { i };
        let Some((indent, fence)) = lines.get(fence_at).and_then(|l| opening_fence(l)) else {
            if quote.is_some() {
                errors.push(format!(
                    "{doc}:{}: a quote marker must be followed at once by a fenced block",
                    i + 1
                ));
            }
            out.push(line.to_owned());
            i += 1;
            continue;
        };
        // The block: from the opening fence to the closing one (or the end of the file).
        let close = (fence_at + 1..lines.len())
            .find(|&j| lines[j].trim() == fence)
            .unwrap_or(lines.len());
        let body: Vec<&str> = lines[fence_at + 1..close].to_vec();
        let unindented: Vec<&str> = body
            .iter()
            .map(|l| {
                l.get(indent..)
                    .filter(|_| l.len() >= indent)
                    .unwrap_or(l.trim_start())
            })
            .collect();
        if quote.is_some() {
            out.push(line.to_owned());
        }
        out.push(lines[fence_at].to_owned());
        let fresh = match &quote {
            Some(Ok(Quote { path, lines: range })) => {
                match source(path).and_then(|t| quoted_lines(&t, *range, path)) {
                    Ok(want) => {
                        if unindented != want {
                            errors.push(format!(
                                "{doc}:{}: the quote of {path} differs from it \
                                 (UPDATE_EXPECTED=1 cargo test --test docs rewrites it):\n{}",
                                fence_at + 1,
                                first_difference(&unindented.join("\n"), &want.join("\n"))
                            ));
                        }
                        Some(want)
                    }
                    Err(e) => {
                        errors.push(format!("{doc}:{}: {e}", i + 1));
                        None
                    }
                }
            }
            Some(Err(_)) => None,
            None => {
                if looks_like_a_report(&unindented) {
                    errors.push(format!(
                        "{doc}:{}: this block looks like a report but quotes no source: put \
                         <!-- quote: tests/expected/… --> on the line before it",
                        fence_at + 1
                    ));
                }
                None
            }
        };
        match fresh {
            Some(want) => out.extend(want.iter().map(|l| match l.is_empty() {
                true => String::new(),
                false => format!("{}{l}", " ".repeat(indent)),
            })),
            None => out.extend(body.iter().map(|l| l.to_string())),
        }
        if close < lines.len() {
            out.push(lines[close].to_owned());
        }
        i = close + 1;
    }
    let mut updated = out.join("\n");
    if text.ends_with('\n') {
        updated.push('\n');
    }
    (errors, updated)
}

/// README.md and docs/*.md.
fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

#[test]
fn every_quoted_report_is_its_source() {
    // Under UPDATE_EXPECTED the sources are written first.
    let _ = generated();
    let read = |path: &str| {
        if path.starts_with('/') || path.split('/').any(|p| p == "..") {
            return Err(format!("{path}: a quote names a file of this repository"));
        }
        std::fs::read_to_string(root().join(path)).map_err(|e| format!("{path}: {e}"))
    };
    let mut errors = Vec::new();
    let mut quotes = 0;
    for file in markdown_files() {
        let doc = file.strip_prefix(root()).unwrap().display().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        quotes += text.lines().filter(|l| marker(l).is_some()).count();
        let (wrong, updated) = check_doc(&doc, &text, read);
        if updating() && updated != text {
            std::fs::write(&file, &updated).unwrap();
        } else {
            errors.extend(wrong);
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert!(
        quotes >= 10,
        "only {quotes} quotes found: is the marker still read?"
    );
}

#[test]
fn a_report_without_its_source_is_refused_and_a_quote_is_rewritten() {
    let source = |path: &str| match path {
        "tests/expected/x.txt" => Ok("oom-explain: Your job…\n      #SBATCH --mem=400M\n".into()),
        _ => Err(format!("{path}: not found")),
    };
    let unmarked = "Text.\n\n```\noom-explain: Your job…\n```\n";
    let (errors, _) = check_doc("d.md", unmarked, source);
    assert!(
        errors[0].starts_with("d.md:3: this block looks like a report"),
        "{errors:?}"
    );
    // As the report indents it, even without its first line.
    let (errors, _) = check_doc(
        "d.md",
        "```\n  What to do:\n      #SBATCH --mem=4G\n```\n",
        source,
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    // A job script is not a report.
    let script = "```bash\n#!/bin/bash\n#SBATCH --mem=4G\nsrun --mem=2G prog\n```\n";
    assert!(check_doc("d.md", script, source).0.is_empty());

    let stale = "<!-- quote: tests/expected/x.txt -->\n```\noom-explain: old\n```\nAfter.\n";
    let (errors, updated) = check_doc("d.md", stale, source);
    assert!(
        errors[0].contains("the quote of tests/expected/x.txt differs"),
        "{errors:?}"
    );
    assert_eq!(
        updated,
        "<!-- quote: tests/expected/x.txt -->\n```\noom-explain: Your job…\n      \
         #SBATCH --mem=400M\n```\nAfter.\n"
    );
    assert!(check_doc("d.md", &updated, source).0.is_empty());
    // An excerpt, in an indented block (a list item).
    let excerpt = "1. Step:\n   <!-- quote: tests/expected/x.txt lines=2-2 -->\n   ```\n         \
                   #SBATCH --mem=400M\n   ```\n";
    assert!(check_doc("d.md", excerpt, source).0.is_empty());
    // A marker must name a source and sit right above its block.
    for bad in [
        "<!-- quote: tests/expected/missing.txt -->\n```\nx\n```\n",
        "<!-- quote: tests/expected/x.txt -->\n\n```\nx\n```\n",
        "<!-- quote: tests/expected/x.txt lines=3-9 -->\n```\nx\n```\n",
    ] {
        assert!(!check_doc("d.md", bad, source).0.is_empty(), "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// The plugin's manual page, and plugstack.conf.example.

/// Text for roff: backslashes and hyphens escaped, no line starting with a control character.
fn roff(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

fn roff_line(text: &str) -> String {
    let line = roff(text);
    match line.starts_with('.') || line.starts_with('\'') {
        true => format!("\\&{line}"),
        false => line,
    }
}

fn values_text(values: Values) -> String {
    match values {
        Values::Whole { unit: "%", .. } => format!("{} (percent)", values.expected()),
        Values::Whole { unit, .. } => format!("{} ({unit})", values.expected()),
        Values::OneOf(_) => format!("one of {}", values.expected()),
        Values::Time => "a time from 1s to 366d: seconds (600), or a number with s, m, h or d \
                         (90s, 10m, 2h, 1d)"
            .into(),
        Values::Text => "any text".into(),
        _ => values.expected(),
    }
}

/// What each mode of the user's option gives.
fn mode_text(mode: Mode) -> &'static str {
    match mode {
        Mode::Auto => {
            "A report when a process was killed for lack of memory, when the step came within \
             near_miss percent of its limit, or when the job used less than over_request percent \
             of what it asked for. A bare --oom-explain is this mode."
        }
        Mode::Oom => "A report only when a process was killed for lack of memory.",
        Mode::Always => "As auto, plus a one-line summary when all went well.",
        Mode::Off => "No report: turns a site's default_mode off for one job.",
    }
}

/// docs/oom-explain-plugin.8, from [`KEYS`] and the user's modes.
fn plugin_man_page() -> String {
    let mut p = vec![
        format!(
            ".TH OOM\\-EXPLAIN\\-PLUGIN 8 \"\" \"oom\\-explain {}\" \"Slurm SPANK plugin\"",
            roff(env!("CARGO_PKG_VERSION"))
        ),
        ".\\\" Generated by tests/docs.rs from the key table in src/config.rs: do not edit.".into(),
        ".\\\" Regenerate with: UPDATE_EXPECTED=1 cargo test --test docs".into(),
        ".nh".into(),
        ".ad l".into(),
        ".SH NAME".into(),
        "oom\\-explain\\-plugin \\- tell Slurm users why their job ran out of memory".into(),
        ".SH SYNOPSIS".into(),
        "In \\fIplugstack.conf\\fR, or a file it includes:".into(),
        ".PP".into(),
        ".B optional".into(),
        "\\fIPLUGIN_DIR\\fB/oom_explain.so\\fR [\\fIkey\\fB=\\fIvalue\\fR ...]".into(),
        ".SH DESCRIPTION".into(),
    ];
    let paragraphs = [
        "oom_explain.so is a Slurm SPANK plugin. For each job step it watches, it samples the \
         step's memory cgroup while the step runs, reads it and the kernel's out-of-memory report \
         as the step ends, and appends a short, plain-language report to the step's standard \
         error (the job's slurm-JOBID.err, or its .out where the job sets no --error): what \
         happened, the evidence, what to do, and the #SBATCH --mem= line to use next time. Its \
         last line, cause: ID, names the cause with a stable keyword.",
        "Each watched step leaves a record; the plugin's job epilog merges a job's records on the \
         node into one line of the node's job log, which oom-explain(1) reads to explain a past \
         job or to summarise the cluster's memory failures.",
        "The plugin never fails or changes a job, and its work while a job runs is bounded \
         (docs/performance.md); with accounting_field=AdminComment a step's end may wait up to \
         3 s for slurmctld; with SystemComment the job epilog may hold the node's release (not \
         the job) for up to about 17 s. An unknown key or a bad value on its \
         plugstack.conf line is logged in slurmd's log and the plugin steps aside; jobs run as \
         without it. oom-explain check-config validates the line with the plugin's own parser.",
        "The same plugstack.conf line must be read by slurmd on compute nodes and by sbatch, srun \
         and salloc on login nodes, which register the user's option; the .so must be readable \
         by users. With optional, Slurm runs jobs without the plugin if it cannot be loaded.",
    ];
    for (i, text) in paragraphs.iter().enumerate() {
        if i > 0 {
            p.push(".PP".into());
        }
        p.push(roff_line(text));
    }
    p.push(".SS The user's option".into());
    p.push(roff_line(
        "Users opt in with --oom-explain[=MODE], on the command line of sbatch, srun or salloc \
         or in a #SBATCH line; srun steps inside a batch job inherit it. A wrong MODE is refused \
         at once by sbatch. Without the option a step gets the site's default_mode. sbatch, \
         srun and salloc also take the option from the environment variable \
         SLURM_SPANK__SLURM_SPANK_OPTION_oom_explain_oom_explain=MODE (Slurm's name for a \
         plugin's option), which clusters without the plugin ignore, where a #SBATCH line would \
         be refused. MODE is one of:",
    ));
    for mode in [Mode::Auto, Mode::Oom, Mode::Always, Mode::Off] {
        p.push(".TP".into());
        p.push(format!(".B {}", roff(mode.name())));
        p.push(roff_line(mode_text(mode)));
    }
    p.push(".PP".into());
    p.push(roff_line(&format!(
        "While a step runs, it is warned in its stderr when the memory it holds climbs steadily \
         towards its limit (see warn_ahead). A user who wants only the report at the end adds \
         ,{0} to the MODE (--oom-explain=oom,{0}), or gives --oom-explain={0} (auto, without \
         warnings).",
        oom_explain::options::NO_WARNINGS
    )));
    p.push(".SH OPTIONS".into());
    p.push(roff_line(
        "Arguments after the plugin's path, as key=value; all optional. The same keys may be \
         given in the TOML file that config= names.",
    ));
    for key in KEYS {
        p.push(".TP".into());
        p.push(format!("\\fB{}\\fR=\\fIvalue\\fR", roff(key.name)));
        p.push(roff_line(key.description));
        p.push(roff_line(&format!(
            "Values: {}. Default: {}.",
            values_text(key.values),
            key.default.unwrap_or("unset")
        )));
    }
    p.push(".SH FILES".into());
    for (path, what) in [
        (
            "/etc/slurm/plugstack.conf.d/oom-explain.conf".to_owned(),
            "The plugstack.conf line that loads the plugin, as packages install it (read \
             through include /etc/slurm/plugstack.conf.d/*.conf in plugstack.conf).",
        ),
        (
            format!("{}/", config::DEFAULT_SPOOL_DIR),
            "Step records until the job epilog merges them (spool_dir).",
        ),
        (
            config::DEFAULT_JOB_LOG.to_owned(),
            "The node's job log: one JSON line per job and node (job_log).",
        ),
    ] {
        p.push(".TP".into());
        p.push(format!(".I {}", roff(&path)));
        p.push(roff_line(what));
    }
    p.push(".SH SEE ALSO".into());
    p.push(".BR oom\\-explain (1),".into());
    p.push(".BR sbatch (1),".into());
    p.push(".BR spank (8)".into());
    p.join("\n") + "\n"
}

/// The keys plugstack.conf.example documents (`#   key=value  what`), and the values it shows.
fn example_keys() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join("plugstack.conf.example")).unwrap();
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix('#')?;
            let rest = rest.strip_prefix(' ')?.trim_start();
            let (key, value) = rest.split_whitespace().next()?.split_once('=')?;
            key.chars()
                .all(|c| c.is_ascii_lowercase() || c == '_')
                .then(|| (key.to_owned(), value.to_owned()))
        })
        .collect()
}

#[test]
fn plugstack_conf_example_documents_exactly_the_keys_of_the_table() {
    let documented = example_keys();
    let mut names: Vec<&str> = documented.iter().map(|(k, _)| k.as_str()).collect();
    names.sort();
    let mut table: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
    table.sort();
    assert_eq!(
        names, table,
        "plugstack.conf.example against src/config.rs's KEYS"
    );
    assert!(!names.contains(&"fault"), "fault= is for test builds only");
    // The values it shows are taken (config= would read its file).
    for (key, value) in documented.iter().filter(|(k, _)| k != "config") {
        let value = value.replace("https://...", "https://hpc.example.org/oom");
        Config::from_args(&[format!("{key}={value}")])
            .unwrap_or_else(|e| panic!("plugstack.conf.example: {key}={value}: {e}"));
    }
    // Its line loads the plugin with arguments the plugin takes.
    let text = std::fs::read_to_string(root().join("plugstack.conf.example")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("optional ") || l.starts_with("required "))
        .expect("a line that loads the plugin");
    let args: Vec<&str> = line.split_whitespace().skip(2).collect();
    Config::from_args(&args).unwrap_or_else(|e| panic!("{line}: {e}"));
    // The ranges it states are the parser's.
    for l in text.lines() {
        let Some((key, _)) = l
            .strip_prefix("#   ")
            .and_then(|r| r.split_whitespace().next())
            .and_then(|w| w.split_once('='))
        else {
            continue;
        };
        if let (Some(Values::Whole { low, high, .. }), Some(range)) = (
            config::key(key).map(|k| k.values),
            l.rsplit_once('(').and_then(|(_, r)| r.strip_suffix(')')),
        ) {
            assert_eq!(
                range,
                format!("{low}-{high}"),
                "plugstack.conf.example: {l}"
            );
        }
    }
}

/// docs/admins.md's table of arguments (`| \`key\` | default | meaning |` under "## Arguments")
/// lists exactly the keys of the table in the code, each with the code's default.
#[test]
fn the_admins_guide_lists_every_key_with_its_default() {
    let text = std::fs::read_to_string(root().join("docs/admins.md")).unwrap();
    let section = text
        .split("\n## Arguments\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("docs/admins.md has a section ## Arguments");
    let mut rows: Vec<(String, String)> = section
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let key = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((key.to_owned(), cells.get(2)?.trim_matches('`').to_owned()))
        })
        .collect();
    rows.sort();
    let mut keys: Vec<(String, String)> = KEYS
        .iter()
        .map(|k| (k.name.to_owned(), k.default.unwrap_or("(none)").to_owned()))
        .collect();
    keys.sort();
    assert_eq!(
        rows, keys,
        "docs/admins.md's ## Arguments table against config::KEYS"
    );
}
