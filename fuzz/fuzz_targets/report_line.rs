//! Job-log lines as `oom-explain report` reads them (`fleet::Builder::add_line`, its own
//! borrowed per-line parse), then the report (`finish`, `lines`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use oom_explain::fleet::{Builder, Filter};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let filters = [
        Filter::default(),
        Filter {
            since: Some(1_700_000_000),
            user: Some("oomtest".into()),
            uid: Some(1001),
            until: Some(1_900_000_000),
            partition: Some("debug".into()),
        },
    ];
    for filter in filters {
        let mut builder = Builder::new(filter);
        let mut count = 0;
        for line in text.lines() {
            builder.add_line(line.trim_end());
            count += 1;
        }
        let report = builder.finish(10);
        assert_eq!(report.lines, count);
        assert!(
            report.records + report.skipped <= report.lines,
            "{report:?}"
        );
        assert!(report.oom_jobs <= report.records, "{report:?}");
        assert!(report.over_requests <= report.records, "{report:?}");
        assert!(report.unused_gib_hours >= 0.0, "{report:?}");
        let _ = report.lines();
        let _ = serde_json::to_string(&report).unwrap();
    }
});
