//! The next request in a form a program can use: what `--json` gives workflow engines
//! (Snakemake's `mem_mb`, Nextflow's `memory`) to retry a job that ran out of memory.

use serde::Serialize;

use crate::record::RecordedRecommendation;
use crate::size;

const MIB: u64 = 1 << 20;

/// Where the figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The report the job's records carry.
    Record,
    /// sacct alone (no record): twice the request of a job killed for memory.
    Sacct,
    /// `oom-explain suggest`: the user's earlier runs of the same job.
    History,
}

/// What to ask for next time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextRequest {
    /// The option, in the user's own style: `--mem`, `--mem-per-cpu` or `--mem-per-gpu`.
    pub option: String,
    /// As typed after it (`620M`, `4G`).
    pub value: String,
    /// The line to paste (`#SBATCH --mem=620M`, or `srun --mem=620M …` for a step's own limit).
    pub line: String,
    /// The whole request on one node, in bytes.
    pub bytes: u64,
    /// The same in MiB, rounded up: Snakemake's `mem_mb`, `sbatch --mem=<mem_mb>` and
    /// Nextflow's `memory "<mem_mb> MB"` all read it as the job's memory per node.
    pub mem_mb: u64,
    /// `measured`, `estimated` or `at-least` (only a lower bound is known: this is a guess
    /// above it, and may be too little again).
    pub certainty: String,
    /// More memory only puts the problem off (a leak, copies per worker, files in /dev/shm).
    pub stop_gap: bool,
    pub source: Source,
}

impl NextRequest {
    /// From a record's recommendation: the line the report gave, taken apart.
    pub fn from_recorded(r: &RecordedRecommendation) -> NextRequest {
        let (option, value) = option_and_value(&r.line).unwrap_or(("--mem", ""));
        let value = match value.is_empty() {
            true => size::slurm_request(r.bytes).1,
            false => value.to_owned(),
        };
        NextRequest {
            option: option.into(),
            value,
            line: r.line.clone(),
            bytes: r.bytes,
            mem_mb: r.bytes.div_ceil(MIB),
            certainty: r.certainty.clone(),
            stop_gap: r.stop_gap,
            source: Source::Record,
        }
    }

    /// A whole-node request of at least `bytes` (`--mem`), rounded as a person types it.
    pub fn mem(bytes: u64, certainty: &str, source: Source) -> NextRequest {
        let (bytes, value) = size::slurm_request(bytes);
        NextRequest {
            option: "--mem".into(),
            line: format!("#SBATCH --mem={value}"),
            value,
            bytes,
            mem_mb: bytes.div_ceil(MIB),
            certainty: certainty.into(),
            stop_gap: false,
            source,
        }
    }
}

impl NextRequest {
    /// A whole-node request of exactly `mib` MiB (a node's memory as Slurm counts it: rounding
    /// up would ask for more than any node has).
    pub fn exact_mib(mib: u64, certainty: &str, source: Source) -> NextRequest {
        NextRequest {
            option: "--mem".into(),
            line: format!("#SBATCH --mem={mib}M"),
            value: format!("{mib}M"),
            bytes: mib << 20,
            mem_mb: mib,
            certainty: certainty.into(),
            stop_gap: false,
            source,
        }
    }
}

/// `--mem` and `620M` from `#SBATCH --mem=620M` or `srun --mem=620M …`.
fn option_and_value(line: &str) -> Option<(&str, &str)> {
    let option = line.split_whitespace().find(|w| w.starts_with("--mem"))?;
    let (flag, value) = option.split_once('=')?;
    Some((flag, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(line: &str, bytes: u64) -> RecordedRecommendation {
        RecordedRecommendation {
            line: line.into(),
            bytes,
            certainty: "at-least".into(),
            stop_gap: false,
        }
    }

    #[test]
    fn the_users_option_and_the_whole_request_in_mib() {
        let next = NextRequest::from_recorded(&recorded("#SBATCH --mem-per-cpu=310M", 620 * MIB));
        assert_eq!(
            (next.option.as_str(), next.value.as_str()),
            ("--mem-per-cpu", "310M")
        );
        assert_eq!(next.mem_mb, 620);
        let srun = NextRequest::from_recorded(&recorded("srun --mem=2G …", 2 << 30));
        assert_eq!((srun.option.as_str(), srun.value.as_str()), ("--mem", "2G"));
        assert_eq!(srun.mem_mb, 2048);
    }

    #[test]
    fn a_line_it_cannot_take_apart_still_gives_a_usable_mem() {
        let next = NextRequest::from_recorded(&recorded("something else", 400 * MIB + 1));
        assert_eq!(
            (next.option.as_str(), next.value.as_str()),
            ("--mem", "410M")
        );
        assert_eq!(next.mem_mb, 401);
    }

    #[test]
    fn mem_rounds_up_as_a_person_types() {
        let next = NextRequest::mem(3_600 * MIB, "measured", Source::History);
        assert_eq!(next.line, "#SBATCH --mem=3600M");
        assert_eq!(next.mem_mb, 3600);
        assert_eq!(
            NextRequest::mem(1_950 * MIB, "at-least", Source::Sacct).value,
            "2G"
        );
    }
}
