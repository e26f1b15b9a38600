//! SHA-256 certificate fingerprints, the unit of trust between managers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// The SHA-256 digest of a certificate's DER encoding.
///
/// Displayed like `openssl x509 -noout -fingerprint -sha256` prints it: 32
/// uppercase hexadecimal byte pairs separated by `:`. Parsing accepts that
/// form in either case, optionally after a `SHA256:` or
/// `sha256 Fingerprint=` label, and also 64 hexadecimal digits without
/// separators. Serialized (serde) as the display string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of_der(cert_der: &[u8]) -> Self {
        Fingerprint(Sha256::digest(cert_der).into())
    }

    /// Wraps raw digest bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Fingerprint(bytes)
    }

    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidFingerprint {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        let mut s = input.trim();
        // Accept the labels that ssh-keygen and openssl print in front.
        for label in ["sha256 fingerprint=", "sha256:"] {
            if s.len() >= label.len() && s[..label.len()].eq_ignore_ascii_case(label) {
                s = &s[label.len()..];
                break;
            }
        }
        let hex_digits: String = if s.contains(':') {
            let pairs: Vec<&str> = s.split(':').collect();
            if pairs.len() != 32 {
                return Err(invalid(&format!(
                    "it has {} byte pairs instead of 32",
                    pairs.len()
                )));
            }
            if pairs.iter().any(|p| p.len() != 2) {
                return Err(invalid("every byte must be exactly two hexadecimal digits"));
            }
            pairs.concat()
        } else {
            s.to_owned()
        };
        if hex_digits.len() != 64 {
            return Err(invalid(&format!(
                "it has {} hexadecimal digits instead of 64",
                hex_digits.len()
            )));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&hex_digits, &mut bytes)
            .map_err(|_| invalid("it contains characters that are not hexadecimal digits"))?;
        Ok(Fingerprint(bytes))
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_uppercase_colon_pairs() {
        let fp = Fingerprint::of_der(b"abc");
        let s = fp.to_string();
        // SHA-256("abc") = ba7816bf...
        assert!(s.starts_with("BA:78:16:BF:"), "{s}");
        assert_eq!(s.len(), 32 * 3 - 1);
        assert_eq!(s.split(':').count(), 32);
    }

    #[test]
    fn roundtrips_through_text_and_json() {
        let fp = Fingerprint::of_der(b"certificate");
        assert_eq!(fp.to_string().parse::<Fingerprint>().unwrap(), fp);
        assert_eq!(
            fp.to_string()
                .to_lowercase()
                .parse::<Fingerprint>()
                .unwrap(),
            fp
        );
        assert_eq!(
            hex::encode(fp.as_bytes()).parse::<Fingerprint>().unwrap(),
            fp
        );
        assert_eq!(
            format!("sha256 Fingerprint={fp}")
                .parse::<Fingerprint>()
                .unwrap(),
            fp
        );
        let json = serde_json::to_string(&fp).unwrap();
        assert_eq!(json, format!("\"{fp}\""));
        assert_eq!(serde_json::from_str::<Fingerprint>(&json).unwrap(), fp);
    }

    #[test]
    fn rejects_malformed_text() {
        let fp = Fingerprint::of_der(b"x").to_string();
        for bad in [
            "",
            "AB:CD",
            &fp[..fp.len() - 3],
            &format!("{fp}:00"),
            &fp.replacen("A", "G", 1).replacen("0", "G", 1),
            &fp.replacen(':', "", 1),
        ] {
            let err = bad.parse::<Fingerprint>().unwrap_err();
            assert!(
                matches!(err, Error::InvalidFingerprint { .. }),
                "{bad}: {err}"
            );
        }
    }
}
