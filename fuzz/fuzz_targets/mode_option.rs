//! The user's `--oom-explain[=MODE]` value (`Mode::from_option`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use oom_explain::options::Mode;

fuzz_target!(|data: &[u8]| {
    assert_eq!(
        Mode::from_option(None),
        Ok(Mode::Auto),
        "a bare option is auto"
    );
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Mode::from_option(Some(text)) {
        Ok(mode) => {
            // Its name reads back as itself, and it was one of the names or a bare option.
            assert_eq!(Mode::from_option(Some(mode.name())), Ok(mode));
            let t = text.trim().to_ascii_lowercase();
            assert!(
                t == mode.name() || (mode == Mode::Auto && (t.is_empty() || t == "(null)")),
                "{text:?}"
            );
        }
        Err(e) => assert!(e.to_string().contains("is not a valid mode"), "{e}"),
    }
});
