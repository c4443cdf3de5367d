//! One cgroup memory file's text: a limit (memory.max, memory.limit_in_bytes), a counter
//! (memory.peak, memory.current...) or a keyed file (memory.stat, memory.events, memory.oom_control).
#![no_main]
use libfuzzer_sys::fuzz_target;
use oom_explain::cgroup::parse::{parse_keyed, parse_limit, parse_u64};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // read_to_string refuses what is not UTF-8 before any parser sees it
    };
    let number = parse_u64(text);
    let limit = parse_limit(text);
    if text.trim() == "max" {
        assert_eq!(limit, Ok(None), "max is no limit");
    } else if let Ok(n) = number {
        // A limit is a number, and a huge one is no limit at all.
        assert_eq!(limit, Ok((n < 1 << 62).then_some(n)), "{text:?}");
    } else {
        assert!(
            limit.is_err(),
            "{text:?} is neither a number nor max: {limit:?}"
        );
    }
    if let Ok(map) = parse_keyed(text) {
        // Written back as the kernel writes it, it reads the same.
        let again: String = map.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
        assert_eq!(parse_keyed(&again).as_ref(), Ok(&map), "{text:?}");
        for key in map.keys() {
            assert!(
                !key.is_empty() && !key.contains(char::is_whitespace),
                "{key:?}"
            );
        }
    }
});
