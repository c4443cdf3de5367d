//! Lines that fit a terminal.

/// Terminal width every line fits.
pub const WIDTH: usize = 80;

/// Wraps each paragraph at [`WIDTH`] with a 4-space hanging indent, so long names and numbers
/// never run past the edge. Lines to copy (`#SBATCH …`, six spaces in) are kept whole.
pub fn wrap(paragraphs: Vec<String>) -> Vec<String> {
    paragraphs
        .into_iter()
        .flat_map(|p| {
            if p.starts_with("      ") {
                return vec![p];
            }
            let indent = &p[..p.len() - p.trim_start().len()];
            let options = textwrap::Options::new(WIDTH)
                .initial_indent(indent)
                .subsequent_indent("    ")
                .break_words(false)
                // Never split names, addresses, URLs or options at their hyphens.
                .word_splitter(textwrap::WordSplitter::NoHyphenation);
            textwrap::wrap(p.trim_start(), options)
                .into_iter()
                .map(|l| l.into_owned())
                .collect()
        })
        .collect()
}
