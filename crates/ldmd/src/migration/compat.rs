//! What a target of the previous protocol version cannot receive.
//!
//! A peer one release apart is accepted, but an older target ignores the
//! fields of an offer it does not know (serde drops unknown keys): a domain
//! would arrive without its vnets, or with another machine. The source
//! therefore refuses, in phase 1 (the dry run included), every offer that
//! uses something the target's version does not carry.
//!
//! Within a version, an optional field an older target ignores is
//! harmless or fails safe: the boot memory size of a running domain
//! with hot-pluggable memory (`DomainOffer::boot_memory_kib`) is only
//! sent for machines whose boot memory is padded, and a target that
//! builds it without the pad makes QEMU refuse the incoming stream
//! (a RAM block of another length), so the source resumes.

use super::protocol::DomainOffer;

/// The first protocol version that carries vnets, vCPU slots,
/// hot-pluggable memory and storage copies.
pub const VNETS_SLOTS_COPY: u32 = 3;

/// Each part of `offer` that a target speaking `version` would drop, as a
/// failure naming it; `target` is how the target is called in messages.
pub fn failures(version: u32, offer: &DomainOffer, target: &str) -> Vec<String> {
    if version >= VNETS_SLOTS_COPY {
        return Vec::new();
    }
    let why = |what: String| {
        format!(
            "{target} speaks migration protocol {version}, which does not carry {what}: the domain would arrive without it; upgrade ldm on {target} first"
        )
    };
    let mut out = Vec::new();
    if !offer.spec.networks.is_empty() {
        let names: Vec<String> = offer
            .spec
            .networks
            .iter()
            .map(|n| format!("{} on {}", n.name, n.switch))
            .collect();
        out.push(why(format!(
            "virtual networks (vnets {})",
            names.join(", ")
        )));
    }
    if let Some(m) = offer.spec.max_vcpus {
        out.push(why(format!("hot-pluggable vCPU slots (max-vcpus {m})")));
    }
    if let Some(m) = offer.spec.max_memory_mib {
        out.push(why(format!(
            "hot-pluggable memory (max-memory {})",
            ldm_api::format_mib(m)
        )));
    }
    if offer.copy_storage {
        out.push(why("storage copies (--copy-storage)".into()));
    }
    out
}

/// The first protocol version that carries post-copy (`Postcopy`,
/// `PostcopyRunning`, the tuning's `postcopy`).
pub const POSTCOPY: u32 = 4;

/// Whether a move to a target speaking `version` may switch to
/// post-copy. `Err` is the phase-1 failure of `--postcopy=always`; an
/// `auto` move to an older target runs pre-copy alone (`Ok(false)`).
pub fn postcopy(
    version: u32,
    mode: ldm_api::migration::PostcopyMode,
    target: &str,
) -> Result<bool, String> {
    use ldm_api::migration::PostcopyMode;
    match mode {
        PostcopyMode::Never => Ok(false),
        _ if version >= POSTCOPY => Ok(true),
        PostcopyMode::Auto => Ok(false),
        PostcopyMode::Always => Err(format!(
            "{target} speaks migration protocol {version}, which has no post-copy (--postcopy=always): upgrade ldm on {target} first, or use --postcopy=auto or never"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_target_is_told_what_it_would_drop() {
        let offer: DomainOffer = serde_json::from_str(include_str!(
            "../../tests/golden/peer/to-target-check-vnets.json"
        ))
        .unwrap();
        assert!(failures(VNETS_SLOTS_COPY, &offer, "hostB").is_empty());
        let f = failures(VNETS_SLOTS_COPY - 1, &offer, "hostB");
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].starts_with("hostB speaks migration protocol 2, which does not carry virtual networks (vnets vnet0 on primary-vsw0)"), "{f:?}");
        let mut more = offer.clone();
        more.spec.max_vcpus = Some(4);
        more.copy_storage = true;
        assert_eq!(failures(2, &more, "hostB").len(), 3);
        more.spec.networks.clear();
        more.spec.max_vcpus = None;
        more.copy_storage = false;
        assert!(failures(2, &more, "hostB").is_empty());
        // Hot-pluggable memory: a stopped domain would lose its
        // max-memory, a running one arrive in another machine.
        let hotmem: DomainOffer = serde_json::from_str(include_str!(
            "../../tests/golden/peer/to-target-check-boot-memory.json"
        ))
        .unwrap();
        assert!(failures(VNETS_SLOTS_COPY, &hotmem, "hostB").is_empty());
        let f = failures(2, &hotmem, "hostB");
        assert!(
            f.iter().any(|f| f.starts_with(
                "hostB speaks migration protocol 2, which does not carry hot-pluggable memory (max-memory 2G): the domain would arrive without it; upgrade ldm on hostB first"
            )),
            "{f:?}"
        );
    }

    #[test]
    fn an_older_target_gets_no_postcopy() {
        use ldm_api::migration::PostcopyMode as M;
        assert_eq!(postcopy(POSTCOPY, M::Auto, "hostB"), Ok(true));
        assert_eq!(postcopy(POSTCOPY, M::Always, "hostB"), Ok(true));
        assert_eq!(postcopy(POSTCOPY, M::Never, "hostB"), Ok(false));
        assert_eq!(postcopy(POSTCOPY - 1, M::Auto, "hostB"), Ok(false));
        assert_eq!(postcopy(POSTCOPY - 1, M::Never, "hostB"), Ok(false));
        let e = postcopy(POSTCOPY - 1, M::Always, "hostB").unwrap_err();
        assert!(
            e.starts_with("hostB speaks migration protocol 3, which has no post-copy"),
            "{e}"
        );
    }
}
