//! `list-spconfig`: Oracle's listing of saved configurations.

use ldm_api::request::SpconfigView;

/// One line per configuration, `factory-default` first; `[current]` marks
/// the one in use, `[next poweron]` the one applied at the next boot when
/// that is another.
pub fn list(configs: &[SpconfigView]) -> String {
    let mut out = String::new();
    for c in configs {
        out.push_str(&c.name);
        if c.current {
            out.push_str(" [current]");
        } else if c.next_poweron {
            out.push_str(" [next poweron]");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, current: bool, next_poweron: bool) -> SpconfigView {
        SpconfigView {
            name: name.into(),
            current,
            next_poweron,
        }
    }

    #[test]
    fn marks_as_oracle_does() {
        assert_eq!(
            list(&[
                c("factory-default", false, false),
                c("lab", true, false),
                c("spare", false, true)
            ]),
            "factory-default\nlab [current]\nspare [next poweron]\n"
        );
        assert_eq!(
            list(&[c("factory-default", true, true), c("lab", false, false)]),
            "factory-default [current]\nlab\n"
        );
    }
}
