//! Each verb of the command line turned into its request to ldmd, and the
//! answer printed: the dispatch behind [`crate::main_with_args`].

use crate::cli::{Cli, Cmd};
use crate::client::Client;
use crate::{
    accounts, console, constraints, evacuate, format, lifecycle, migrate, network, props, spconfig,
    storage, version,
};
use ldm_api::request::StopMode;
use ldm_api::{parse_size_mib, CpuArch, Reply, Request, ResourceChange};

fn done(reply: Reply) -> i32 {
    if let Reply::Done { message: Some(m) } = reply {
        println!("{m}");
    }
    0
}

/// A memory amount for the memory verbs: a size no larger than a domain
/// may have (the daemon checks the result of adding it again).
fn size(s: &str) -> Result<u64, String> {
    let mib = parse_size_mib(s).map_err(|e| e.to_string())?;
    if mib > ldm_api::limits::MAX_MEMORY_MIB {
        return Err(format!(
            "{s} is more than a domain may have ({})",
            ldm_api::format_mib(ldm_api::limits::MAX_MEMORY_MIB)
        ));
    }
    Ok(mib)
}

pub(crate) async fn simple(client: &Client, req: Request) -> Result<i32, String> {
    client.call(&req).await.map(done).map_err(|e| e.message)
}

/// `add-vcpu`, `set-vcpu`, `rm-vcpu`.
async fn vcpus(
    client: &Client,
    change: ResourceChange,
    count: u32,
    name: String,
) -> Result<i32, String> {
    let req = Request::Vcpu {
        name,
        change,
        count,
    };
    simple(client, req).await
}

/// `add-memory`, `set-memory`, `rm-memory`.
async fn memory(
    client: &Client,
    change: ResourceChange,
    s: &str,
    name: String,
) -> Result<i32, String> {
    let req = Request::Memory {
        name,
        change,
        mib: size(s)?,
    };
    simple(client, req).await
}

/// `max-vcpus=N`: a vCPU count in range.
fn parse_max_vcpus(v: &str) -> Result<u32, String> {
    let n = v
        .parse::<u32>()
        .map_err(|_| format!("max-vcpus={v}: give a whole number of vCPUs"))?;
    ldm_api::limits::check_vcpus(n).map_err(|e| format!("max-vcpus={v}: {e}"))
}

pub(crate) async fn run(cli: Cli) -> Result<i32, String> {
    let client = Client::new(&cli.root);
    let cmd = match cli.cmd {
        Some(cmd) if !cli.version => cmd,
        _ => return Ok(version::print(&client, &cli.root).await),
    };
    match cmd {
        Cmd::AddDomain { input: Some(f), .. } => {
            let spec = constraints::read_one(&f)?;
            let name = spec.name.clone();
            simple(
                &client,
                Request::DefineDomain {
                    spec,
                    replace: false,
                },
            )
            .await?;
            println!("domain {name} added from {}", f.display());
            Ok(0)
        }
        Cmd::SetDomain { input: Some(f), .. } => {
            let spec = constraints::read_one(&f)?;
            simple(
                &client,
                Request::DefineDomain {
                    spec,
                    replace: true,
                },
            )
            .await
        }
        Cmd::AddDomain { args, .. } => {
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
                &client,
                Request::AddDomain {
                    name,
                    cpu_arch,
                    max_vcpus,
                },
            )
            .await
        }
        Cmd::SetDomain { args, .. } => {
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
                &client,
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
        Cmd::CancelReconf { name } => simple(&client, Request::CancelReconf { name }).await,
        Cmd::RemoveDomain { all, names } => {
            lifecycle::run(&client, lifecycle::Verb::Remove, all, names).await
        }
        Cmd::ListConstraints { xml, names } => {
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
        Cmd::List {
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
        Cmd::SetVcpu { count, name } => vcpus(&client, ResourceChange::Set, count, name).await,
        Cmd::AddVcpu { count, name } => vcpus(&client, ResourceChange::Add, count, name).await,
        Cmd::RmVcpu { count, name } => vcpus(&client, ResourceChange::Remove, count, name).await,
        Cmd::SetMemory { size: s, name } => memory(&client, ResourceChange::Set, &s, name).await,
        Cmd::AddMemory { size: s, name } => memory(&client, ResourceChange::Add, &s, name).await,
        Cmd::RmMemory { size: s, name } => memory(&client, ResourceChange::Remove, &s, name).await,
        Cmd::SetVar { args } => {
            let (vars, name) = props::split_props(&args)?;
            simple(&client, Request::SetVar { name, vars }).await
        }
        Cmd::Bind { names } => lifecycle::run(&client, lifecycle::Verb::Bind, false, names).await,
        Cmd::Unbind { names } => {
            lifecycle::run(&client, lifecycle::Verb::Unbind, false, names).await
        }
        Cmd::Start { all, names } => {
            lifecycle::run(&client, lifecycle::Verb::Start, all, names).await
        }
        Cmd::Stop {
            force,
            quick,
            halt,
            reboot,
            timeout,
            all,
            names,
        } => {
            if let Some(t) = timeout {
                ldm_api::limits::check_stop_timeout_secs(t)?;
            }
            let mode = match (halt, reboot) {
                (true, _) => StopMode::Halt,
                (_, true) => StopMode::Reboot,
                _ => StopMode::Normal,
            };
            let verb = lifecycle::Verb::Stop {
                force: force || quick,
                mode,
                timeout_secs: timeout,
            };
            lifecycle::run(&client, verb, all, names).await
        }
        Cmd::ListDevices {
            long,
            parseable,
            json,
        } => {
            let Reply::Host(h) = client.call(&Request::Host).await.map_err(|e| e.message)? else {
                return Err("unexpected answer from ldmd".into());
            };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&h).map_err(|e| e.to_string())?
                );
            } else {
                print!("{}", format::devices::devices(&h, long, parseable));
            }
            Ok(0)
        }
        Cmd::ListServices { parseable, json } => {
            let Reply::Services { vcc, vds, vsw } = client
                .call(&Request::ListServices)
                .await
                .map_err(|e| e.message)?
            else {
                return Err("unexpected answer from ldmd".into());
            };
            if json {
                let all = serde_json::json!({ "vcc": vcc, "vds": vds, "vsw": vsw });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?
                );
            } else {
                print!("{}", format::devices::services(&vcc, parseable));
                print!("{}", format::storage::vds(&vds, parseable));
                print!("{}", format::network::vsw(&vsw, parseable));
            }
            Ok(0)
        }
        Cmd::AddVcc { range, name, ldom } => {
            if ldom != "primary" {
                return Err(format!("services run in the primary domain, not '{ldom}': write `ldm add-vcc {range} {name} primary`"));
            }
            let (port_lo, port_hi) = port_range(&range)?;
            simple(
                &client,
                Request::AddVcc {
                    name,
                    port_lo,
                    port_hi,
                },
            )
            .await
        }
        Cmd::SetVcc { range, name } => {
            let (port_lo, port_hi) = port_range(&range)?;
            simple(
                &client,
                Request::SetVcc {
                    name,
                    port_lo,
                    port_hi,
                },
            )
            .await
        }
        Cmd::RemoveVcc { name } => simple(&client, Request::RemoveVcc { name }).await,
        Cmd::AddVds { name, ldom } => simple(&client, storage::add_vds(name, &ldom)?).await,
        Cmd::RemoveVds { name } => simple(&client, Request::RemoveVds { name }).await,
        Cmd::AddVdsdev { force, args } => simple(&client, storage::add_vdsdev(force, &args)?).await,
        Cmd::SetVdsdev { options, volume } => {
            simple(&client, storage::set_vdsdev(&options, &volume)?).await
        }
        Cmd::RemoveVdsdev { volume } => simple(&client, storage::remove_vdsdev(&volume)?).await,
        Cmd::AddVdisk {
            disk,
            volume,
            domain,
        } => simple(&client, storage::add_vdisk(disk, &volume, domain)?).await,
        Cmd::SetVdisk {
            volume,
            disk,
            domain,
        } => simple(&client, storage::set_vdisk(&volume, disk, domain)?).await,
        Cmd::RemoveVdisk { disk, domain } => {
            simple(&client, Request::RemoveVdisk { disk, domain }).await
        }
        Cmd::AddVsw { args } => simple(&client, network::add_vsw(&args)?).await,
        Cmd::SetVsw { args } => simple(&client, network::set_vsw(&args)?).await,
        Cmd::RemoveVsw { name } => simple(&client, Request::RemoveVsw { name }).await,
        Cmd::AddVnet { args } => simple(&client, network::add_vnet(&args)?).await,
        Cmd::SetVnet { args } => simple(&client, network::set_vnet(&args)?).await,
        Cmd::RemoveVnet { name, domain } => {
            simple(&client, Request::RemoveVnet { name, domain }).await
        }
        Cmd::ListBindings {
            parseable,
            json,
            names,
        } => {
            let Reply::Domains { domains } = client
                .call(&Request::List { names })
                .await
                .map_err(|e| e.message)?
            else {
                return Err("unexpected answer from ldmd".into());
            };
            if json {
                let doms: Vec<_> = domains.iter().filter(|v| v.name != "primary").collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&doms).map_err(|e| e.to_string())?
                );
            } else {
                print!("{}", format::list::bindings(&domains, parseable));
            }
            Ok(0)
        }
        Cmd::Console { dump, name } => {
            if dump {
                let Reply::ConsoleDump { text } = client
                    .call(&Request::ConsoleDump { name })
                    .await
                    .map_err(|e| e.message)?
                else {
                    return Err("unexpected answer from ldmd".into());
                };
                print!("{text}");
                return Ok(0);
            }
            let Reply::Console { address, port } = client
                .call(&Request::ConsoleAddr { name: name.clone() })
                .await
                .map_err(|e| e.message)?
            else {
                return Err("unexpected answer from ldmd".into());
            };
            console::attach(&name, &address, port).await?;
            Ok(0)
        }
        Cmd::Migrate {
            dry_run,
            password_file,
            cert,
            downtime_limit,
            max_bandwidth,
            copy_storage,
            overwrite_storage,
            postcopy,
            json,
            accept_fingerprint,
            name,
            target,
        } => {
            if let Some(ms) = downtime_limit {
                ldm_api::limits::check_downtime_ms(ms)
                    .map_err(|e| format!("--downtime-limit: {e}"))?;
            }
            if let Some(mib) = max_bandwidth {
                ldm_api::limits::check_bandwidth_mib(mib)
                    .map_err(|e| format!("--max-bandwidth: {e}"))?;
            }
            if cert && password_file.is_some() {
                return Err(
                    "-c and -p exclude each other: authenticate with a certificate or a password"
                        .into(),
                );
            }
            migrate::run(
                &client,
                migrate::MigrateArgs {
                    dry_run,
                    password_file,
                    cert,
                    downtime_ms: downtime_limit,
                    bandwidth_mib: max_bandwidth,
                    copy_storage,
                    overwrite_storage,
                    postcopy,
                    json,
                    accept_fingerprint,
                    name,
                    target,
                },
            )
            .await
        }
        Cmd::Evacuate {
            dry_run,
            targets,
            max_parallel,
            password_file,
            cert,
            user,
            on_interrupt,
        } => {
            evacuate::cli(
                &client,
                evacuate::Args {
                    dry_run,
                    targets,
                    max_parallel,
                    password_file,
                    cert,
                    user,
                    on_interrupt,
                },
            )
            .await
        }
        Cmd::CancelOperation { operation, name } => {
            match operation.as_str() {
                "migration" => simple(&client, Request::CancelMigration { name }).await,
                "memdr" => simple(&client, Request::CancelMemoryDr { name }).await,
                _ => Err(format!("'{operation}' is not an operation ldm can cancel: use `ldm cancel-operation migration {name}` or `ldm cancel-operation memdr {name}`")),
            }
        }
        Cmd::AddUser {
            password_file,
            args,
        } => accounts::add_user(&client, password_file, &args).await,
        Cmd::SetUser {
            password_file,
            password,
            args,
        } => accounts::set_user(&client, password_file, password, &args).await,
        Cmd::RemoveUser { name } => simple(&client, Request::RemoveUser { name }).await,
        Cmd::ListUsers => accounts::list_users(&client).await,
        Cmd::AddTrust { source, args } => accounts::add_trust(&client, source, &args).await,
        Cmd::RemoveTrust { host } => accounts::remove_trust(&client, &host).await,
        Cmd::AddSpconfig { name } => simple(&client, Request::AddSpconfig { name }).await,
        Cmd::SetSpconfig { name } => simple(&client, Request::SetSpconfig { name }).await,
        Cmd::RemoveSpconfig { name } => simple(&client, Request::RemoveSpconfig { name }).await,
        Cmd::ListSpconfig => {
            let Reply::Spconfigs { configs } = client
                .call(&Request::ListSpconfig)
                .await
                .map_err(|e| e.message)?
            else {
                return Err("unexpected answer from ldmd".into());
            };
            print!("{}", spconfig::list(&configs));
            Ok(0)
        }
        Cmd::ListTrust => accounts::list_trust(&client).await,
    }
}

fn port_range(arg: &str) -> Result<(u16, u16), String> {
    let v = arg
        .strip_prefix("port-range=")
        .ok_or_else(|| format!("'{arg}' is not port-range=A-B"))?;
    let (lo, hi) = ldm_api::service::parse_port_range(v)?;
    if lo < 1024 {
        return Err(format!(
            "{arg}: console ports start at 1024 (those below belong to the system)"
        ));
    }
    Ok((lo, hi))
}
