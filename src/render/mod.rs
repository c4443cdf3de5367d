//! The diagnosis in words, for a student reading slurm-%j.err (docs/diagnosis-style.md): one
//! plain sentence on what happened, what was seen, what to do (the exact line to copy), what
//! else the user may see because of it, whom to ask, then `cause: <id>`. The sentences of each
//! cause are in its own file under `causes/`; this module puts them in order and lays them out
//! so every line fits 80 columns.

mod advice;
mod layout;
mod symptoms;
pub mod warning;

use crate::causes::{Cause, Diagnosis, Words};
use crate::config::Config;
use crate::options::Mode;
use crate::recommend::Recommendation;
use crate::step::StepContext;

pub use layout::WIDTH;

/// First word of every report, so it stands out in a long log and can be searched for.
pub const PREFIX: &str = "oom-explain:";

/// Whether this mode wants a report for this cause.
pub fn wanted(mode: Mode, cause: Cause) -> bool {
    match mode {
        Mode::Oom => cause.is_kill(),
        Mode::Auto => cause != Cause::None,
        Mode::Always => true,
        Mode::Off => false,
    }
}

/// The report, one string per line.
pub fn render(
    d: &Diagnosis,
    recommendation: Option<&Recommendation>,
    context: &StepContext,
    site: &Config,
) -> Vec<String> {
    let words = Words { d, context };
    let explanation = (d.cause.definition().explain)(d, &words);
    let mut out = vec![format!("{PREFIX} {}", capitalised(&explanation.headline))];
    let mut seen = explanation.seen.join(" ");
    if let Some(also) = d
        .secondary
        .and_then(|c| c.definition().also)
        .and_then(|also| also(d))
    {
        seen.push_str(&format!(" Also, {also}"));
    }
    if !seen.is_empty() {
        out.push(format!("  Seen: {seen}"));
    }
    if let Some(picture) = explanation.picture {
        out.push(format!("      {picture}"));
    }
    let todo = explanation.todo.join(" ");
    match recommendation {
        Some(rec) if rec.stop_gap => {
            out.push(format!("  What to do: {todo}"));
            let lead = "  Meanwhile, more memory lets it get further.";
            advice::lines(&mut out, lead, d, rec, context, site);
        }
        Some(rec) => {
            let lead = format!("  What to do: {todo}");
            advice::lines(&mut out, &lead, d, rec, context, site);
        }
        None if !todo.is_empty() => out.push(format!("  What to do: {todo}")),
        None => {}
    }
    let also_see = symptoms::lines(d, context);
    if !also_see.is_empty() {
        out.push(format!("  You may also see: {}", also_see.join(" ")));
    }
    if let Some(url) = site.help_url.as_ref().filter(|_| d.cause != Cause::None) {
        out.push(format!("  More: {url}"));
    }
    if let Some(s) = site
        .support
        .as_ref()
        .filter(|_| d.cause.definition().ask_support)
    {
        out.push(format!("  Support: {s}"));
    }
    out.push(format!("  cause: {}", d.cause.id()));
    layout::wrap(out)
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests;
