//! Sizes as people say and type them.
//!
//! Slurm's `--mem` takes whole numbers with a unit (`M` = MiB, `G` = GiB); it does not accept
//! `1.5G`. So a recommendation is rounded *up* to a step that reads well and is valid input.

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// A size for a sentence: "50 MiB", "1.2 GiB", "640 KiB".
pub fn human(bytes: u64) -> String {
    if bytes >= GIB {
        let gib = bytes as f64 / GIB as f64;
        if gib >= 100.0 {
            format!("{gib:.0} GiB")
        } else {
            format!("{gib:.1} GiB")
        }
    } else if bytes >= MIB {
        format!("{} MiB", (bytes + MIB / 2) / MIB)
    } else {
        format!("{} KiB", bytes.div_ceil(1024))
    }
}

/// A request a person would type, at least `bytes`: returns (bytes of the request, its text).
///
/// Rounded up to two significant digits (`620M`, `1300M`, `47G`), or to whole GiB where that
/// adds no more than a tenth (`2G` rather than `1900M`), so the rounding never adds more than
/// about 10 % on top of the headroom. Slurm's `--mem` takes no fractions (`1.5G` is invalid).
pub fn slurm_request(bytes: u64) -> (u64, String) {
    // No node has an exbibyte: a larger figure (a corrupt record) is said as one, never wraps.
    let mib = bytes.min(1 << 60).div_ceil(MIB).max(1);
    let gib = mib.div_ceil(1024);
    if mib >= 1000 && gib * 1024 * 10 <= mib * 11 {
        let gib = if gib >= 100 { two_digits_up(gib) } else { gib };
        return (gib * GIB, format!("{gib}G"));
    }
    let rounded = two_digits_up(mib);
    (rounded * MIB, format!("{rounded}M"))
}

/// The smallest number with at most two significant digits that is at least `n`.
fn two_digits_up(n: u64) -> u64 {
    let mut unit = 1;
    while n / unit >= 100 {
        unit *= 10;
    }
    n.div_ceil(unit) * unit
}

/// A size as Slurm reads it in `--mem` (a number, optionally K, M, G or T; plain = MiB), in MiB.
pub fn parse_slurm_size_mib(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_uppercase()),
        _ => (text, 'M'),
    };
    let n: u64 = number.parse().ok()?;
    let mib = match unit {
        'K' => n.div_ceil(1024),
        'M' => n,
        'G' => n.checked_mul(1024)?,
        'T' => n.checked_mul(1024 * 1024)?,
        _ => return None,
    };
    (mib > 0).then_some(mib)
}

/// A duration as "45 s", "7 min", "2 h 05 min".
pub fn duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        "less than a second".into()
    } else if secs < 120 {
        format!("{secs} s")
    } else if secs < 3600 {
        format!("{} min", secs / 60)
    } else if secs < 48 * 3600 {
        format!("{} h {:02} min", secs / 3600, (secs % 3600) / 60)
    } else {
        format!("{} d {} h", secs / 86400, (secs % 86400) / 3600)
    }
}

/// A moment (Unix seconds) as "2026-11-22 02:53" (UTC).
pub fn date(unix_seconds: u64) -> String {
    // Dates end at 9999-12-31 (RFC 3339): a later one (a corrupt record) is said as that.
    let t =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix_seconds.min(253_402_300_799));
    let text = humantime::format_rfc3339_seconds(t).to_string();
    text[..16].replace('T', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_from_a_corrupt_record_never_overflow() {
        assert_eq!(slurm_request(u64::MAX).1, "1100000000G");
        assert_eq!(date(u64::MAX), "9999-12-31 23:59");
    }

    #[test]
    fn human_sizes_read_naturally() {
        assert_eq!(human(50 * MIB), "50 MiB");
        assert_eq!(human(52_428_800), "50 MiB");
        assert_eq!(human(1536 * MIB), "1.5 GiB");
        assert_eq!(human(200 * GIB), "200 GiB");
        assert_eq!(human(3000), "3 KiB");
    }

    #[test]
    fn requests_round_up_to_valid_slurm_sizes() {
        assert_eq!(slurm_request(1).1, "1M");
        assert_eq!(slurm_request(60 * MIB).1, "60M");
        assert_eq!(slurm_request(101 * MIB).1, "110M");
        assert_eq!(slurm_request(617 * MIB).1, "620M");
        assert_eq!(slurm_request(950 * MIB).1, "950M");
        assert_eq!(slurm_request(1000 * MIB).1, "1G");
        assert_eq!(slurm_request(1025 * MIB).1, "1100M");
        assert_eq!(slurm_request(1900 * MIB).1, "2G");
        assert_eq!(slurm_request(12 * GIB - 1).1, "12G");
        assert_eq!(slurm_request(12 * GIB + 1).1, "13G");
        assert_eq!(slurm_request(65 * GIB).1, "65G");
        assert_eq!(slurm_request(123 * GIB).1, "130G");
    }

    #[test]
    fn a_request_is_never_below_the_need_and_adds_at_most_a_tenth() {
        for mib in (1..2_000_000u64).step_by(37) {
            let (bytes, text) = slurm_request(mib * MIB);
            assert!(bytes >= mib * MIB, "{mib} MiB rounded down");
            assert!(
                bytes * 10 <= mib * MIB * 11 + 10 * MIB,
                "{mib} MiB rounded to {text}"
            );
            assert_eq!(parse_slurm_size_mib(&text), Some(bytes / MIB), "{text}");
        }
    }

    #[test]
    fn slurm_sizes_parse_like_slurm() {
        assert_eq!(parse_slurm_size_mib("256G"), Some(256 * 1024));
        assert_eq!(parse_slurm_size_mib("512000M"), Some(512_000));
        assert_eq!(parse_slurm_size_mib("4000"), Some(4000));
        assert_eq!(parse_slurm_size_mib("1t"), Some(1024 * 1024));
        assert_eq!(parse_slurm_size_mib("lots"), None);
        assert_eq!(parse_slurm_size_mib("0G"), None);
        assert_eq!(parse_slurm_size_mib("12X"), None);
    }

    #[test]
    fn dates_in_utc() {
        assert_eq!(date(0), "1970-01-01 00:00");
        assert_eq!(date(1_795_000_000), "2026-11-18 11:06");
    }

    #[test]
    fn durations() {
        assert_eq!(
            duration(std::time::Duration::from_millis(300)),
            "less than a second"
        );
        assert_eq!(duration(std::time::Duration::from_secs(7)), "7 s");
        assert_eq!(duration(std::time::Duration::from_secs(600)), "10 min");
        assert_eq!(duration(std::time::Duration::from_secs(7500)), "2 h 05 min");
        assert_eq!(
            duration(std::time::Duration::from_secs(7 * 86400 - 1)),
            "6 d 23 h"
        );
    }
}
