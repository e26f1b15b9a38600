//! A request line from any local user.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(line) = std::str::from_utf8(data) {
        if let Ok(req) = ldm_api::wire::decode_request(line) {
            // What decodes encodes again and decodes to the same request.
            let again = ldm_api::wire::encode_request(&req).expect("encode");
            assert_eq!(ldm_api::wire::decode_request(&again).ok(), Some(req));
        }
    }
});
