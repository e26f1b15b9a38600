//! `ldmd --metrics` with a real guest: what an operator's `curl
//! ADDR/metrics` shows before and after a live migration.

use ldm_e2e::*;
use std::io::{Read, Write};

/// `GET /metrics` as curl would; the body.
fn scrape(h: &Host) -> String {
    let addr = h.metrics_addr().expect("started with metrics");
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.ends_with("# EOF\n"), "not a complete exposition");
    body.to_string()
}

/// The value of the sample `series` (name and labels exactly as written).
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn guest_metrics_follow_a_live_migration() {
    let _lock = guest_lock();
    let Pair { a, b, pw } =
        Pair::with(HostOpts::default().metrics(), HostOpts::default().metrics());

    boot_domain(&a, "ldg1", 1, "512M", "128,20");
    wait_for_memwork(&a, "ldg1", 2, FIRST_LINE_TIMEOUT);
    let m = scrape(&a);
    assert_eq!(
        sample(&m, r#"ldm_domains{state="active"}"#),
        Some(1.0),
        "{m}"
    );
    assert_eq!(sample(&m, r#"ldm_domain_vcpus{domain="ldg1"}"#), Some(1.0));
    assert_eq!(
        sample(&m, r#"ldm_domain_memory_bytes{domain="ldg1"}"#),
        Some(512.0 * 1048576.0)
    );
    assert!(sample(&m, r#"ldm_domain_uptime_seconds{domain="ldg1"}"#).is_some());
    assert!(sample(&m, r#"ldm_domain_util_percent{domain="ldg1"}"#).is_some());
    assert_eq!(
        sample(&m, r#"ldm_console_clients{domain="ldg1"}"#),
        Some(0.0)
    );
    let done = r#"ldm_migrations_total{role="source",outcome="completed"}"#;
    assert_eq!(sample(&m, done), Some(0.0));

    let target = format!("admin@{}", b.listen_addr().unwrap());
    a.ldm(&[
        "migrate-domain",
        "-p",
        pw.to_str().unwrap(),
        "ldg1",
        &target,
    ])
    .ok();

    let m = scrape(&a);
    assert_eq!(sample(&m, done), Some(1.0), "{m}");
    assert_eq!(sample(&m, r#"ldm_domains{state="active"}"#), Some(0.0));
    let live = r#"{kind="live"}"#;
    assert_eq!(
        sample(&m, &format!("ldm_migration_duration_seconds_count{live}")),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, &format!("ldm_migration_downtime_seconds_count{live}")),
        Some(1.0)
    );
    let bytes = sample(&m, &format!("ldm_migration_bytes_sum{live}")).unwrap();
    assert!(bytes > 1_000_000.0, "{bytes} bytes sent for a 512M guest");
    let downtime = sample(&m, &format!("ldm_migration_downtime_seconds_sum{live}")).unwrap();
    assert!(downtime > 0.0, "{m}");

    let m = scrape(&b);
    let target_done = r#"ldm_migrations_total{role="target",outcome="completed"}"#;
    assert_eq!(sample(&m, target_done), Some(1.0), "{m}");
    assert_eq!(sample(&m, r#"ldm_domains{state="active"}"#), Some(1.0));
    assert!(sample(&m, r#"ldm_domain_uptime_seconds{domain="ldg1"}"#).is_some());
    let line = wait_for_memwork(&b, "ldg1", 1, FIRST_LINE_TIMEOUT);
    assert_eq!((line.errors, line.status.as_str()), (0, "OK"), "{line:?}");
}
