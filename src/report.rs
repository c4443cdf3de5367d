//! The whole analysis of one step, from its cgroup and evidence to the lines the user reads.

use crate::cgroup::{CgroupError, MemorySnapshot, StepCgroup, read_snapshot};
use crate::classify::{Diagnosis, Evidence, classify};
use crate::config::Config;
use crate::options::Mode;
use crate::recommend::{Recommendation, recommend};
use crate::render::{render, wanted};
use crate::step::StepContext;

/// Everything known about one step at its end.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub snapshot: MemorySnapshot,
    pub diagnosis: Diagnosis,
    pub recommendation: Option<Recommendation>,
    /// The site settings the text refers to (limits, partitions, contacts).
    pub site: Config,
}

impl StepReport {
    pub fn from_snapshot(
        snapshot: MemorySnapshot,
        evidence: &Evidence,
        context: &StepContext,
        config: &Config,
    ) -> Self {
        let diagnosis = classify(&snapshot, evidence, context, config);
        let recommendation = recommend(&diagnosis, context, config);
        StepReport {
            snapshot,
            diagnosis,
            recommendation,
            site: config.clone(),
        }
    }

    /// The report's text, whatever the mode.
    pub fn text(&self, context: &StepContext) -> Vec<String> {
        render(
            &self.diagnosis,
            self.recommendation.as_ref(),
            context,
            &self.site,
        )
    }

    /// Whether a step in this mode gets the report in its stderr.
    pub fn wanted(&self, mode: Mode) -> bool {
        wanted(mode, self.diagnosis.cause)
    }

    /// The lines for the job's stderr, or `None` when this mode has nothing to say.
    pub fn lines(&self, context: &StepContext, mode: Mode) -> Option<Vec<String>> {
        self.wanted(mode).then(|| self.text(context))
    }
}

/// Reads the step's cgroup now and analyses it with the evidence gathered during its life.
pub fn analyse(
    step: &StepCgroup,
    evidence: &Evidence,
    context: &StepContext,
    config: &Config,
) -> Result<StepReport, CgroupError> {
    let snapshot = read_snapshot(step)?;
    Ok(StepReport::from_snapshot(
        snapshot, evidence, context, config,
    ))
}

/// Everything the analysis of one step used, as one JSON document: what the admin setting
/// `evidence_dir=` writes per step, and what tests/fixtures/evidence holds. Versioned: a reader
/// refuses a `schema` it does not know.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EvidenceRecord {
    pub schema: u32,
    pub snapshot: MemorySnapshot,
    pub evidence: Evidence,
    pub context: StepContext,
}

impl EvidenceRecord {
    pub const SCHEMA: u32 = 1;

    pub fn new(snapshot: MemorySnapshot, evidence: Evidence, context: StepContext) -> Self {
        EvidenceRecord {
            schema: Self::SCHEMA,
            snapshot,
            evidence,
            context,
        }
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        let record: EvidenceRecord = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if record.schema != Self::SCHEMA {
            return Err(format!(
                "evidence schema {} is not {}",
                record.schema,
                Self::SCHEMA
            ));
        }
        Ok(record)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plain data always serializes")
    }

    /// The same analysis the plugin made.
    pub fn analyse(&self, config: &Config) -> StepReport {
        StepReport::from_snapshot(self.snapshot.clone(), &self.evidence, &self.context, config)
    }
}
