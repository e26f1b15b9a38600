//! The request line on the local socket: the [`Request`] as JSON with the
//! client's local API version beside its fields, e.g.
//! `{"api":1,"op":"list","names":[]}`. The daemon reads the version before
//! the request, so a client of another version is refused with a message
//! that says so, even when its request would not parse.

use crate::error::{ApiError, ErrorKind};
use crate::request::Request;
use crate::LOCAL_API_VERSION;

/// The key that carries the version.
pub const VERSION_KEY: &str = "api";

/// The line a client sends (without its newline).
pub fn encode_request(req: &Request) -> Result<String, ApiError> {
    let internal = |e: serde_json::Error| ApiError::new(ErrorKind::Internal, e.to_string());
    let mut v = serde_json::to_value(req).map_err(internal)?;
    if let Some(map) = v.as_object_mut() {
        map.insert(VERSION_KEY.into(), LOCAL_API_VERSION.into());
    }
    serde_json::to_string(&v).map_err(internal)
}

/// The request in a line a client sent; refuses a client of another local
/// API version (or of none) and a line that is not a request.
pub fn decode_request(line: &str) -> Result<Request, ApiError> {
    let bad = |m: String| ApiError::new(ErrorKind::BadRequest, m);
    let mut v: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| bad(format!("the request is not JSON ({e}): see docs/api.md")))?;
    let map = v
        .as_object_mut()
        .ok_or_else(|| bad("the request is not a JSON object: see docs/api.md".into()))?;
    match map.remove(VERSION_KEY).map(|x| x.as_u64()) {
        Some(Some(n)) if n == u64::from(LOCAL_API_VERSION) => {}
        Some(Some(n)) => {
            return Err(bad(format!(
                "this client speaks local API version {n} and ldmd {} version {LOCAL_API_VERSION}: use ldm and ldmd of the same release (`ldm -V` shows both versions)",
                env!("CARGO_PKG_VERSION")
            )))
        }
        _ => {
            return Err(bad(format!(
                "the request has no local API version (\"{VERSION_KEY}\": {LOCAL_API_VERSION}): this client is older than ldmd {}, or not ldm; use ldm of the same release, or see docs/api.md",
                env!("CARGO_PKG_VERSION")
            )))
        }
    }
    serde_json::from_value(v).map_err(|e| {
        bad(format!(
            "the request is not one ldmd knows ({e}): see docs/api.md"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_carries_the_version_and_comes_back() {
        for req in [
            Request::Host,
            Request::List {
                names: vec!["ldg1".into()],
            },
            Request::Stop {
                name: "ldg1".into(),
                force: true,
                mode: Default::default(),
                timeout_secs: None,
            },
        ] {
            let line = encode_request(&req).unwrap();
            assert!(
                line.contains(&format!("\"api\":{LOCAL_API_VERSION}")),
                "{line}"
            );
            assert_eq!(decode_request(&line).unwrap(), req);
        }
    }

    #[test]
    fn another_version_is_refused_by_name() {
        let e = decode_request(r#"{"api":999,"op":"host"}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert!(e.message.contains("local API version 999"), "{}", e.message);
        assert!(e.message.contains("same release"), "{}", e.message);
        // Even when the request itself is one this ldmd does not know.
        let e = decode_request(r#"{"api":2,"op":"evacuate-everything"}"#).unwrap_err();
        assert!(e.message.contains("version 2"), "{}", e.message);
        let e = decode_request(r#"{"op":"host"}"#).unwrap_err();
        assert!(e.message.contains("no local API version"), "{}", e.message);
        let e = decode_request(r#"{"api":1,"op":"no-such-op"}"#).unwrap_err();
        assert!(e.message.contains("not one ldmd knows"), "{}", e.message);
        assert!(decode_request("not json").is_err());
    }
}
