//! The failing assertion, repeated after the logs a failed test prints.
//!
//! A failed end-to-end test dumps the tail of every ldmd and QEMU log
//! (see `Host`'s `Drop`); the panic message comes before them and a long
//! CI log cut in the middle loses it. [`install`] keeps the message and
//! [`repeat`] prints it again after each dump.

use std::panic::PanicHookInfo;
use std::sync::{Mutex, Once};

static MESSAGE: Mutex<Option<String>> = Mutex::new(None);
static INSTALL: Once = Once::new();

/// Chains a panic hook that keeps the message and where it was raised.
/// Idempotent; the default hook still prints as before.
pub fn install() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(mut m) = MESSAGE.lock() {
                *m = Some(describe(info));
            }
            previous(info);
        }));
    });
}

/// Prints the kept message, when the thread is unwinding from a panic.
pub fn repeat() {
    if !std::thread::panicking() {
        return;
    }
    let kept = MESSAGE.lock().ok().and_then(|m| m.clone());
    if let Some(m) = kept {
        eprintln!("---- the test failed: {m} ----");
    }
}

fn describe(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a panic without a message)".into());
    match info.location() {
        Some(l) => format!("{}:{}: {text}", l.file(), l.line()),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_and_its_place_are_kept() {
        install();
        let r = std::panic::catch_unwind(|| panic!("the copy went {}", "missing"));
        assert!(r.is_err());
        let kept = MESSAGE.lock().unwrap().clone().unwrap();
        assert!(kept.contains("failure.rs:"), "{kept}");
        assert!(kept.ends_with("the copy went missing"), "{kept}");
    }
}
