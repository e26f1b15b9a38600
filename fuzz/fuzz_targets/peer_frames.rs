//! Bytes from an unauthenticated peer, after TLS: the frame decoder with
//! the pre-authentication limit, then the protocol's messages.
#![no_main]

use ldm_peer::{Framed, PRE_AUTH_MAX_FRAME_LEN};
use ldmd::migration::protocol::ToTarget;
use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncWriteExt;

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (mut tx, rx) = tokio::io::duplex(64 * 1024);
        let _ = tx.write_all(data).await;
        drop(tx);
        let mut ch = Framed::with_limit(rx, PRE_AUTH_MAX_FRAME_LEN);
        // At most as many messages as could fit; each error ends it, as in
        // the listener.
        for _ in 0..64 {
            match ch.recv::<ToTarget>().await {
                Ok(Some(_)) => {}
                _ => break,
            }
        }
    });
});
