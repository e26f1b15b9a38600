//! Sizes as administrators write them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(mib) = ldm_api::parse_size_mib(text) {
            assert!(mib > 0);
            // What is printed parses back to the same amount.
            assert_eq!(ldm_api::parse_size_mib(&ldm_api::format_mib(mib)), Ok(mib));
        }
    }
});
