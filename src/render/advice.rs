//! The memory line: why this size, the line to copy, and where doubling ends.

use crate::causes::{Diagnosis, Need};
use crate::config::Config;
use crate::recommend::{Basis, Flag, Recommendation};
use crate::size::human;
use crate::step::StepContext;

/// Appends the paragraph that leads to the line (`lead` then why this size), the line itself,
/// and what to do if it is not enough or more than the site has.
pub fn lines(
    out: &mut Vec<String>,
    lead: &str,
    d: &Diagnosis,
    rec: &Recommendation,
    context: &StepContext,
    site: &Config,
) {
    out.push(format!("{lead} {}", why_this_size(d, rec)));
    out.push(format!("      {}", rec.sbatch_line()));
    match rec.flag {
        Flag::MemPerCpu { cpus } if cpus > 1 => out.push(format!(
            "    (that is {} for the {cpus} CPUs the job has on this node)",
            human(rec.bytes)
        )),
        Flag::MemPerGpu { gpus } if gpus > 1 => out.push(format!(
            "    (that is {} for the {gpus} GPUs the job has on this node)",
            human(rec.bytes)
        )),
        _ => {}
    }
    let whom = site.support.as_deref().unwrap_or("your cluster's support");
    // The most one node here can give: the site's word, else this node's memory.
    let node = site.max_mem.or(context.node_memory);
    match node {
        Some(max) if rec.bytes > max => {
            let offers = format!("  That is more than a node here offers ({})", human(max));
            match &site.highmem_partition {
                Some(p) => {
                    out.push(format!("{offers}: use the high-memory partition,"));
                    out.push(format!("      #SBATCH --partition={p}"));
                    out.push(format!("    or ask {whom}."));
                }
                None => out.push(format!("{offers}: ask {whom} where it can run.")),
            }
        }
        // A guess (twice the limit) needs an end: a node's memory, then a person.
        _ if matches!(
            rec.basis,
            Basis::AboveTheLimit { .. } | Basis::HeldWhenStopped { .. }
        ) && !rec.stop_gap =>
        {
            out.push(match node {
                Some(max) => format!(
                    "  If it is killed at that size too, double it again, up to {} (all of a \
                     node here); beyond that, ask {whom}.",
                    human(max)
                ),
                None => format!("  If it is killed at that size too, ask {whom}."),
            });
            // Earlier runs may know what one run cannot; asking Slurm is the command's job,
            // never slurmstepd's.
            if site.suggest_hint {
                out.push(format!(
                    "  If it ran before, `oom-explain suggest {}` sizes it from all its runs.",
                    context.id.job
                ));
            }
        }
        _ => {}
    }
}

/// One sentence on where the size comes from, ending with a colon before the line.
fn why_this_size(d: &Diagnosis, rec: &Recommendation) -> String {
    match rec.basis {
        Basis::AboveTheLimit { .. } if d.cause.definition().need == Need::SharedJobLimit => {
            "Or give the whole job enough for all of them at once, twice its limit:".into()
        }
        Basis::AboveTheLimit { limit, factor } => format!(
            "It needed more than {}; how much more, one run cannot tell. Try {} as much:",
            human(limit),
            times(factor)
        ),
        Basis::Block {
            held_before,
            size,
            headroom_percent,
        } => format!(
            "It was filling a new block of {} on top of the {} it held; with {headroom_percent} % \
             to spare:",
            human(size),
            human(held_before)
        ),
        Basis::Workers {
            count,
            each,
            headroom_percent,
        } => format!(
            "Room for {count} of them ({count} × {}) and the rest, with {headroom_percent} % to \
             spare:",
            human(each)
        ),
        Basis::Levelling {
            level,
            headroom_percent,
        } => format!(
            "About {}, with {headroom_percent} % to spare:",
            human(level)
        ),
        Basis::OthersPlusTwiceOwn { others, own } => format!(
            "Or give the whole job enough for all of them at once: what the others held ({}) \
             and twice this one's {}:",
            human(others),
            human(own)
        ),
        Basis::PeakPlusHeadroom {
            headroom_percent, ..
        } => format!("Its highest use plus {headroom_percent} %:"),
        Basis::HeldWhenStopped {
            held,
            headroom_percent,
        } => format!(
            "It held {} when it was stopped, and may have needed more; that plus \
             {headroom_percent} %:",
            human(held)
        ),
    }
}

fn times(factor: u64) -> String {
    match factor {
        2 => "twice".into(),
        n => format!("{n} times"),
    }
}
