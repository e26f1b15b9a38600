//! Memory sizes as administrators write them: `512M`, `2G`, `1536m`, `1g`.

use thiserror::Error;

/// A size the user wrote that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SizeError {
    /// Not a number with an optional unit.
    #[error("'{0}' is not a size: write a number with a unit, for example 512M or 2G")]
    Malformed(String),
    /// Not a whole number of MiB.
    #[error("'{0}' is not a whole number of megabytes: use a multiple of 1M")]
    NotWholeMib(String),
    /// Zero.
    #[error("a size of zero is not allowed")]
    Zero,
}

/// Parses a size into MiB. Units K, M, G, T (optionally followed by B), case
/// insensitive; a bare number is in bytes, as in Oracle's ldm.
pub fn parse_size_mib(text: &str) -> Result<u64, SizeError> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let body = upper.strip_suffix('B').unwrap_or(&upper);
    let (digits, mult): (&str, u128) = match body.chars().last() {
        Some('K') => (&body[..body.len() - 1], 1 << 10),
        Some('M') => (&body[..body.len() - 1], 1 << 20),
        Some('G') => (&body[..body.len() - 1], 1 << 30),
        Some('T') => (&body[..body.len() - 1], 1 << 40),
        Some(c) if c.is_ascii_digit() => (body, 1),
        _ => return Err(SizeError::Malformed(text.to_string())),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(SizeError::Malformed(text.to_string()));
    }
    let n: u128 = digits
        .parse()
        .map_err(|_| SizeError::Malformed(text.to_string()))?;
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| SizeError::Malformed(text.to_string()))?;
    if bytes == 0 {
        return Err(SizeError::Zero);
    }
    if !bytes.is_multiple_of(1 << 20) {
        return Err(SizeError::NotWholeMib(text.to_string()));
    }
    u64::try_from(bytes >> 20).map_err(|_| SizeError::Malformed(text.to_string()))
}

/// Formats MiB the way `ldm list` shows memory: `512M`, `1G`, `1536M`.
pub fn format_mib(mib: u64) -> String {
    if mib >= 1024 * 1024 && mib.is_multiple_of(1024 * 1024) {
        format!("{}T", mib / (1024 * 1024))
    } else if mib >= 1024 && mib.is_multiple_of(1024) {
        format!("{}G", mib / 1024)
    } else {
        format!("{mib}M")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_size_mib("512M"), Ok(512));
        assert_eq!(parse_size_mib("512m"), Ok(512));
        assert_eq!(parse_size_mib("2G"), Ok(2048));
        assert_eq!(parse_size_mib("2gb"), Ok(2048));
        assert_eq!(parse_size_mib("1048576K"), Ok(1024));
        assert_eq!(parse_size_mib("1073741824"), Ok(1024));
        assert_eq!(parse_size_mib(" 1T "), Ok(1024 * 1024));
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "M", "abc", "1.5G", "-1G", "12X", "G2"] {
            assert!(
                matches!(parse_size_mib(bad), Err(SizeError::Malformed(_))),
                "{bad}"
            );
        }
        assert_eq!(parse_size_mib("0M"), Err(SizeError::Zero));
        assert!(matches!(
            parse_size_mib("1000K"),
            Err(SizeError::NotWholeMib(_))
        ));
    }

    #[test]
    fn formats() {
        assert_eq!(format_mib(512), "512M");
        assert_eq!(format_mib(1024), "1G");
        assert_eq!(format_mib(1536), "1536M");
        assert_eq!(format_mib(24 * 1024), "24G");
    }
}
