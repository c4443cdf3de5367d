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
            textwrap::wrap(&glue_units(p.trim_start()), options)
                .into_iter()
                .map(|l| l.replace(NO_BREAK, " "))
                .collect()
        })
        .collect()
}

const NO_BREAK: char = '\u{a0}';

/// Units that stay on the line of their number ("170 MiB", "20 %", "3 min").
const UNITS: [&str; 9] = ["%", "KiB", "MiB", "GiB", "TiB", "s", "min", "h", "d"];

/// The space between a number and its unit made unbreakable, so a line never ends on "170".
fn glue_units(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous = ' ';
    for (i, c) in text.char_indices() {
        let unit_follows = || {
            let rest = &text[i + 1..];
            let word = rest
                .split(|c: char| c.is_whitespace() || ",.;:)/".contains(c))
                .next()
                .unwrap_or("");
            UNITS.contains(&word)
        };
        if c == ' ' && previous.is_ascii_digit() && unit_follows() {
            out.push(NO_BREAK);
        } else {
            out.push(c);
        }
        previous = c;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_and_its_unit_stay_on_one_line() {
        let long = format!(
            "  Seen: {} it used 170 MiB of 200 MiB (85 %).",
            "word ".repeat(12)
        );
        for width in 0..30 {
            let text = format!("{}{long}", "x".repeat(width));
            for line in wrap(vec![text]) {
                assert!(!line.ends_with("170") && !line.ends_with("(85"), "{line:?}");
                assert!(!line.contains(NO_BREAK));
            }
        }
    }
}
