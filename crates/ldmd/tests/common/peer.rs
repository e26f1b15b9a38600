//! A raw peer-protocol client: speaks to a target ldmd as a source would,
//! message by message, so tests can stop anywhere (a source that vanishes
//! after `Prepare`, a client of another protocol version).

use super::{Host, PASSWORD};
use ldm_api::{DomainSpec, DomainState};
use ldm_peer::{ClientStream, Fingerprint, Framed};
use ldmd::migration::protocol::{DomainOffer, ToSource, ToTarget, PROTOCOL_VERSION};

/// A TLS connection to a target's peer listener.
pub struct RawPeer {
    /// The framed channel.
    pub ch: Framed<ClientStream>,
}

impl RawPeer {
    /// Connects with TLS, pinning the target's certificate.
    pub async fn connect(target: &Host) -> RawPeer {
        let fp: Fingerprint = target.fingerprint().await.parse().expect("fingerprint");
        let cfg = ldm_peer::client_config(None, fp).expect("client config");
        let stream = ldm_peer::connect(target.peer_addr, cfg)
            .await
            .expect("TLS connection to the target");
        RawPeer {
            ch: Framed::new(stream),
        }
    }

    /// Sends one message.
    pub async fn send(&mut self, m: &ToTarget) {
        self.ch.send(m).await.expect("send to the target");
    }

    /// Receives one answer (`None` when the target closed the connection).
    pub async fn recv(&mut self) -> Option<ToSource> {
        self.ch.recv::<ToSource>().await.ok().flatten()
    }

    /// Hello with `version`; returns the target's answer.
    pub async fn hello(&mut self, version: u32) -> Option<ToSource> {
        self.send(&ToTarget::Hello {
            version,
            host: "raw-source".into(),
        })
        .await;
        self.recv().await
    }

    /// Hello and password authentication as `user`; panics unless accepted.
    pub async fn authenticate(target: &Host, user: &str) -> RawPeer {
        let mut p = RawPeer::connect(target).await;
        match p.hello(PROTOCOL_VERSION).await {
            Some(ToSource::Hello { .. }) => {}
            other => panic!("Hello answered {other:?}"),
        }
        p.send(&ToTarget::Auth {
            user: user.into(),
            password: Some(PASSWORD.into()),
        })
        .await;
        match p.recv().await {
            Some(ToSource::AuthOk { .. }) => p,
            other => panic!("Auth answered {other:?}"),
        }
    }
}

/// What a source offers for a domain in `state` on a host like `like`.
pub async fn offer(
    like: &Host,
    name: &str,
    state: DomainState,
    vcpus: u32,
    memory_mib: u64,
) -> DomainOffer {
    let h = like.host_view().await;
    DomainOffer {
        spec: DomainSpec {
            name: name.into(),
            uuid: uuid::Uuid::new_v4(),
            cpu_arch: ldm_api::CpuArch::Native,
            vcpus,
            max_vcpus: None,
            max_memory_mib: None,
            boot_memory_mib: None,
            memory_mib,
            vars: Default::default(),
            migration: Default::default(),
            disks: Vec::new(),
            networks: Vec::new(),
        },
        state,
        machine_type: None,
        cpu_model: None,
        source_accel: h.accel,
        source_cpu: h.cpu_model,
        source_qemu: h.qemu_version,
        volumes: Vec::new(),
        copy_storage: false,
        overwrite_storage: false,
        boot_memory_kib: None,
    }
}
