// Shared by the config targets (included with `include!`): what every accepted Config obeys.
fn check_config(c: &oom_explain::config::Config) {
    assert!(c.headroom_percent <= 200, "{c:?}");
    assert!((50..=100).contains(&c.near_miss_percent), "{c:?}");
    assert!((1..=100).contains(&c.over_request_percent), "{c:?}");
    assert!(c.over_request_min_unused_mib <= 1 << 30, "{c:?}");
    for path in [
        Some(&c.spool_dir),
        Some(&c.job_log),
        c.evidence_dir.as_ref(),
        c.metrics_file.as_ref(),
        Some(&c.syslog.socket),
    ]
        .into_iter()
        .flatten()
    {
        assert!(path.is_absolute(), "{c:?}");
    }
    for text in [&c.highmem_partition, &c.support, &c.help_url].into_iter().flatten() {
        assert!(!text.is_empty() && !text.chars().any(char::is_control), "{c:?}");
    }
    assert!(oom_explain::syslog::valid_tag(&c.syslog.tag), "{c:?}");
    if let Some(bytes) = c.max_mem {
        assert!(bytes > 0 && bytes % (1 << 20) == 0, "{c:?}");
    }
}
