//! A job's accounting field as the job epilog reads it with sacct (`accounting_field=`): any
//! text another tool or an admin may have put there. The epilog decides whether it is ours
//! (`Current::of`), merges its own line into ours (`merged`), and checks it back (`holds`); the
//! command decodes it (`decode`). The first input line is the field; the rest, if any, is this
//! node's job line (else a fixed one).
#![no_main]
use libfuzzer_sys::fuzz_target;
use oom_explain::accounting::value::{Current, MAX_VALUE_BYTES, decode, holds, merged};
use oom_explain::record::JobRecord;

const MINE: &str = r#"{"schema":1,"job":8,"node":"node2","user":"oomtest","uid":1001,"partition":"debug","ended":1795316410,"cause":"under-allocation","oom_kills":1,"peak":104857600,"limit":104857600,"elapsed_s":12,"recommendation":null,"recovered":false,"steps":[]}"#;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (field, line) = text.split_once('\n').unwrap_or((&text, ""));
    let mine: JobRecord = serde_json::from_str(line)
        .unwrap_or_else(|_| serde_json::from_str(MINE).expect("a job line"));
    let _ = decode(field);
    let current = Current::of(field);
    let before = match &current {
        Current::Foreign => return,
        Current::Empty => String::new(),
        Current::Ours(text) => text.clone(),
    };
    // slurmdbd's way takes up to MAX_VALUE_BYTES; scontrol's input line much less.
    for max in [MAX_VALUE_BYTES, 3968] {
        if let Some(value) = merged(mine.job, &before, std::slice::from_ref(&mine), max) {
            assert!(value.len() <= max, "{} > {max}", value.len());
            assert!(holds(&Current::of(&value), std::slice::from_ref(&mine)));
            assert!(decode(&value).is_some());
        }
    }
});
