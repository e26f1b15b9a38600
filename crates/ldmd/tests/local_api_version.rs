//! The local socket refuses a client of another local API version with a
//! message that says so, and reports its own versions to `ldm -V`.

mod common;

use common::Host;
use ldm_api::{ErrorKind, Response, LOCAL_API_VERSION};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// Sends one raw line and reads the one answer.
async fn raw(h: &Host, line: &str) -> Response {
    let s = UnixStream::connect(h.root().join(ldm_api::SOCKET_NAME))
        .await
        .expect("connect");
    let (rd, mut wr) = s.into_split();
    wr.write_all(format!("{line}\n").as_bytes()).await.unwrap();
    let mut answer = String::new();
    BufReader::new(rd).read_line(&mut answer).await.unwrap();
    serde_json::from_str(&answer).expect("a response line")
}

fn refusal(r: Response) -> String {
    match r {
        Response::Err(e) => {
            assert_eq!(e.kind, ErrorKind::BadRequest);
            e.message
        }
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_of_another_version_is_refused_clearly() {
    let h = Host::start("h").await;
    let next = LOCAL_API_VERSION + 1;
    let m = refusal(raw(&h, &format!(r#"{{"api":{next},"op":"host"}}"#)).await);
    assert!(m.contains(&format!("local API version {next}")), "{m}");
    assert!(m.contains(&format!("version {LOCAL_API_VERSION}")), "{m}");
    assert!(m.contains("ldm -V"), "{m}");
    // A request this ldmd does not know, from a newer client: the version
    // is what the refusal names.
    let m = refusal(raw(&h, &format!(r#"{{"api":{next},"op":"evacuate"}}"#)).await);
    assert!(m.contains(&format!("local API version {next}")), "{m}");
    // A client from before versioning (or a script that forgot it).
    let m = refusal(raw(&h, r#"{"op":"list","names":[]}"#).await);
    assert!(m.contains("no local API version"), "{m}");
    // The same request with the version is answered.
    let ok = raw(
        &h,
        &format!(r#"{{"api":{LOCAL_API_VERSION},"op":"list","names":[]}}"#),
    )
    .await;
    assert!(matches!(ok, Response::Ok(_)), "{ok:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_reports_its_versions() {
    let h = Host::start("h").await;
    let v = h.host_view().await;
    assert_eq!(v.api_version, Some(LOCAL_API_VERSION));
    assert_eq!(
        v.peer_protocol,
        Some(ldmd::migration::protocol::PROTOCOL_VERSION)
    );
    let line = ldm::version::daemon(&v, h.root());
    assert!(
        line.starts_with(&format!(
            "ldmd {} (local API {LOCAL_API_VERSION}, peer protocol",
            env!("CARGO_PKG_VERSION")
        )),
        "{line}"
    );
}
