//! The user's `--oom-explain[=MODE][,nowarn]` value (`Choice::from_option`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use oom_explain::options::{Choice, Mode, NO_WARNINGS};

fuzz_target!(|data: &[u8]| {
    assert_eq!(
        Choice::from_option(None),
        Ok(Choice::of(Mode::Auto)),
        "a bare option is auto, with warnings"
    );
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Choice::from_option(Some(text)) {
        Ok(choice) => {
            // It reads back as itself from its own words, and every word was a mode, `nowarn`
            // (once), or the value was a bare option.
            let mut words = vec![choice.mode.name()];
            if !choice.warnings {
                words.push(NO_WARNINGS);
            }
            assert_eq!(Choice::from_option(Some(&words.join(","))), Ok(choice));
            let t = text.trim().to_ascii_lowercase();
            let given: Vec<&str> = t.split(',').map(str::trim).collect();
            let bare = t.is_empty() || t == "(null)";
            assert!(
                bare || given.iter().all(|w| *w == choice.mode.name() || *w == NO_WARNINGS),
                "{text:?}"
            );
            assert_eq!(choice.warnings, !given.contains(&NO_WARNINGS), "{text:?}");
        }
        Err(e) => assert!(e.to_string().contains("is not a valid mode"), "{e}"),
    }
});
