//! A peer's offer: decoding and validation never panic, and an offer that
//! passes has only printable names.
#![no_main]

use ldm_qemu::Offered;
use ldmd::migration::protocol::DomainOffer;
use ldmd::migration::validate::offer_problems;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = serde_json::from_slice::<DomainOffer>(data) else {
        return;
    };
    let offered = Offered {
        machine_types: ["pc-i440fx-10.0".to_string()].into(),
        cpu_models: ["max".to_string(), "qemu64".to_string()].into(),
    };
    let problems = offer_problems(&offer, &offered);
    if problems.is_empty() {
        assert!(ldm_api::domain::check_domain_name(&offer.spec.name).is_ok());
        assert!((1..=255).contains(&offer.spec.vcpus));
        for v in [
            &offer.spec.vars.kernel,
            &offer.spec.vars.initrd,
            &offer.spec.vars.boot_args,
        ]
        .into_iter()
        .flatten()
        {
            assert!(!v.chars().any(char::is_control));
        }
    }
});
