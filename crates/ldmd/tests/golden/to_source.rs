//! A sample of every message a target sends to a source.

use crate::SECRET;
use ldm_api::request::UserRole;
use ldmd::migration::protocol::{ToSource, PROTOCOL_VERSION};
use ldmd::migration::source::machine::Outcome;
use ldmd::migration::tunnel::Endpoint;

fn fingerprint() -> ldm_peer::Fingerprint {
    let hex: Vec<String> = (0..32).map(|i| format!("{i:02X}")).collect();
    hex.join(":").parse().unwrap()
}

pub fn to_source() -> Vec<(&'static str, ToSource)> {
    let all = vec![
        (
            "hello",
            ToSource::Hello {
                version: PROTOCOL_VERSION,
                host: "dst".into(),
            },
        ),
        (
            "auth-ok",
            ToSource::AuthOk {
                role: UserRole::Management,
            },
        ),
        (
            "checked",
            ToSource::Checked {
                failures: vec!["a failure".into()],
                warnings: vec!["a warning".into()],
                room: None,
                probe_bytes: None,
                first_touch_mib_s: None,
                postcopy_unavailable: None,
            },
        ),
        (
            "checked-room",
            ToSource::Checked {
                failures: vec![],
                warnings: vec![],
                room: Some(ldm_api::migration::Room {
                    free_vcpus: 6,
                    free_mib: 7168,
                    free_console_ports: None,
                }),
                probe_bytes: None,
                first_touch_mib_s: None,
                postcopy_unavailable: None,
            },
        ),
        (
            "checked-room-ports",
            ToSource::Checked {
                failures: vec![],
                warnings: vec![],
                room: Some(ldm_api::migration::Room {
                    free_vcpus: 6,
                    free_mib: 7168,
                    free_console_ports: Some(40),
                }),
                probe_bytes: None,
                first_touch_mib_s: None,
                postcopy_unavailable: None,
            },
        ),
        (
            "checked-probe",
            ToSource::Checked {
                failures: vec![],
                warnings: vec![],
                room: Some(ldm_api::migration::Room {
                    free_vcpus: 6,
                    free_mib: 7168,
                    free_console_ports: Some(40),
                }),
                probe_bytes: Some(64 << 20),
                first_touch_mib_s: None,
                postcopy_unavailable: None,
            },
        ),
        (
            "checked-no-postcopy",
            ToSource::Checked {
                failures: vec![],
                warnings: vec![],
                room: Some(ldm_api::migration::Room {
                    free_vcpus: 6,
                    free_mib: 7168,
                    free_console_ports: Some(40),
                }),
                probe_bytes: Some(64 << 20),
                first_touch_mib_s: None,
                postcopy_unavailable: Some("userfaultfd, which QEMU needs to receive a post-copy, is not available to ldmd here".into()),
            },
        ),
        (
            "checked-first-touch",
            ToSource::Checked {
                failures: vec![],
                warnings: vec![],
                room: Some(ldm_api::migration::Room {
                    free_vcpus: 6,
                    free_mib: 7168,
                    free_console_ports: Some(40),
                }),
                probe_bytes: Some(64 << 20),
                first_touch_mib_s: Some(1388),
                postcopy_unavailable: None,
            },
        ),
        ("probed", ToSource::Probed { bytes: 1 << 20 }),
        (
            "postcopy-running",
            ToSource::PostcopyRunning {
                resumed_after_ms: 42,
            },
        ),
        (
            "prepared-cold",
            ToSource::Prepared {
                data: None,
                secret: Some(SECRET.into()),
            },
        ),
        (
            "prepared-live",
            ToSource::Prepared {
                data: Some(Endpoint {
                    addr: "192.0.2.20:40000".parse().unwrap(),
                    fingerprint: fingerprint(),
                    token: [7u8; ldmd::migration::tunnel::TOKEN_LEN],
                    nbd_token: None,
                }),
                secret: Some(SECRET.into()),
            },
        ),
        (
            "prepared-copy-storage",
            ToSource::Prepared {
                data: Some(Endpoint {
                    addr: "192.0.2.20:40000".parse().unwrap(),
                    fingerprint: fingerprint(),
                    token: [7u8; ldmd::migration::tunnel::TOKEN_LEN],
                    nbd_token: Some([9u8; ldmd::migration::tunnel::TOKEN_LEN]),
                }),
                secret: Some(SECRET.into()),
            },
        ),
        (
            "committed",
            ToSource::Committed {
                resumed_after_ms: 12,
                steps: None,
            },
        ),
        (
            "recovering",
            ToSource::Recovering {
                data: Endpoint {
                    addr: "192.0.2.20:40001".parse().unwrap(),
                    fingerprint: fingerprint(),
                    token: [8u8; ldmd::migration::tunnel::TOKEN_LEN],
                    nbd_token: None,
                },
            },
        ),
        ("aborted", ToSource::Aborted),
        (
            "outcome",
            ToSource::Outcome {
                outcome: Outcome::Committed,
            },
        ),
        (
            "error",
            ToSource::Error {
                message: "what to do".into(),
            },
        ),
    ];
    for (_, m) in &all {
        match m {
            ToSource::Hello { .. }
            | ToSource::AuthOk { .. }
            | ToSource::Checked { .. }
            | ToSource::Probed { .. }
            | ToSource::PostcopyRunning { .. }
            | ToSource::Prepared { .. }
            | ToSource::Committed { .. }
            | ToSource::Recovering { .. }
            | ToSource::Aborted
            | ToSource::Outcome { .. }
            | ToSource::Error { .. } => {}
        }
    }
    all
}
