//! The plugin's own settings: `key=value` arguments on its plugstack.conf line, optionally a
//! TOML file named by `config=` with the same keys (the arguments override the file).
//!
//! A wrong key or value is an error naming it: the caller logs it and the plugin steps aside, so
//! a typo never changes what jobs do.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::accounting::Field;
use crate::options::{Choice, InvalidMode, Mode};
use crate::size;
use crate::syslog::{self, Syslog};

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Headroom added to a measured peak in a recommendation, in percent.
    pub headroom_percent: u32,
    /// A step that finished above this share of its limit gets a near-miss note.
    pub near_miss_percent: u32,
    /// A job that used less than this share of its request is over-requesting...
    pub over_request_percent: u32,
    /// ...if at least this much of the request went unused (MiB).
    pub over_request_min_unused_mib: u64,
    /// Where to leave one JSON evidence record per analysed step (root-owned, admin-only).
    pub evidence_dir: Option<PathBuf>,
    /// The site: the most memory a job can get on one node here (bytes)...
    pub max_mem: Option<u64>,
    /// ...the partition to use beyond that...
    pub highmem_partition: Option<String>,
    /// ...who to ask, and where to read more.
    pub support: Option<String>,
    pub help_url: Option<String>,
    /// The report for jobs that did not give `--oom-explain` (`off`: none). A site can give
    /// every job the report on an OOM kill (`oom`); users can still say `--oom-explain=off`.
    pub default_mode: Mode,
    /// Warnings while a step runs: when the limit is expected within this time (seconds;
    /// `None`: no warnings)...
    pub warn_ahead_s: Option<u64>,
    /// ...and the step holds at least this share of its limit (percent).
    pub warn_above_percent: u32,
    /// Which steps leave a record for admins and for the `oom-explain` command.
    pub records: Records,
    /// Where step records wait for the job epilog (root-owned; created if missing).
    pub spool_dir: PathBuf,
    /// The node's job log: one JSON line per job (its directory root-owned; created if missing).
    pub job_log: PathBuf,
    /// Who may read the job log: its file mode (0600 admins only, the default; 0644 everyone,
    /// for sites whose users may see each other's jobs).
    pub job_log_mode: u32,
    /// A job's records whose own epilog never ran are taken by another job's epilog only when
    /// the job's cgroup is gone and its last record is at least this old (seconds): between two
    /// steps a running job may have no cgroup on the node.
    pub leftover_after_s: u64,
    /// The node's counters for Prometheus (node_exporter's textfile collector), if wanted.
    pub metrics_file: Option<PathBuf>,
    /// The job lines go to syslog instead of `job_log` (`job_log=syslog`), with these.
    pub job_log_to_syslog: bool,
    pub syslog: Syslog,
    /// The job field in Slurm's accounting where the epilog also leaves the job lines worth
    /// telling (`None`: off, the default).
    pub accounting_field: Option<Field>,
    /// Where sacct and sacctmgr are (`None`: `bin` beside slurmstepd's `sbin`).
    pub slurm_bin_dir: Option<PathBuf>,
    /// Store in the accounting field even where slurm.conf keeps jobs private: slurmdbd shows
    /// every change of a job's field to every user (its transaction log).
    pub accounting_with_private_data: bool,
    /// Kill reports whose need one run cannot tell point to `oom-explain suggest` (it reads
    /// earlier runs from Slurm's accounting: off on a cluster without slurmdbd).
    pub suggest_hint: bool,
}

/// How a step is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watching {
    /// Not at all.
    No,
    /// Only its record (`records=all`): the end-of-step read, no sampler, nothing to its stderr.
    RecordOnly,
    /// With a report as chosen (and a record, unless `records=off`).
    Report(Choice),
}

/// Which steps leave a step record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Records {
    /// None at all.
    Off,
    /// Steps whose user gave `--oom-explain` (the default).
    OptedIn,
    /// Every step: for steps that did not opt in, only the cheap end-of-step read (no sampler,
    /// nothing written to the job's stderr).
    All,
}

impl Records {
    pub fn name(self) -> &'static str {
        match self {
            Records::Off => "off",
            Records::OptedIn => "opted-in",
            Records::All => "all",
        }
    }
}

pub const DEFAULT_SPOOL_DIR: &str = "/var/spool/oom-explain";
pub const DEFAULT_JOB_LOG: &str = "/var/log/oom-explain/jobs.jsonl";

impl Default for Config {
    fn default() -> Self {
        Config {
            headroom_percent: 20,
            near_miss_percent: 90,
            over_request_percent: 50,
            over_request_min_unused_mib: 1024,
            evidence_dir: None,
            metrics_file: None,
            job_log_to_syslog: false,
            syslog: Syslog::default(),
            accounting_field: None,
            slurm_bin_dir: None,
            accounting_with_private_data: false,
            suggest_hint: true,
            max_mem: None,
            highmem_partition: None,
            support: None,
            help_url: None,
            default_mode: Mode::Off,
            warn_ahead_s: Some(3600),
            warn_above_percent: 50,
            records: Records::OptedIn,
            spool_dir: DEFAULT_SPOOL_DIR.into(),
            job_log: DEFAULT_JOB_LOG.into(),
            job_log_mode: 0o600,
            leftover_after_s: 600,
        }
    }
}

/// What a key's value may be: the parser's refusals and the manual page say it the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// A whole number from `low` to `high` (a `%` after it is allowed), counted in `unit`.
    Whole {
        low: u64,
        high: u64,
        unit: &'static str,
    },
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A size as Slurm writes them (`256G`, `512000M`).
    Size,
    /// A time: seconds, or a number with s, m, h or d.
    Time,
    /// A time, or this word.
    TimeOr(&'static str),
    /// An absolute path.
    Path,
    /// An absolute path, or this word.
    PathOr(&'static str),
    /// An absolute path whose name ends so.
    PathEnding(&'static str),
    /// A word of letters, digits, `.`, `_` and `-`, at most 32 (a syslog tag).
    Word,
    /// Any text without control characters.
    Text,
}

impl Values {
    /// What is expected, as the refusal of a bad value says it ("expected …").
    pub fn expected(self) -> String {
        match self {
            Values::Whole { low, high, .. } => format!("a whole number from {low} to {high}"),
            Values::OneOf(words) => match words.split_last() {
                Some((last, [])) => (*last).to_owned(),
                Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                None => String::new(),
            },
            Values::Size => "a size such as 256G or 512000M".into(),
            Values::Time => "a time from 1s to 366d, such as 600, 10m or 2h".into(),
            Values::TimeOr(word) => {
                format!("a time from 1s to 366d, such as 600, 10m or 2h, or {word}")
            }
            Values::Path => "an absolute path".into(),
            Values::PathOr(word) => format!("an absolute path, or {word}"),
            Values::PathEnding(end) => format!("an absolute path ending in {end}"),
            Values::Word => "a word of letters, digits, ., _ or -, at most 32".into(),
            Values::Text => "some text".into(),
        }
    }
}

/// One key of the plugin's plugstack.conf arguments (and of the TOML file `config=` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub name: &'static str,
    pub values: Values,
    /// The value when the key is not given, written as it would be given (`None`: unset).
    pub default: Option<&'static str>,
    /// One line for admins (the manual page, docs/oom-explain-plugin.8).
    pub description: &'static str,
}

/// Every key a site may set, in the order the refusal of an unknown key lists them. The parser
/// ([`Config::set`]) takes its ranges and its refusals' wording from here, the manual page
/// docs/oom-explain-plugin.8 is generated from it (tests/docs.rs), and plugstack.conf.example
/// must document exactly these keys. (The test builds' `fault=` is not a site's key.)
pub const KEYS: &[Key] = &[
    Key {
        name: "headroom",
        values: Values::Whole {
            low: 0,
            high: 200,
            unit: "%",
        },
        default: Some("20"),
        description: "Percent added to a measured peak in a recommendation.",
    },
    Key {
        name: "near_miss",
        values: Values::Whole {
            low: 50,
            high: 100,
            unit: "%",
        },
        default: Some("90"),
        description: "A step that finished above this percent of its limit gets a near-miss \
                      report.",
    },
    Key {
        name: "over_request",
        values: Values::Whole {
            low: 1,
            high: 100,
            unit: "%",
        },
        default: Some("50"),
        description: "A job that used less than this percent of its request, and left at least \
                      over_request_min_unused unused, is over-requesting.",
    },
    Key {
        name: "over_request_min_unused",
        values: Values::Whole {
            low: 0,
            high: 1 << 30,
            unit: "MiB",
        },
        default: Some("1024"),
        description: "The least memory (MiB) a job must leave unused to be called over-requesting.",
    },
    Key {
        name: "evidence_dir",
        values: Values::Path,
        default: None,
        description: "Write everything each analysed step's report was made from here, one JSON \
                      file per step, for debugging the classifier (the folder must exist, owned \
                      by root and writable by no one else).",
    },
    Key {
        name: "max_mem",
        values: Values::Size,
        default: None,
        description: "The most memory a job can get on one node here (unset: the node's own \
                      memory); a larger recommendation points to highmem_partition and support.",
    },
    Key {
        name: "highmem_partition",
        values: Values::Text,
        default: None,
        description: "The partition a recommendation above max_mem points to.",
    },
    Key {
        name: "support",
        values: Values::Text,
        default: None,
        description: "Whom reports tell users to ask (unset: \"your cluster's support\").",
    },
    Key {
        name: "help_url",
        values: Values::Text,
        default: None,
        description: "A page to read more, shown under each report of a problem.",
    },
    Key {
        name: "default_mode",
        values: Values::OneOf(&["off", "oom", "auto", "always"]),
        default: Some("off"),
        description: "The report for jobs that did not give --oom-explain; anything but off \
                      watches every step like an opted-in one.",
    },
    Key {
        name: "warn_ahead",
        values: Values::TimeOr("off"),
        default: Some("1h"),
        description: "Warn an opted-in step in its stderr while it runs when the memory it holds \
                      (file cache left out) climbs steadily towards its limit and, at that \
                      rate, reaches it within this time (at most 1h: a longer time counts as \
                      1h); off: no warnings, only the report at the end (users can say \
                      --oom-explain=nowarn).",
    },
    Key {
        name: "warn_above",
        values: Values::Whole {
            low: 1,
            high: 95,
            unit: "%",
        },
        default: Some("50"),
        description: "...and only once the step holds at least this share of its limit (no \
                      line is written within 3 % of the limit: it would cost memory the \
                      step has not got).",
    },
    Key {
        name: "records",
        values: Values::OneOf(&["off", "opted-in", "all"]),
        default: Some("opted-in"),
        description: "Which steps leave a record for admins and the oom-explain command: none, \
                      those given --oom-explain, or all (the others without a report).",
    },
    Key {
        name: "spool_dir",
        values: Values::Path,
        default: Some(DEFAULT_SPOOL_DIR),
        description: "Where step records wait for the job epilog (created root-only if missing).",
    },
    Key {
        name: "job_log",
        values: Values::PathOr("syslog"),
        default: Some(DEFAULT_JOB_LOG),
        description: "The node's job log: one JSON line per job and node, written by the job \
                      epilog; syslog: each line one message to syslog instead (syslog_facility, \
                      syslog_tag), for sites that forward syslog to a central store.",
    },
    Key {
        name: "job_log_mode",
        values: Values::OneOf(&["0600", "0640", "0644"]),
        default: Some("0600"),
        description: "Who may read the job log: admins only, its group too, or everyone.",
    },
    Key {
        name: "syslog_facility",
        values: Values::OneOf(&[
            "user", "daemon", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
            "local7",
        ]),
        default: Some("daemon"),
        description: "The syslog facility of the job lines (job_log=syslog).",
    },
    Key {
        name: "syslog_tag",
        values: Values::Word,
        default: Some("oom-explain"),
        description: "The syslog tag of the job lines (job_log=syslog): letters, digits, ., _ \
                      and -, at most 32.",
    },
    Key {
        name: "syslog_socket",
        values: Values::Path,
        default: Some("/dev/log"),
        description: "The local syslog daemon's socket (job_log=syslog).",
    },
    Key {
        name: "leftover_after",
        values: Values::Time,
        default: Some("10m"),
        description: "Records of a job whose epilog never ran are merged by another job's \
                      epilog once the job's cgroup is gone and they are this old.",
    },
    Key {
        name: "metrics_file",
        values: Values::PathEnding(".prom"),
        default: None,
        description: "A Prometheus textfile (name ending .prom in node_exporter's textfile \
                      folder) where each job epilog adds to the node's counters: job records \
                      by outcome and partition, OOM kills, unused GiB-hours (the folder must \
                      exist, owned by root and writable by no one else).",
    },
    Key {
        name: "accounting_field",
        values: Values::OneOf(&["off", "AdminComment", "SystemComment"]),
        default: Some("off"),
        description: "The job field in Slurm's accounting (slurmdbd) that also gets the job's \
                      line when it has something to say (a kill, a near miss, an \
                      over-request), for oom-explain and its report on any login node. \
                      AdminComment goes through slurmctld at the step's end, while the job \
                      runs (private under PrivateData=jobs; the step's end waits for it, 3 s at \
                      most); SystemComment through slurmdbd in the job epilog. Never replaces \
                      another tool's value: a site whose jobstats uses AdminComment gives this \
                      SystemComment.",
    },
    Key {
        name: "slurm_bin_dir",
        values: Values::Path,
        default: None,
        description: "Where squeue, scontrol, sacct and sacctmgr are, for accounting_field (root's folder; \
                      default: bin beside the sbin of slurmstepd, such as /usr/bin).",
    },
    Key {
        name: "accounting_with_private_data",
        values: Values::OneOf(&["no", "yes"]),
        default: Some("no"),
        description: "Let the job epilog store through slurmdbd (SystemComment, and \
                      AdminComment lines the step's end could not store) even where slurm.conf \
                      has PrivateData=jobs: slurmdbd shows every change it makes to a job's \
                      field, value included, to every user (sacctmgr list transactions), so \
                      those lines would not be private. Without it, such a cluster's epilog \
                      stores nothing and slurmd's log says why.",
    },
    Key {
        name: "suggest_hint",
        values: Values::OneOf(&["yes", "no"]),
        default: Some("yes"),
        description: "Kill reports that can only say \"more than the limit\" point to \
                      `oom-explain suggest JOBID`, which sizes the next run from the job's \
                      earlier runs in Slurm's accounting; no on a cluster without slurmdbd \
                      (there it cannot answer).",
    },
    Key {
        name: "config",
        values: Values::Path,
        default: None,
        description: "A TOML file with any of these keys (key = value), read first; the \
                      arguments on the plugstack.conf line override it.",
    },
];

/// The key named `name` (only keys of [`KEYS`]).
pub fn key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The known keys, for the refusal of an unknown one.
fn known_keys() -> String {
    KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
}

/// The refusal of a bad value for a known key.
fn expected(name: &str, value: &str) -> String {
    let values = key(name).map_or_else(String::new, |k| k.values.expected());
    format!("{name}={value:?}: expected {values}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// A value in the TOML file: numbers may be written bare (`headroom = 30`) or as strings.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Whole(i64),
    Real(f64),
}

impl Scalar {
    fn into_text(self) -> String {
        match self {
            Scalar::Text(s) => s,
            Scalar::Whole(n) => n.to_string(),
            Scalar::Real(x) => x.to_string(),
        }
    }
}

/// The same keys in a TOML file (values may be numbers or strings).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    headroom: Option<Scalar>,
    near_miss: Option<Scalar>,
    over_request: Option<Scalar>,
    over_request_min_unused: Option<Scalar>,
    evidence_dir: Option<String>,
    metrics_file: Option<String>,
    max_mem: Option<Scalar>,
    highmem_partition: Option<String>,
    support: Option<String>,
    help_url: Option<String>,
    default_mode: Option<String>,
    warn_ahead: Option<Scalar>,
    warn_above: Option<Scalar>,
    records: Option<String>,
    spool_dir: Option<String>,
    job_log: Option<String>,
    job_log_mode: Option<Scalar>,
    syslog_facility: Option<String>,
    syslog_tag: Option<String>,
    syslog_socket: Option<String>,
    leftover_after: Option<Scalar>,
    accounting_field: Option<String>,
    slurm_bin_dir: Option<String>,
    accounting_with_private_data: Option<String>,
    suggest_hint: Option<String>,
}

impl Config {
    /// How a step is watched: the user's option (`None`: not given; `Some(None)`: bare) under
    /// the site's `default_mode` and `records`; `--oom-explain=off` turns the default off.
    pub fn watching(&self, option: Option<Option<&str>>) -> Result<Watching, InvalidMode> {
        let asked = match option {
            None => Choice::of(self.default_mode),
            Some(value) => Choice::from_option(value)?,
        };
        Ok(match asked.mode {
            Mode::Off if self.records == Records::All => Watching::RecordOnly,
            Mode::Off => Watching::No,
            _ => Watching::Report(asked),
        })
    }

    /// The site's settings for warnings while a step runs (`None`: off).
    pub fn warnings(&self) -> Option<crate::evidence::forecast::Settings> {
        Some(crate::evidence::forecast::Settings {
            ahead: std::time::Duration::from_secs(self.warn_ahead_s?),
            above_percent: self.warn_above_percent.into(),
        })
    }

    /// Parses the arguments after the plugin's path on its plugstack.conf line; `config=FILE`
    /// reads that TOML file first.
    pub fn from_args<S: AsRef<str>>(args: &[S]) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let pairs = args
            .iter()
            .map(|arg| {
                let arg = arg.as_ref();
                arg.split_once('=').ok_or_else(|| {
                    ConfigError(format!(
                        "plugstack.conf: argument {arg:?} is not key=value (known keys: {})",
                        known_keys()
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some((_, file)) = pairs.iter().find(|(k, _)| *k == "config") {
            // slurmd and slurmstepd run in different folders: a relative path would name a
            // different file in each.
            if !Path::new(file).is_absolute() {
                return Err(ConfigError(format!(
                    "plugstack.conf: {}",
                    expected("config", file)
                )));
            }
            config.read_file(Path::new(file))?;
        }
        for (key, value) in pairs.into_iter().filter(|(k, _)| *k != "config") {
            config
                .set(key, value)
                .map_err(|e| ConfigError(format!("plugstack.conf: {e}")))?;
        }
        Ok(config)
    }

    fn read_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("config={}: {e}", path.display())))?;
        let file: FileConfig = basic_toml::from_str(&text)
            .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        let text_of = Scalar::into_text;
        let entries = [
            ("headroom", file.headroom.map(text_of)),
            ("near_miss", file.near_miss.map(text_of)),
            ("over_request", file.over_request.map(text_of)),
            (
                "over_request_min_unused",
                file.over_request_min_unused.map(text_of),
            ),
            ("evidence_dir", file.evidence_dir),
            ("metrics_file", file.metrics_file),
            ("max_mem", file.max_mem.map(text_of)),
            ("highmem_partition", file.highmem_partition),
            ("support", file.support),
            ("help_url", file.help_url),
            ("default_mode", file.default_mode),
            ("warn_ahead", file.warn_ahead.map(text_of)),
            ("warn_above", file.warn_above.map(text_of)),
            ("records", file.records),
            ("spool_dir", file.spool_dir),
            ("job_log", file.job_log),
            ("job_log_mode", file.job_log_mode.map(text_of)),
            ("syslog_facility", file.syslog_facility),
            ("syslog_tag", file.syslog_tag),
            ("syslog_socket", file.syslog_socket),
            ("leftover_after", file.leftover_after.map(text_of)),
            ("accounting_field", file.accounting_field),
            ("slurm_bin_dir", file.slurm_bin_dir),
            (
                "accounting_with_private_data",
                file.accounting_with_private_data,
            ),
            ("suggest_hint", file.suggest_hint),
        ];
        for (key, value) in entries {
            if let Some(value) = value {
                self.set(key, &value)
                    .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
            }
        }
        Ok(())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let refuse = || expected(key, value);
        // The key's range, from the table.
        let number = || -> Result<u64, String> {
            let Some(Values::Whole { low, high, .. }) = self::key(key).map(|k| k.values) else {
                return Err(refuse());
            };
            value
                .trim_end_matches('%')
                .parse::<u64>()
                .ok()
                .filter(|n| (low..=high).contains(n))
                .ok_or_else(refuse)
        };
        let text = || -> Result<Option<String>, String> {
            let v = value.trim();
            if v.is_empty() || v.chars().any(char::is_control) {
                return Err(refuse());
            }
            Ok(Some(v.to_owned()))
        };
        let absolute = || -> Result<PathBuf, String> {
            if value.starts_with('/') && !value.chars().any(char::is_control) {
                Ok(PathBuf::from(value))
            } else {
                Err(refuse())
            }
        };
        match key {
            "headroom" => self.headroom_percent = number()? as u32,
            "near_miss" => self.near_miss_percent = number()? as u32,
            "over_request" => self.over_request_percent = number()? as u32,
            "over_request_min_unused" => self.over_request_min_unused_mib = number()?,
            "evidence_dir" => self.evidence_dir = Some(absolute()?),
            // node_exporter's textfile collector reads only *.prom.
            "metrics_file" if value.ends_with(".prom") => self.metrics_file = Some(absolute()?),
            "metrics_file" => return Err(refuse()),
            "spool_dir" => self.spool_dir = absolute()?,
            "job_log" if value == "syslog" => self.job_log_to_syslog = true,
            "job_log" => {
                self.job_log = absolute()?;
                self.job_log_to_syslog = false;
            }
            "syslog_facility" => {
                self.syslog.facility = syslog::facility_code(value).ok_or_else(refuse)?
            }
            "syslog_tag" if syslog::valid_tag(value) => self.syslog.tag = value.to_owned(),
            "syslog_tag" => return Err(refuse()),
            "syslog_socket" => self.syslog.socket = absolute()?,
            "records" => {
                self.records = match value {
                    "off" => Records::Off,
                    "opted-in" => Records::OptedIn,
                    "all" => Records::All,
                    _ => return Err(refuse()),
                }
            }
            "max_mem" => {
                let bytes = size::parse_slurm_size_mib(value)
                    .and_then(|mib| mib.checked_mul(1 << 20))
                    .ok_or_else(refuse)?;
                self.max_mem = Some(bytes);
            }
            "default_mode" => self.default_mode = value.parse().map_err(|_| refuse())?,
            "job_log_mode" => {
                self.job_log_mode = match value {
                    "0600" | "600" => 0o600,
                    "0640" | "640" => 0o640,
                    "0644" | "644" => 0o644,
                    _ => return Err(refuse()),
                }
            }
            "leftover_after" => self.leftover_after_s = seconds(value).ok_or_else(refuse)?,
            "warn_ahead" if value == "off" => self.warn_ahead_s = None,
            "warn_ahead" => self.warn_ahead_s = Some(seconds(value).ok_or_else(refuse)?),
            "warn_above" => self.warn_above_percent = number()? as u32,
            "accounting_field" if value.eq_ignore_ascii_case("off") => self.accounting_field = None,
            "accounting_field" => {
                self.accounting_field = Some(Field::parse(value).ok_or_else(refuse)?)
            }
            "slurm_bin_dir" => self.slurm_bin_dir = Some(absolute()?),
            "accounting_with_private_data" => {
                self.accounting_with_private_data = match value {
                    "no" => false,
                    "yes" => true,
                    _ => return Err(refuse()),
                }
            }
            "suggest_hint" => {
                self.suggest_hint = match value {
                    "no" => false,
                    "yes" => true,
                    _ => return Err(refuse()),
                }
            }
            #[cfg(feature = "fault-injection")]
            "fault" => crate::fault::arm(value)?,
            "highmem_partition" => self.highmem_partition = text()?,
            "support" => self.support = text()?,
            "help_url" => self.help_url = text()?,
            _ => {
                return Err(format!(
                    "unknown argument {key:?} (known keys: {})",
                    known_keys()
                ));
            }
        }
        Ok(())
    }
}

/// Seconds from `600`, `90s`, `10m`, `2h` or `1d`: from a second (never 0, which would take a
/// running job's records between two of its steps at once) to a year.
fn seconds(value: &str) -> Option<u64> {
    let (number, unit) = match value.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&value[..i], c),
        _ => (value, 's'),
    };
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => return None,
    };
    number
        .parse::<u64>()
        .ok()?
        .checked_mul(scale)
        .filter(|s| (1..=366 * 86400).contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_arguments() {
        assert_eq!(Config::from_args::<&str>(&[]), Ok(Config::default()));
    }

    #[test]
    fn known_keys() {
        let c = Config::from_args(&[
            "headroom=30",
            "near_miss=85%",
            "max_mem=256G",
            "highmem_partition=bigmem",
        ])
        .unwrap();
        assert_eq!((c.headroom_percent, c.near_miss_percent), (30, 85));
        assert_eq!(c.max_mem, Some(256 << 30));
        assert_eq!(c.highmem_partition.as_deref(), Some("bigmem"));
        let c = Config::from_args(&["records=all", "spool_dir=/run/oom", "job_log=/l/j.jsonl"])
            .unwrap();
        assert_eq!(c.records, Records::All);
        assert_eq!(c.spool_dir, Path::new("/run/oom"));
        assert_eq!(c.job_log, Path::new("/l/j.jsonl"));
        assert!(Config::from_args(&["records=some"]).is_err());
        assert_eq!(
            Config::from_args(&["default_mode=oom"])
                .unwrap()
                .default_mode,
            Mode::Oom
        );
        assert_eq!(Config::default().default_mode, Mode::Off);
        assert!(Config::from_args(&["default_mode=loud"]).is_err());
        assert!(Config::from_args(&["job_log=relative.jsonl"]).is_err());
        let c = Config::from_args(&[
            "job_log=syslog",
            "syslog_facility=local3",
            "syslog_tag=oomx",
        ])
        .unwrap();
        assert!(c.job_log_to_syslog);
        assert_eq!((c.syslog.facility, c.syslog.tag.as_str()), (19, "oomx"));
        assert_eq!(c.syslog.socket, Path::new("/dev/log"));
        for bad in [
            "syslog_facility=local9",
            "syslog_tag=a b",
            "syslog_socket=dev/log",
            "metrics_file=/var/lib/m/oom.txt",
        ] {
            assert!(Config::from_args(&[bad]).is_err(), "{bad}");
        }
        let c = Config::from_args(&["job_log_mode=0644", "leftover_after=10m"]).unwrap();
        assert_eq!((c.job_log_mode, c.leftover_after_s), (0o644, 600));
        assert_eq!(
            Config::from_args(&["leftover_after=45"])
                .unwrap()
                .leftover_after_s,
            45
        );
        for bad in [
            "job_log_mode=0666",
            "job_log_mode=rw",
            "leftover_after=10y",
            "leftover_after=m",
        ] {
            assert!(Config::from_args(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_step_is_watched_as_its_user_and_the_site_say() {
        let site = |args: &[&str]| Config::from_args(args).unwrap();
        let plain = site(&[]);
        assert_eq!(plain.watching(None), Ok(Watching::No));
        assert_eq!(
            plain.watching(Some(None)),
            Ok(Watching::Report(Choice::of(Mode::Auto)))
        );
        assert_eq!(
            plain.watching(Some(Some("oom"))),
            Ok(Watching::Report(Choice::of(Mode::Oom)))
        );
        assert!(plain.watching(Some(Some("loud"))).is_err());
        let all = site(&["records=all"]);
        assert_eq!(all.watching(None), Ok(Watching::RecordOnly));
        assert_eq!(all.watching(Some(Some("off"))), Ok(Watching::RecordOnly));
        let default_oom = site(&["default_mode=oom"]);
        assert_eq!(
            default_oom.watching(None),
            Ok(Watching::Report(Choice::of(Mode::Oom)))
        );
        assert_eq!(default_oom.watching(Some(Some("off"))), Ok(Watching::No));
    }

    #[test]
    fn errors_name_the_argument() {
        let e = Config::from_args(&["hedroom=30"]).unwrap_err().to_string();
        assert!(e.contains("\"hedroom\"") && e.contains("headroom"), "{e}");
        let e = Config::from_args(&["headroom=lots"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("headroom") && e.contains("0 to 200"), "{e}");
        assert!(Config::from_args(&["verbose"]).is_err());
        assert!(Config::from_args(&["near_miss=20"]).is_err());
        let e = Config::from_args(&["max_mem=lots"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_mem") && e.contains("256G"), "{e}");
        // A size beyond what bytes can count is refused, not wrapped around.
        assert!(Config::from_args(&["max_mem=17592186044416M"]).is_err());
        // The TOML file must be named absolutely: slurmd and slurmstepd run in other folders.
        let e = Config::from_args(&["config=oom-explain.toml"])
            .unwrap_err()
            .0;
        assert!(e.contains("absolute path"), "{e}");
    }

    #[test]
    fn warnings_while_a_step_runs_are_the_sites_to_set_or_turn_off() {
        let on = Config::default().warnings().expect("on by default");
        assert_eq!((on.ahead.as_secs(), on.above_percent), (3600, 50));
        let set = Config::from_args(&["warn_ahead=20m", "warn_above=75"]).unwrap();
        let set = set.warnings().unwrap();
        assert_eq!((set.ahead.as_secs(), set.above_percent), (1200, 75));
        let off = Config::from_args(&["warn_ahead=off"]).unwrap();
        assert_eq!(off.warnings(), None);
    }

    #[test]
    fn the_key_table_is_what_the_parser_takes() {
        for k in KEYS {
            // A default written as the table says gives the default.
            if let Some(default) = k.default {
                assert_eq!(
                    Config::from_args(&[format!("{}={default}", k.name)]),
                    Ok(Config::default()),
                    "{}",
                    k.name
                );
            }
            // A bad value is refused in the table's words, never as an unknown key.
            let e = Config::from_args(&[format!("{}=", k.name)]).unwrap_err().0;
            assert_eq!(
                e,
                format!(
                    "plugstack.conf: {}=\"\": expected {}",
                    k.name,
                    k.values.expected()
                )
            );
        }
        // The refusals' wording, as it was before the table.
        let refusal = |arg: &str| Config::from_args(&[arg]).unwrap_err().0;
        for (arg, said) in [
            ("headroom=lots", "expected a whole number from 0 to 200"),
            ("over_request_min_unused=-1", "from 0 to 1073741824"),
            ("records=some", "expected off, opted-in or all"),
            ("default_mode=loud", "expected off, oom, auto or always"),
            ("job_log_mode=0666", "expected 0600, 0640 or 0644"),
            ("max_mem=lots", "expected a size such as 256G or 512000M"),
            (
                "leftover_after=10y",
                "expected a time from 1s to 366d, such as 600, 10m or 2h",
            ),
            ("highmem_partition= ", "expected some text"),
            (
                "warn_ahead=soon",
                "expected a time from 1s to 366d, such as 600, 10m or 2h, or off",
            ),
            ("warn_above=96", "expected a whole number from 1 to 95"),
            ("job_log=jobs.jsonl", "expected an absolute path, or syslog"),
            (
                "accounting_field=Comment",
                "expected off, AdminComment or SystemComment",
            ),
            ("suggest_hint=maybe", "expected yes or no"),
        ] {
            assert!(refusal(arg).ends_with(said), "{arg}: {}", refusal(arg));
        }
        assert_eq!(
            refusal("hedroom=1"),
            "plugstack.conf: unknown argument \"hedroom\" (known keys: headroom, near_miss, \
             over_request, over_request_min_unused, evidence_dir, max_mem, highmem_partition, \
             support, help_url, default_mode, warn_ahead, warn_above, records, spool_dir, \
             job_log, job_log_mode, syslog_facility, syslog_tag, syslog_socket, leftover_after, metrics_file, \
             accounting_field, slurm_bin_dir, accounting_with_private_data, suggest_hint, config)"
        );
    }

    #[test]
    fn every_key_but_config_may_be_in_the_toml_file() {
        let toml: String = KEYS
            .iter()
            .filter(|k| k.name != "config")
            .map(|k| {
                let value = k.default.unwrap_or(match k.values {
                    Values::Size => "512G",
                    Values::Path => "/var/lib/oom-explain-evidence",
                    Values::PathEnding(_) => "/var/lib/oom-explain/metrics/oom_explain.prom",
                    _ => "text",
                });
                format!("{} = {value:?}\n", k.name)
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("all.toml");
        std::fs::write(&file, toml).unwrap();
        let c = Config::from_args(&[format!("config={}", file.display())]).unwrap();
        assert_eq!(c.max_mem, Some(512 << 30));
        assert_eq!(c.support.as_deref(), Some("text"));
    }

    #[test]
    fn a_toml_file_with_arguments_on_top() {
        let dir = std::env::temp_dir().join(format!("oom-explain-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("oom-explain.toml");
        std::fs::write(
            &file,
            "max_mem = \"512G\"\nhighmem_partition = \"bigmem\"\nsupport = \"hpc-help@example.org\"\nheadroom = 25\n",
        )
        .unwrap();
        let c = Config::from_args(&[format!("config={}", file.display()), "headroom=30".into()])
            .unwrap();
        assert_eq!(c.max_mem, Some(512 << 30));
        assert_eq!(c.support.as_deref(), Some("hpc-help@example.org"));
        assert_eq!(c.headroom_percent, 30, "the plugstack argument wins");

        std::fs::write(&file, "max_memory = \"512G\"\n").unwrap();
        let e = Config::from_args(&[format!("config={}", file.display())])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("oom-explain.toml") && e.contains("max_memory"),
            "{e}"
        );
        let e = Config::from_args(&["config=/nonexistent/oom-explain.toml"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/oom-explain.toml"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// One line of a plugstack.conf (or a file it includes) that loads this plugin.
#[derive(Debug)]
pub struct PluginLine {
    pub file: PathBuf,
    pub line: usize,
    /// The `.so` the line loads.
    pub plugin: PathBuf,
    pub args: Vec<String>,
    /// The settings those arguments give, or what is wrong with them — exactly what the
    /// plugin itself would decide.
    pub config: Result<Config, ConfigError>,
}

/// Finds the lines of `plugstack` (following `include`) that load oom-explain, and parses
/// their arguments with the plugin's own parser.
pub fn check_plugstack(plugstack: &Path) -> Result<Vec<PluginLine>, ConfigError> {
    let mut found = Vec::new();
    read_plugstack(plugstack, &mut found, 0)?;
    Ok(found)
}

fn read_plugstack(file: &Path, found: &mut Vec<PluginLine>, depth: u32) -> Result<(), ConfigError> {
    if depth > 8 {
        return Err(ConfigError(format!(
            "{}: includes nested too deep",
            file.display()
        )));
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| ConfigError(format!("{}: {e}", file.display())))?;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["include", pattern] => {
                let pattern = match file.parent() {
                    Some(dir) if !pattern.starts_with('/') => dir.join(pattern),
                    _ => PathBuf::from(pattern),
                };
                let paths = glob::glob(&pattern.to_string_lossy()).map_err(|e| {
                    ConfigError(format!("{}:{}: include: {e}", file.display(), i + 1))
                })?;
                for path in paths.flatten() {
                    read_plugstack(&path, found, depth + 1)?;
                }
            }
            ["required" | "optional", path, args @ ..] => {
                let name = Path::new(path)
                    .file_name()
                    .map(|n| n.to_string_lossy().replace('-', "_"))
                    .unwrap_or_default();
                if name.starts_with("oom_explain") || name.starts_with("liboom_explain") {
                    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                    found.push(PluginLine {
                        file: file.to_path_buf(),
                        line: i + 1,
                        plugin: PathBuf::from(path),
                        config: Config::from_args(&args),
                        args,
                    });
                }
            }
            _ => {
                return Err(ConfigError(format!(
                    "{}:{}: not a plugstack.conf line (required|optional PLUGIN [ARGS], or include PATTERN): {raw:?}",
                    file.display(),
                    i + 1
                )));
            }
        }
    }
    Ok(())
}
