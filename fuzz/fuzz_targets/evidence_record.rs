//! An evidence record (`EvidenceRecord::from_json`, what `evidence_dir=` writes and
//! `oom-explain` reads back), then the whole analysis and report the plugin would make from it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oom_explain::config::Config;
use oom_explain::options::Mode;
use oom_explain::report::EvidenceRecord;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(record) = EvidenceRecord::from_json(text) else {
        return;
    };
    let again = EvidenceRecord::from_json(&record.to_json()).expect("its own JSON reads back");
    assert_eq!(again.snapshot, record.snapshot);
    assert_eq!(again.context, record.context);
    let report = record.analyse(&Config::default());
    let lines = report.text(&record.context);
    for mode in [Mode::Auto, Mode::Oom, Mode::Always, Mode::Off] {
        if let Some(l) = report.lines(&record.context, mode) {
            assert_eq!(l, lines);
        }
    }
});
