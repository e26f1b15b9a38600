//! The CPUID features a CPU model gives a guest, as QEMU itself expands
//! them (`query-cpu-model-expansion`, type `full`) on a machine-less QEMU
//! with the given accelerator. Comparing two expansions tells whether a
//! guest started with one model can run on a host that offers the other.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::accel::Accel;
use crate::error::{Error, Result};
use crate::offered::is_model_name;
use crate::version::QemuBinary;

/// How long the probing QEMU may take.
pub const EXPANSION_TIMEOUT: Duration = Duration::from_secs(20);

impl QemuBinary {
    /// The CPUID features that are on in QEMU's full expansion of `model`
    /// under `accel`, restricted to the names `-cpu help` lists as CPUID
    /// flags (so properties such as `migratable` or `pmu` do not count).
    pub async fn cpu_features(&self, accel: Accel, model: &str) -> Result<BTreeSet<String>> {
        if !is_model_name(model) {
            return Err(Error::QmpDecode {
                command: "query-cpu-model-expansion".into(),
                detail: format!("{model:?} is not a CPU model name"),
            });
        }
        let flags = self.cpuid_flags()?;
        let request = [
            json!({"execute": "qmp_capabilities"}),
            json!({"execute": "query-cpu-model-expansion",
                   "arguments": {"type": "full", "model": {"name": model}}}),
            json!({"execute": "quit"}),
        ]
        .iter()
        .map(|v| v.to_string() + "\n")
        .collect::<String>();
        let mut child = Command::new(&self.path)
            .args(["-machine", &format!("none,accel={accel}")])
            .args(["-nodefaults", "-no-user-config", "-display", "none"])
            .args(["-S", "-qmp", "stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| Error::VersionCommand {
                path: self.path.clone(),
                source,
            })?;
        let mut stdin = child.stdin.take().expect("piped");
        let mut stdout = child.stdout.take().expect("piped");
        let talk = async {
            stdin.write_all(request.as_bytes()).await?;
            let mut out = String::new();
            stdout.read_to_string(&mut out).await?;
            Ok::<_, std::io::Error>(out)
        };
        let out = tokio::time::timeout(EXPANSION_TIMEOUT, talk)
            .await
            .map_err(|_| Error::QmpDecode {
                command: "query-cpu-model-expansion".into(),
                detail: format!("QEMU did not answer within {EXPANSION_TIMEOUT:?}"),
            })?
            .map_err(|source| Error::VersionCommand {
                path: self.path.clone(),
                source,
            })?;
        let _ = child.wait().await;
        expansion_features(&out, &flags)
    }

    /// The names in the "Recognized CPUID flags" section of `-cpu help`.
    pub fn cpuid_flags(&self) -> Result<BTreeSet<String>> {
        Ok(parse_cpuid_flags(&self.help("-cpu")?))
    }
}

/// The flag names after "Recognized CPUID flags:" in `-cpu help`.
pub fn parse_cpuid_flags(text: &str) -> BTreeSet<String> {
    text.lines()
        .skip_while(|l| !l.starts_with("Recognized CPUID flags"))
        .skip(1)
        .take_while(|l| l.starts_with(' '))
        .flat_map(str::split_whitespace)
        .map(str::to_string)
        .collect()
}

/// The features that are on in the expansion reply among QMP's `out`
/// (one JSON object a line), restricted to `flags`.
pub fn expansion_features(out: &str, flags: &BTreeSet<String>) -> Result<BTreeSet<String>> {
    for line in out.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if let Some(e) = v.get("error") {
            return Err(Error::QmpDecode {
                command: "query-cpu-model-expansion".into(),
                detail: e.to_string(),
            });
        }
        if let Some(props) = v.pointer("/return/model/props").and_then(Value::as_object) {
            return Ok(props
                .iter()
                .filter(|(k, v)| v.as_bool() == Some(true) && flags.contains(k.as_str()))
                .map(|(k, _)| k.clone())
                .collect());
        }
    }
    Err(Error::QmpDecode {
        command: "query-cpu-model-expansion".into(),
        detail: "QEMU gave no expansion".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_expansion_parse() {
        let help = "Available CPUs:\n  max   Enables all\n\nRecognized CPUID flags:\n  \
                    3dnow avx avx2\n  sse4.2 popcnt\n\nother\n";
        let flags = parse_cpuid_flags(help);
        assert_eq!(flags.len(), 5);
        let out = "{\"QMP\": {}}\n{\"return\": {}}\n\
                   {\"return\": {\"model\": {\"name\": \"base\", \"props\": \
                   {\"avx\": true, \"avx2\": false, \"popcnt\": true, \"migratable\": true, \"family\": 6}}}}\n";
        let f = expansion_features(out, &flags).unwrap();
        assert_eq!(f.into_iter().collect::<Vec<_>>(), ["avx", "popcnt"]);
        let err = "{\"QMP\": {}}\n{\"return\": {}}\n{\"error\": {\"class\": \"GenericError\", \"desc\": \"no such model\"}}\n";
        assert!(expansion_features(err, &flags).is_err());
    }
}
