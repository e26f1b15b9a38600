//! The source's connection to a target ldmd: pinned TLS, Hello, and
//! authentication.

use super::protocol::{compatible, ToSource, ToTarget, PROTOCOL_VERSION};
use crate::daemon::Daemon;
use crate::error::{refuse, Result};
use crate::ops::accounts::{resolve, target_key};
use ldm_api::migration::{Auth, MigrateRequest};
use ldm_api::ErrorKind;
use ldm_peer::{ClientStream, Fingerprint, Framed};

/// An authenticated connection to a target.
pub struct Peer {
    /// Message channel.
    pub ch: Framed<ClientStream>,
    /// The protocol version the target speaks (its Hello).
    pub version: u32,
}

/// Connects, checks the target's certificate against the pinned one (or the
/// one just accepted by the administrator), and authenticates.
pub async fn connect(d: &Daemon, m: &MigrateRequest) -> Result<Peer> {
    let with_cert = matches!(m.auth, Auth::Certificate);
    let (mut ch, version) =
        open(d, &m.host, m.port, m.accept_fingerprint.clone(), with_cert).await?;
    let key = target_key(&m.host, m.port);
    let lost = |e: ldm_peer::Error| {
        refuse(
            ErrorKind::Peer,
            format!("lost the connection to {key}: {e}"),
        )
    };
    ch.send(&ToTarget::Auth {
        user: m.user.clone(),
        password: match &m.auth {
            Auth::Password(p) => Some(p.clone()),
            Auth::Certificate => None,
        },
    })
    .await
    .map_err(lost)?;
    match ch.recv::<ToSource>().await.map_err(lost)? {
        Some(ToSource::AuthOk { .. }) => Ok(Peer { ch, version }),
        Some(ToSource::Error { message }) => Err(refuse(ErrorKind::Denied, message)),
        _ => Err(refuse(
            ErrorKind::Peer,
            format!("{key} closed the connection during authentication"),
        )),
    }
}

/// Opens a connection to the target's ldmd: pinned TLS (the pinned
/// fingerprint, or `accept` just accepted by the administrator, which is
/// then pinned), with this host's certificate if `with_cert`, and Hello.
/// Returns the channel and the protocol version the target speaks.
pub async fn open(
    d: &Daemon,
    host: &str,
    port: u16,
    accept: Option<String>,
    with_cert: bool,
) -> Result<(Framed<ClientStream>, u32)> {
    let key = target_key(host, port);
    let pinned = d.db.trust(&key, "target")?;
    let parse = |s: &str| {
        s.parse::<Fingerprint>()
            .map_err(|e| refuse(ErrorKind::BadRequest, e.to_string()))
    };
    let expected = match (&pinned, &accept) {
        (Some(p), Some(a)) if parse(p)? != parse(a)? => {
            return Err(refuse(
                ErrorKind::Denied,
                format!(
                    "the certificate of {key} has changed: expected fingerprint {p}, got {a}. If the host was reinstalled, remove the old trust with `ldm remove-trust {key}` and add it again; otherwise someone may be intercepting the connection"
                ),
            ))
        }
        (Some(p), _) => parse(p)?,
        (None, Some(a)) => parse(a)?,
        (None, None) => {
            return Err(refuse(
                ErrorKind::Denied,
                format!("host {key} is not trusted yet: run `ldm add-trust {key}` after checking its fingerprint"),
            ))
        }
    };
    let addr = resolve(host, port).await?;
    let cfg = ldm_peer::client_config(with_cert.then_some(&d.identity), expected)?;
    let stream = ldm_peer::connect_named(&key, addr, cfg)
        .await
        .map_err(|e| match e {
            ldm_peer::Error::CertificateChanged { .. } => refuse(ErrorKind::Denied, e.to_string()),
            other => refuse(ErrorKind::Peer, other.to_string()),
        })?;
    if pinned.is_none() {
        d.db.put_trust(&key, "target", &expected.to_string())?;
        tracing::info!(host = %key, fingerprint = %expected, "pinned the target's certificate");
    }
    let mut ch = Framed::new(stream);
    let lost = |e: ldm_peer::Error| {
        refuse(
            ErrorKind::Peer,
            format!("lost the connection to {key}: {e}"),
        )
    };
    ch.send(&ToTarget::Hello {
        version: PROTOCOL_VERSION,
        host: d.inv.hostname.clone(),
    })
    .await
    .map_err(lost)?;
    let version = match ch.recv::<ToSource>().await.map_err(lost)? {
        Some(ToSource::Hello { version, .. }) => {
            if !compatible(PROTOCOL_VERSION, version) {
                return Err(refuse(
                    ErrorKind::Peer,
                    format!("{key} speaks migration protocol {version}, this host {PROTOCOL_VERSION}: upgrade the older host"),
                ));
            }
            version
        }
        Some(ToSource::Error { message }) => return Err(refuse(ErrorKind::Peer, message)),
        _ => {
            return Err(refuse(
                ErrorKind::Peer,
                format!("{key} did not answer like an ldmd"),
            ))
        }
    };
    Ok((ch, version))
}
