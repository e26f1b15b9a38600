//! UPTIME as `ldm list` shows it: `2h 7m`, `21d 5h 22m`, `45s`.

/// Formats a duration in seconds like Oracle's ldm.
pub fn format_uptime(secs: u64) -> String {
    let d = secs / 86_400;
    let h = (secs % 86_400) / 3600;
    let m = (secs % 3600) / 60;
    let s = secs % 60;
    if d > 0 {
        format!("{d}d {h}h {m}m")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(format_uptime(45), "45s");
        assert_eq!(format_uptime(6 * 60 + 5), "6m");
        assert_eq!(format_uptime(2 * 3600 + 7 * 60), "2h 7m");
        assert_eq!(
            format_uptime(21 * 86_400 + 5 * 3600 + 22 * 60),
            "21d 5h 22m"
        );
    }
}
