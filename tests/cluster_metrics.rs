//! The Prometheus counters (`metrics_file=`), read back by their real consumer: node_exporter's
//! textfile collector, which refuses a malformed file (`node_textfile_scrape_error 1`).
//!
//! Run by tests/run-all.sh on a lab started with
//! `metrics_file=$LAB/metrics/oom_explain.prom` and Debian's prometheus-node-exporter installed.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::Lab;

const ADDRESS: &str = "127.0.0.1:29100";

/// node_exporter with only the textfile collector, on the lab's metrics folder.
struct NodeExporter(Child);

impl NodeExporter {
    fn start(folder: &std::path::Path) -> NodeExporter {
        let child = Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address={ADDRESS}"))
            .arg("--collector.disable-defaults")
            .arg("--collector.textfile")
            .arg(format!(
                "--collector.textfile.directory={}",
                folder.display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-node-exporter (run-all installs Debian's package)");
        NodeExporter(child)
    }

    /// GET /metrics, as Prometheus scrapes it.
    fn scrape(&self) -> String {
        for _ in 0..50 {
            if let Ok(mut stream) = TcpStream::connect(ADDRESS) {
                let request = format!(
                    "GET /metrics HTTP/1.0\r\nHost: {ADDRESS}\r\nAccept: text/plain\r\n\r\n"
                );
                stream.write_all(request.as_bytes()).unwrap();
                let mut text = String::new();
                stream.read_to_string(&mut text).unwrap();
                return text;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("node_exporter did not answer on {ADDRESS}");
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn node_exporter_reads_the_counters_the_epilogs_wrote() {
    let lab = Lab::get();
    let folder = lab.lab.join("metrics");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A lab started again keeps this folder: count from zero.
    let _ = std::fs::remove_file(folder.join("oom_explain.prom"));
    let killed = lab.submit_alloc("metrics-oom", &["--mem=100M", "--oom-explain"], "400");
    let fine = lab.submit_alloc("metrics-fine", &["--mem=300M", "--oom-explain"], "20");
    assert_eq!(lab.wait(&killed), "OUT_OF_MEMORY");
    assert_eq!(lab.wait(&fine), "COMPLETED");
    assert_eq!(lab.job_records(&killed, 1, 30).len(), 1);
    assert_eq!(lab.job_records(&fine, 1, 30).len(), 1);
    // The epilog writes the counters right after the job's line.
    let file = folder.join("oom_explain.prom");
    let mut text = String::new();
    for _ in 0..50 {
        text = std::fs::read_to_string(&file).unwrap_or_default();
        if text.contains("outcome=\"none\"") && text.contains("outcome=\"under-allocation\"") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "node_exporter runs as its own user");

    let exporter = NodeExporter::start(&folder);
    let scraped = exporter.scrape();
    assert!(
        scraped.contains("node_textfile_scrape_error 0"),
        "node_exporter refused the file:\n{scraped}\n--- the file:\n{text}"
    );
    for series in [
        "oom_explain_job_records_total{outcome=\"under-allocation\",partition=\"debug\"} 1",
        "oom_explain_job_records_total{outcome=\"none\",partition=\"debug\"} 1",
        "oom_explain_oom_kills_total{partition=\"debug\"} 1",
    ] {
        assert!(
            scraped.lines().any(|l| l == series),
            "{series} not exposed:\n{scraped}"
        );
    }
    assert!(
        scraped.contains("# TYPE oom_explain_job_records_total counter"),
        "{scraped}"
    );
}
