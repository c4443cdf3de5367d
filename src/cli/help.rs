//! What `--help` says after the options, and the manual pages' matching sections: the exit
//! status and examples, written once.

/// The command's exit status, by code.
pub const EXIT_STATUS: [(&str, &str); 3] = [
    (
        "0",
        "Done: every JOBID was explained (or the list, report or check was made; a closed \
         output, as with `| head`, also ends with 0).",
    ),
    (
        "1",
        "Some JOBID could not be explained (no record and sacct does not know it, another \
         user's job, sacct failed), check-config found an error, or a job log could not be read.",
    ),
    (
        "2",
        "The command line is wrong (an unknown option, a JOBID that is no job id).",
    ),
];

/// Typical uses: the command, and what it gives.
pub const EXAMPLES: [(&str, &str); 3] = [
    (
        "oom-explain",
        "Your jobs of the last 7 days that ran out of memory, came close, or asked too much.",
    ),
    (
        "oom-explain 1234 1250_3",
        "Job 1234, then task 3 of array 1250 (1250 alone: all its tasks).",
    ),
    (
        "oom-explain report --since 30d",
        "For admins: the cluster's memory failures of the last 30 days.",
    ),
];

/// The manual pages of the other parts, named at the end of every page.
pub const SEE_ALSO: [(&str, &str); 1] = [("oom-explain-plugin", "8")];

/// The text `--help` shows after the options.
pub fn after_help() -> String {
    let mut text = String::from("Exit status:\n");
    for (code, meaning) in EXIT_STATUS {
        text.push_str(&format!("  {code}  {}\n", wrapped(meaning, 5)));
    }
    text.push_str("\nExamples:\n");
    for (command, what) in EXAMPLES {
        text.push_str(&format!("  {command}\n      {}\n", wrapped(what, 6)));
    }
    text.push_str("\nManual: man oom-explain; the plugin's settings: man 8 oom-explain-plugin");
    text
}

/// `text` in lines of at most 90 columns, the ones after the first indented by `indent`.
fn wrapped(text: &str, indent: usize) -> String {
    let options =
        textwrap::Options::new(90 - indent).word_splitter(textwrap::WordSplitter::NoHyphenation);
    let lines = textwrap::wrap(text, options);
    lines.join(&format!("\n{}", " ".repeat(indent)))
}
