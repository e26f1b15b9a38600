//! `add-domain`, `set-domain`, `remove-domain`, `list-constraints` and
//! `list-domain`.

use super::simple;
use crate::cli::DomainCmd;
use crate::client::Client;
use crate::{constraints, format, lifecycle, props};
use ldm_api::{CpuArch, Reply, Request};

/// `max-vcpus=N`: a vCPU count in range.
fn parse_max_vcpus(v: &str) -> Result<u32, String> {
    let n = v
        .parse::<u32>()
        .map_err(|_| format!("max-vcpus={v}: give a whole number of vCPUs"))?;
    ldm_api::limits::check_vcpus(n).map_err(|e| format!("max-vcpus={v}: {e}"))
}

pub(super) async fn run(client: &Client, cmd: DomainCmd) -> Result<i32, String> {
    match cmd {
        DomainCmd::AddDomain { input: Some(f), .. } => {
            let spec = constraints::read_one(&f)?;
            let name = spec.name.clone();
            simple(
                client,
                Request::DefineDomain {
                    spec,
                    replace: false,
                },
            )
            .await?;
            println!("domain {name} added from {}", f.display());
            Ok(0)
        }
        DomainCmd::SetDomain { input: Some(f), .. } => {
            let spec = constraints::read_one(&f)?;
            simple(
                client,
                Request::DefineDomain {
                    spec,
                    replace: true,
                },
            )
            .await
        }
        DomainCmd::AddDomain { args, .. } => {
            let (props, name) = props::split_props(&args)?;
            let (mut cpu_arch, mut max_vcpus) = (None, None);
            for (k, v) in props {
                match k.as_str() {
                    "cpu-arch" => cpu_arch = Some(v.parse::<CpuArch>()?),
                    "max-vcpus" => max_vcpus = Some(parse_max_vcpus(&v)?),
                    _ => {
                        return Err(format!(
                            "'{k}' is not a property of add-domain: use cpu-arch=native|generic|migration-class1 or max-vcpus=N"
                        ))
                    }
                }
            }
            simple(
                client,
                Request::AddDomain {
                    name,
                    cpu_arch,
                    max_vcpus,
                },
            )
            .await
        }
        DomainCmd::SetDomain { args, .. } => {
            let (props, name) = props::split_props(&args)?;
            let (mut cpu_arch, mut downtime_ms, mut bandwidth_mib) = (None, None, None);
            let (mut max_vcpus, mut max_memory_mib) = (None, None);
            let num = |k: &str, v: &str| {
                v.parse::<u64>()
                    .map_err(|_| format!("{k}={v}: give a whole number"))
            };
            for (k, v) in props {
                match k.as_str() {
                    "cpu-arch" => cpu_arch = Some(v.parse::<CpuArch>()?),
                    "max-vcpus" => max_vcpus = Some(parse_max_vcpus(&v)?),
                    "max-memory" => {
                        max_memory_mib = Some(if v == "0" {
                            0
                        } else {
                            ldm_api::parse_size_mib(&v).map_err(|e| format!("max-memory={v}: {e}"))?
                        })
                    }
                    "migration-downtime" => {
                        downtime_ms = Some(ldm_api::limits::check_downtime_ms(num(&k, &v)?)?)
                    }
                    "migration-bandwidth" => {
                        bandwidth_mib =
                            Some(ldm_api::limits::check_bandwidth_mib(num(&k, &v)?)?)
                    }
                    _ => return Err(format!("'{k}' is not a domain property: use cpu-arch, max-vcpus, max-memory, migration-downtime or migration-bandwidth")),
                }
            }
            simple(
                client,
                Request::SetDomain {
                    name,
                    cpu_arch,
                    downtime_ms,
                    bandwidth_mib,
                    max_vcpus,
                    max_memory_mib,
                },
            )
            .await
        }
        DomainCmd::RemoveDomain { all, names } => {
            lifecycle::run(client, lifecycle::Verb::Remove, all, names).await
        }
        DomainCmd::ListConstraints { xml, names } => {
            let Reply::Constraints { domains } = client
                .call(&Request::ListConstraints { names })
                .await
                .map_err(|e| e.message)?
            else {
                return Err("unexpected answer from ldmd".into());
            };
            if xml {
                print!("{}", constraints::xml::to_xml(&domains));
            } else {
                print!("{}", constraints::text(&domains));
            }
            Ok(0)
        }
        DomainCmd::List {
            long,
            parseable,
            format,
            json,
            names,
        } => {
            let reply = client
                .call(&Request::List { names })
                .await
                .map_err(|e| e.message)?;
            let Reply::Domains { domains } = reply else {
                return Err("unexpected answer from ldmd".into());
            };
            let out = if json {
                serde_json::to_string_pretty(&domains).map_err(|e| e.to_string())? + "\n"
            } else if let Some(f) = format {
                format::list::sections(&domains, &f, parseable)?
            } else if parseable {
                format::list::parseable(&domains, long)
            } else if long {
                format::list::long(&domains)
            } else {
                format::list::table(&domains)
            };
            print!("{out}");
            Ok(0)
        }
    }
}
