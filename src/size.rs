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
/// Steps grow with the size so the rounding never adds more than about a third:
/// below 1 GiB in 100 MiB steps, up to 8 GiB in 512 MiB steps, up to 64 GiB in whole GiB,
/// above that in 4 GiB steps.
pub fn slurm_request(bytes: u64) -> (u64, String) {
    let mib = bytes.div_ceil(MIB).max(1);
    let step_mib = match mib {
        0..=1023 => 100,
        1024..=8192 => 512,
        8193..=65536 => 1024,
        _ => 4096,
    };
    let mut rounded = mib.div_ceil(step_mib) * step_mib;
    if (1000..1024).contains(&rounded) {
        rounded = 1024;
    }
    let text = if rounded % 1024 == 0 {
        format!("{}G", rounded / 1024)
    } else {
        format!("{rounded}M")
    };
    (rounded * MIB, text)
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(slurm_request(1).1, "100M");
        assert_eq!(slurm_request(60 * MIB).1, "100M");
        assert_eq!(slurm_request(101 * MIB).1, "200M");
        assert_eq!(slurm_request(950 * MIB).1, "1G");
        assert_eq!(slurm_request(1025 * MIB).1, "1536M");
        assert_eq!(slurm_request(1600 * MIB).1, "2G");
        assert_eq!(slurm_request(12 * GIB - 1).1, "12G");
        assert_eq!(slurm_request(12 * GIB + 1).1, "13G");
        assert_eq!(slurm_request(65 * GIB).1, "68G");
    }

    #[test]
    fn a_request_is_never_below_the_need() {
        for mib in (1..200_000u64).step_by(37) {
            let (bytes, _) = slurm_request(mib * MIB);
            assert!(bytes >= mib * MIB, "{mib} MiB rounded down");
            assert!(
                bytes <= mib * MIB * 2 + 100 * MIB,
                "{mib} MiB rounded too far"
            );
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
