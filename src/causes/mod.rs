//! Every cause oom-explain can name, one file each, the way clippy keeps a lint: how it is
//! detected, the sentences that show the evidence, the advice, and its documentation together.
//!
//! [`PRECEDENCE`] is the one list that orders them. The first cause whose detection fits is the
//! diagnosis; the next kill pattern that also fits is mentioned second. Adding a cause is one
//! file, one variant of [`Cause`] and one entry in that list.

mod load_spike;
mod near_miss;
mod node_oom;
mod none;
mod other_step;
mod over_request;
mod overmemory_kill;
mod rank_imbalance;
pub(crate) mod steady_growth;
mod tmpfs;
mod under_allocation;
mod unknown;
pub mod words;
mod worker_multiplication;

use std::borrow::Cow;
use std::time::Duration;

use crate::cgroup::MemorySnapshot;
use crate::config::Config;
use crate::evidence::kernel::ProcessRow;
use crate::evidence::sampler::Series;
use crate::step::StepContext;
pub use words::Words;

/// Why the step ran out of memory (or came close, or asked for far too much).
/// The ids are stable: tools and tests read them from the `cause:` line (docs/causes.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    UnderAllocation,
    LoadSpike,
    WorkerMultiplication,
    SteadyGrowth,
    Tmpfs,
    RankImbalance,
    OtherStep,
    NodeOom,
    OverMemoryKill,
    NearMiss,
    OverRequest,
    Unknown,
    None,
}

/// The causes in order of precedence: who killed comes first (Slurm's poll, the node), then the
/// patterns of a kill at the job's own limit from the most specific to the plainest, then what
/// is left of a kill, then the notes on a step that finished.
pub const PRECEDENCE: [&Definition; 13] = [
    &overmemory_kill::DEFINITION,
    &node_oom::DEFINITION,
    &other_step::DEFINITION,
    &tmpfs::DEFINITION,
    &rank_imbalance::DEFINITION,
    &worker_multiplication::DEFINITION,
    &steady_growth::DEFINITION,
    &load_spike::DEFINITION,
    &under_allocation::DEFINITION,
    &unknown::DEFINITION,
    &near_miss::DEFINITION,
    &over_request::DEFINITION,
    &none::DEFINITION,
];

/// One cause: its id, its documentation, and what it does at each stage.
pub struct Definition {
    pub cause: Cause,
    /// As the `cause:` line and records spell it.
    pub id: &'static str,
    /// One paragraph for docs/causes.md: what the pattern is and what it is told.
    pub doc: &'static str,
    /// Whether the facts fit; fills in `d` the facts that prove it.
    pub detect: fn(&Facts, &mut Diagnosis) -> bool,
    /// The sentences: what happened, what was seen, what to do.
    pub explain: fn(&Diagnosis, &Words) -> Explanation,
    /// One sentence when the cause is named second (kill patterns only).
    pub also: Option<fn(&Diagnosis) -> Option<String>>,
    /// What it means for a site, in one line (`oom-explain report`).
    pub for_admins: &'static str,
    /// Whether a process was killed (as opposed to the step finishing).
    pub kill: bool,
    /// What the next request is made from.
    pub need: Need,
    /// The report names the site's support contact (the user cannot fix it alone).
    pub ask_support: bool,
    /// Killed at its limit: sacct's sampled MaxRSS (before 24.11) may read far lower.
    pub sacct_may_mislead: bool,
    /// More memory is not the real fix here (a leak, more workers than CPUs, files in
    /// memory…): the advice comes first and a larger request only as a way to get by meanwhile.
    pub memory_is_a_workaround: fn(&Diagnosis) -> bool,
}

/// What a cause's next request is made from (recommend.rs turns it into a size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Killed at the step's limit: the strongest evidence of the need, else twice the limit.
    KilledAtTheLimit,
    /// Killed at the job's limit that its steps share: the request for the whole job.
    SharedJobLimit,
    /// Killed by Slurm's check at its allocation.
    AboveSlurmsAllocation,
    /// Finished close to the limit: the peak held plus headroom.
    PeakHeld,
    /// Finished far below the request: the job's peak plus headroom.
    JobPeak,
    /// Not the user's request (or nothing to change).
    Nothing,
}

/// A cause in words, before layout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Explanation {
    /// What happened, one plain sentence (after the `oom-explain:` prefix).
    pub headline: String,
    /// What was seen: the facts that prove the cause.
    pub seen: Vec<String>,
    /// What to do, the most useful first (the memory line follows).
    pub todo: Vec<String>,
    /// Memory over time as one line of block characters, where the shape is the evidence.
    pub picture: Option<String>,
}

impl Cause {
    pub fn definition(self) -> &'static Definition {
        PRECEDENCE
            .into_iter()
            .find(|d| d.cause == self)
            .expect("every cause is in PRECEDENCE")
    }

    pub fn id(self) -> &'static str {
        self.definition().id
    }

    /// The cause with this id, as records and reports spell it.
    pub fn from_id(id: &str) -> Option<Cause> {
        PRECEDENCE.into_iter().find(|d| d.id == id).map(|d| d.cause)
    }

    /// Whether the step was killed (as opposed to finished).
    pub fn is_kill(self) -> bool {
        self.definition().kill
    }

    pub fn all() -> impl Iterator<Item = Cause> {
        PRECEDENCE.into_iter().map(|d| d.cause)
    }
}

/// What the detections read: the measurements, already combined (classify builds it).
pub struct Facts<'a> {
    pub snapshot: &'a MemorySnapshot,
    pub context: &'a StepContext,
    pub config: &'a Config,
    /// Memory over time up to the kill, ending at the cgroup's own peak.
    pub series: Option<Cow<'a, Series>>,
    /// The kernel's list of the job's processes at the kill (the fullest one, if several).
    pub at_kill: Option<&'a [ProcessRow]>,
    /// Kernel OOM reports found for this step.
    pub kernel_reports: usize,
    /// A report says the limit hit lay outside the job (the node, or a level above the job).
    pub kernel_says_node: bool,
    /// The job's own limits were reached (or hit, where the kernel kept no peak).
    pub job_reached: bool,
    /// Page cache (file pages, not /dev/shm) in the kernel's figures at the kill.
    pub cache_at_kill: Option<u64>,
    /// The most the step's processes held together in any sample (resident sizes, as Slurm's
    /// own accounting adds them up).
    pub processes_held: Option<u64>,
}

impl Facts<'_> {
    /// Killed by the kernel at the job's own limit: the patterns below apply.
    pub fn killed_at_own_limit(&self, d: &Diagnosis) -> bool {
        d.oom_kills > 0 && !self.kernel_says_node
    }

    /// The limit a kill at the job's own limit hit: where a kill pattern may apply.
    pub fn own_limit_of_kill(&self, d: &Diagnosis) -> Option<u64> {
        d.any_limit().filter(|_| self.killed_at_own_limit(d))
    }

    /// That limit and the series: where a pattern over time may apply.
    pub fn series_of_kill(&self, d: &Diagnosis) -> Option<(&Series, u64)> {
        Some((self.series.as_deref()?, self.own_limit_of_kill(d)?))
    }
}

/// Decides the cause from the facts: the first definition in [`PRECEDENCE`] that fits, and
/// the next kill pattern that also fits.
pub fn decide(facts: &Facts, d: &mut Diagnosis) {
    let mut rest = PRECEDENCE.into_iter();
    let first = rest
        .find(|def| (def.detect)(facts, d))
        .expect("`none` always fits");
    d.cause = first.cause;
    if first.also.is_some() {
        d.secondary = rest
            .filter(|def| def.also.is_some())
            .find(|def| (def.detect)(facts, d))
            .map(|def| def.cause);
    }
}

/// Several processes of about the same, large size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workers {
    /// How many (the sampler keeps only the largest few: then at least this many).
    pub count: u32,
    /// The median size among them.
    pub each: u64,
    pub name: String,
    /// All processes of the step at that moment, and what their resident sizes add up to
    /// (pages shared between processes, as after fork, count in each: the sum can pass the
    /// limit that held them all).
    pub processes: u32,
    pub resident_sum: u64,
    /// Seen in the kernel's list at the kill (not at the sampler's peak).
    pub at_kill: bool,
    /// The CPUs the step's task has (--cpus-per-task), when known.
    pub cpus: Option<u32>,
}

/// Memory rising steadily until the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Growth {
    pub per_minute: u64,
    pub over: Duration,
    /// Where the rise was heading, if it was slowing down (a cache warming up, not a leak).
    pub level: Option<u64>,
}

/// A sharp rise after a calm start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spike {
    /// Use during the calm part.
    pub before: u64,
    /// How long the rise to the limit took.
    pub rise: Duration,
    /// When it started, from the step's start.
    pub after: Duration,
}

/// One task that used far more than the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeavyTask {
    pub task: u32,
    pub peak: u64,
    /// The largest peak among the other tasks.
    pub others: u64,
    pub tasks: usize,
}

/// The process the kernel killed, from its report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Victim {
    pub pid: u32,
    pub name: String,
    /// What it held in memory: its own pages and shared memory (anon + shmem RSS).
    pub rss: Option<u64>,
}

/// A large block being filled when the kernel killed: seen as the victim's reserved size at
/// the kill less what the sampler last saw it reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// The newly reserved size.
    pub size: u64,
    /// What the step held just before.
    pub held_before: u64,
}

/// The cause and the facts that prove it, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub cause: Cause,
    /// A second pattern that also fits, mentioned after the main one.
    pub secondary: Option<Cause>,
    /// Processes of this step the kernel's OOM killer killed, and of the whole job on this
    /// node (another step's kill shows there).
    pub oom_kills: u64,
    pub job_oom_kills: u64,
    /// Of those, the ones killed only because the step is killed as a whole
    /// (`--oom-kill-step`): the kernel chose the others.
    pub oom_group_kills: u64,
    /// The limit the kernel enforced on the step.
    pub limit: Option<u64>,
    /// Times the kernel throttled the step above its soft limit (v2), and that soft limit.
    pub throttled: u64,
    pub soft_limit: Option<u64>,
    /// The step's highest use, file cache included (what the kernel's counters say).
    pub peak: Option<u64>,
    /// The highest use of memory the kernel cannot drop on demand (program memory, files in
    /// /dev/shm, kernel memory): what a near miss and every size in the text are judged on.
    pub peak_unreclaimable: Option<u64>,
    /// The kernel kept no peak (cgroup v2 before Linux 5.19 has no memory.peak): `peak` is the
    /// highest figure seen, so the real peak may have been higher.
    pub peak_is_lower_bound: bool,
    /// The whole job's highest use and limit on this node, and that peak less the step's own
    /// page cache (the other steps' is unknown).
    pub job_peak: Option<u64>,
    pub job_peak_unreclaimable: Option<u64>,
    pub job_limit: Option<u64>,
    /// The process the kernel killed (name, RSS) from its report.
    pub victim: Option<Victim>,
    /// When the first kill came, from the step's start, and whether the step's tasks all
    /// exited 0 in the end (the script carried on).
    pub kill_at: Option<Duration>,
    pub ended_well: bool,
    /// Slurm's own allocation for the step (what OverMemoryKill compares with).
    pub slurm_allocation: Option<u64>,
    /// Files in tmpfs (/dev/shm) charged to the step.
    pub shmem: Option<u64>,
    pub workers: Option<Workers>,
    pub growth: Option<Growth>,
    pub spike: Option<Spike>,
    pub heavy_task: Option<HeavyTask>,
    pub block: Option<Block>,
    /// Other steps' use of the shared job limit.
    pub others_usage: Option<u64>,
    /// Memory held over the run up to the kill, in eighths of the limit (1–8), one per column
    /// of the picture, and the time it covers.
    pub shape: Option<(Vec<u8>, Duration)>,
    /// Memory was still rising in a straight line when the kernel killed (bytes per minute),
    /// however short the rise.
    pub still_rising: Option<u64>,
}

impl Diagnosis {
    /// A diagnosis with this cause and no facts yet.
    pub fn new(cause: Cause) -> Self {
        Diagnosis {
            cause,
            secondary: None,
            oom_kills: 0,
            job_oom_kills: 0,
            oom_group_kills: 0,
            limit: None,
            throttled: 0,
            soft_limit: None,
            peak: None,
            peak_unreclaimable: None,
            peak_is_lower_bound: false,
            job_peak: None,
            job_peak_unreclaimable: None,
            job_limit: None,
            victim: None,
            kill_at: None,
            ended_well: false,
            slurm_allocation: None,
            shmem: None,
            workers: None,
            growth: None,
            spike: None,
            heavy_task: None,
            block: None,
            others_usage: None,
            shape: None,
            still_rising: None,
        }
    }

    /// The limit the text talks about: the step's, else the job's.
    pub fn any_limit(&self) -> Option<u64> {
        self.limit.or(self.job_limit)
    }
}

/// The causes as docs/causes.md lists them: each id and its documentation, in order of
/// precedence (a test keeps that page equal to this).
pub fn reference() -> String {
    PRECEDENCE
        .into_iter()
        .map(|def| {
            let text = textwrap::fill(def.doc, 100);
            format!("### `{}`\n\n{text}\n", def.id)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn percent(part: u64, whole: u64) -> Option<u64> {
    (whole > 0).then(|| (part as u128 * 100 / whole as u128) as u64)
}

pub fn share(part: u64, whole: u64, at_least_percent: u64) -> bool {
    percent(part, whole).is_some_and(|pc| pc >= at_least_percent)
}

/// Killed "at the limit" means use came this close to it.
pub const AT_LIMIT_PERCENT: u64 = 90;

pub fn reached(peak: Option<u64>, limit: Option<u64>) -> bool {
    matches!((peak, limit), (Some(p), Some(l)) if share(p, l, AT_LIMIT_PERCENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cause_ids_read_back_and_each_cause_is_listed_once() {
        for cause in Cause::all() {
            assert_eq!(Cause::from_id(cause.id()), Some(cause));
            assert_eq!(Cause::all().filter(|c| *c == cause).count(), 1);
        }
        assert_eq!(Cause::from_id("out-of-luck"), None);
    }

    #[test]
    fn docs_causes_md_lists_every_cause_as_the_code_documents_it() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/causes.md");
        let page = std::fs::read_to_string(&path).unwrap();
        let (begin, end) = ("<!-- causes: begin -->\n", "<!-- causes: end -->");
        let (Some(a), Some(b)) = (page.find(begin), page.find(end)) else {
            panic!("docs/causes.md has no {begin:?} … {end:?} section");
        };
        let listed = &page[a + begin.len()..b];
        let expected = format!("\n{}\n", reference());
        if listed != expected && std::env::var_os("UPDATE_EXPECTED").is_some() {
            let updated = format!("{}{expected}{}", &page[..a + begin.len()], &page[b..]);
            std::fs::write(&path, updated).unwrap();
            return;
        }
        assert_eq!(
            listed, expected,
            "docs/causes.md differs from the causes' own docs (UPDATE_EXPECTED=1 rewrites it)"
        );
    }

    #[test]
    fn only_kill_patterns_are_named_second() {
        for def in PRECEDENCE {
            if def.also.is_some() {
                assert!(def.cause.is_kill(), "{}", def.id);
            }
        }
    }
}
