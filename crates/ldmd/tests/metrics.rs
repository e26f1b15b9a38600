//! `ldmd --metrics`: the exposition parses as Prometheus text, and its
//! gauges, counters and histograms follow what happens on the hosts.

mod common;

use common::http::get;
use common::peer::{offer, RawPeer};
use common::{eventually, Host};
use ldm_api::migration::Auth;
use ldm_api::request::UserRole;
use ldm_api::{DomainState, Request};
use ldmd::migration::protocol::{ToSource, ToTarget};
use prometheus_parse::{Scrape, Value};

/// Scrapes a host and parses the answer.
async fn scrape(h: &Host) -> Scrape {
    let a = get(h.metrics_addr, "/metrics").await;
    assert_eq!(a.status, 200);
    assert!(
        a.header("content-type")
            .is_some_and(|c| c.starts_with("application/openmetrics-text")),
        "{:?}",
        a.headers
    );
    assert!(a.body.ends_with("# EOF\n"), "not a complete exposition");
    let lines = a.body.lines().map(|l| Ok(l.to_string()));
    let s = Scrape::parse(lines).expect("the exposition parses");
    // Every line that is not a comment is a sample the parser understood.
    let sample_lines = a.body.lines().filter(|l| !l.starts_with('#')).count();
    let buckets: usize = s
        .samples
        .iter()
        .map(|x| match &x.value {
            Value::Histogram(b) => b.len(),
            _ => 1,
        })
        .sum();
    assert_eq!(
        buckets, sample_lines,
        "lines the parser skipped:\n{}",
        a.body
    );
    s
}

/// The value of `name` with the given labels (all must match), if present.
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(b) => b.last().map(|c| c.count).unwrap_or(0.0),
            Value::Summary(_) => f64::NAN,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_domains_migrations_and_logins() {
    let src = Host::start("src").await;
    let dst = Host::start("dst").await;
    dst.add_user("admin", UserRole::Management).await;
    src.add_domain("ldg1", 2, 1024, true).await;
    src.add_domain("ldg2", 1, 256, false).await;

    let s = scrape(&src).await;
    assert_eq!(value(&s, "ldm_domains", &[("state", "bound")]), Some(1.0));
    assert_eq!(
        value(&s, "ldm_domains", &[("state", "inactive")]),
        Some(1.0)
    );
    assert_eq!(value(&s, "ldm_domains", &[("state", "active")]), Some(0.0));
    assert_eq!(
        value(&s, "ldm_domain_vcpus", &[("domain", "ldg1")]),
        Some(2.0)
    );
    assert_eq!(
        value(&s, "ldm_domain_memory_bytes", &[("domain", "ldg1")]),
        Some(1024.0 * 1048576.0)
    );
    assert_eq!(
        value(&s, "ldm_domain_uptime_seconds", &[("domain", "ldg1")]),
        None,
        "not running"
    );

    // A refused login: counted on the target, a failed migration on the source.
    let mut m = src.migrate_request(&dst, "ldg1", "admin").await;
    m.auth = Auth::Password("wrong".into());
    src.call(Request::Migrate(m))
        .await
        .expect_err("wrong password");
    let d = scrape(&dst).await;
    assert_eq!(
        value(
            &d,
            "ldm_peer_auth_failures_total",
            &[("reason", "credentials")]
        ),
        Some(1.0)
    );
    let s = scrape(&src).await;
    let failed = [("role", "source"), ("outcome", "failed")];
    assert_eq!(value(&s, "ldm_migrations_total", &failed), Some(1.0));

    // A dry run is not a migration.
    let mut m = src.migrate_request(&dst, "ldg1", "admin").await;
    m.dry_run = true;
    src.ok(Request::Migrate(m)).await;
    assert_eq!(
        value(&scrape(&src).await, "ldm_migrations_total", &failed),
        Some(1.0)
    );

    // A completed cold migration, on both sides.
    let m = src.migrate_request(&dst, "ldg1", "admin").await;
    src.ok(Request::Migrate(m)).await;
    let s = scrape(&src).await;
    let done = [("role", "source"), ("outcome", "completed")];
    assert_eq!(value(&s, "ldm_migrations_total", &done), Some(1.0));
    assert_eq!(
        value(&s, "ldm_migration_duration_seconds", &[("kind", "cold")]),
        Some(1.0),
        "one observation"
    );
    assert_eq!(value(&s, "ldm_domains", &[("state", "bound")]), Some(0.0));
    assert_eq!(
        value(&s, "ldm_domain_vcpus", &[("domain", "ldg1")]),
        None,
        "gone from here"
    );
    let d = scrape(&dst).await;
    let done = [("role", "target"), ("outcome", "completed")];
    assert_eq!(value(&d, "ldm_migrations_total", &done), Some(1.0));
    assert_eq!(value(&d, "ldm_domains", &[("state", "bound")]), Some(1.0));
    assert_eq!(
        value(&d, "ldm_domain_vcpus", &[("domain", "ldg1")]),
        Some(2.0)
    );

    // A source that vanishes after Prepare: the target rolls back.
    let mut p = RawPeer::authenticate(&dst, "admin").await;
    p.send(&ToTarget::Prepare {
        offer: offer(&dst, "ldg9", DomainState::Bound, 1, 256).await,
        started_at: None,
        tuning: Default::default(),
        id: String::new(),
    })
    .await;
    assert!(matches!(p.recv().await, Some(ToSource::Prepared { .. })));
    drop(p);
    let rolled = [("role", "target"), ("outcome", "rolled-back")];
    eventually("the target counts the rollback", || async {
        value(&scrape(&dst).await, "ldm_migrations_total", &rolled) == Some(1.0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_metrics_is_served() {
    let h = Host::start("h").await;
    let a = get(h.metrics_addr, "/").await;
    assert_eq!(a.status, 404);
    assert!(a.body.contains("/metrics"));
}
