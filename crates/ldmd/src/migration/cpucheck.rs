//! Whether this host can give an arriving guest every CPU feature its CPU
//! model has: QEMU expands the offered model and this host's native model
//! (`--native-cpu`, else `host` or `max`) under this host's accelerator,
//! and the features of the first missing from the second are named.
//! Expansions are kept per model for the daemon's life.

use crate::daemon::Daemon;
use ldm_api::{CpuArch, DomainState};
use std::collections::BTreeSet;

use super::protocol::DomainOffer;

/// What the CPU comparison found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CpuFit {
    /// Features of the offered model this host's native model lacks.
    pub missing: Vec<String>,
    /// This host's native model, as the message names it.
    pub native: String,
    /// Why QEMU could not be asked, if it could not.
    pub problem: Option<String>,
}

/// Compares the offer's CPU model with this host's native model. Nothing
/// to compare for an inactive domain or one without a model.
pub async fn fit(d: &Daemon, offer: &DomainOffer) -> CpuFit {
    let native = d.inv.cpu_model_for(CpuArch::Native);
    let mut fit = CpuFit {
        native: native.clone(),
        ..Default::default()
    };
    let Some(model) = offer.cpu_model.as_deref() else {
        return fit;
    };
    if offer.state == DomainState::Inactive || !ldm_qemu::is_model_name(model) {
        return fit;
    }
    match (features(d, model).await, features(d, &native).await) {
        (Ok(want), Ok(have)) => fit.missing = want.difference(&have).cloned().collect(),
        (Err(e), _) | (_, Err(e)) => fit.problem = Some(e),
    }
    fit
}

/// The features of `model` under this host's accelerator, from the cache
/// or from QEMU.
async fn features(d: &Daemon, model: &str) -> Result<BTreeSet<String>, String> {
    if let Some(f) = d
        .cpu_features
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(model)
    {
        return Ok(f.clone());
    }
    let qemu = d.inv.qemu().map_err(|e| e.to_string())?;
    let f = qemu
        .cpu_features(d.inv.accel, model)
        .await
        .map_err(|e| format!("QEMU cannot expand the CPU model {model}: {e}"))?;
    d.cpu_features
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(model.to_string(), f.clone());
    Ok(f)
}

/// The failure for a CPU that does not fit, if it does not. Pure.
pub fn failure(offer: &DomainOffer, host: &str, fit: &CpuFit) -> Option<String> {
    let name = &offer.spec.name;
    let model = offer.cpu_model.as_deref().unwrap_or("?");
    if let Some(p) = &fit.problem {
        return Some(format!(
            "The CPU of {name} ({model}) cannot be compared with {host}'s: {p}"
        ));
    }
    if fit.missing.is_empty() {
        return None;
    }
    Some(format!(
        "Domain {name} has cpu-arch={} (CPU model {model}); the CPU of {host} ({}) lacks its features {}: use a cpu-arch both hosts offer (generic or migration-class1; a delayed reconfiguration while it runs)",
        offer.spec.cpu_arch,
        fit.native,
        fit.missing.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_features_are_named() {
        let offer: DomainOffer = serde_json::from_value(serde_json::json!({
            "spec": {"name": "ldg1", "uuid": "6f1c0a4e-2b7d-4c1e-9a53-0d8f7e6b5a41",
                     "cpu_arch": "native", "vcpus": 1, "memory_mib": 512, "vars": {}},
            "state": "active", "machine_type": "pc-i440fx-10.0",
            "cpu_model": "Skylake-Client-v1", "source_accel": "tcg",
            "source_cpu": "Skylake-Client-v1", "source_qemu": "10.0.2"
        }))
        .unwrap();
        let mut fit = CpuFit {
            native: "Nehalem-v1".into(),
            ..Default::default()
        };
        assert_eq!(failure(&offer, "hostB", &fit), None);
        fit.missing = vec!["avx".into(), "avx2".into()];
        let m = failure(&offer, "hostB", &fit).unwrap();
        assert!(m.contains("lacks its features avx avx2"), "{m}");
        assert!(
            m.contains("hostB (Nehalem-v1)") || m.contains("hostB"),
            "{m}"
        );
        fit.problem = Some("no QEMU".into());
        assert!(failure(&offer, "hostB", &fit).unwrap().contains("no QEMU"));
    }
}
