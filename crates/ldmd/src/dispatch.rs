//! From a local API request to the operation that carries it out.

use crate::daemon::{get, Daemon};
use crate::error::{refuse, Result};
use crate::ops::{
    accounts, constraints, define, lifecycle, services, storage, vdisk, views, vnet, vsw,
};
use ldm_api::{ErrorKind, Reply, Request, Response};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

fn done(message: Option<String>) -> Reply {
    Reply::Done { message }
}

/// Runs one request of the local user `uid`, sending events and the final
/// response on `tx`. `client_gone` turns true when the caller disconnects.
pub async fn dispatch(
    d: Arc<Daemon>,
    req: Request,
    uid: u32,
    tx: mpsc::Sender<Response>,
    client_gone: watch::Receiver<bool>,
) {
    // Files a user names are checked with that user's credentials.
    let allowed = match &req {
        Request::SetVar { vars, .. } => define::check_boot_files_of(uid, vars),
        Request::DefineDomain { spec, .. } => {
            let vars: Vec<(String, String)> = spec
                .vars
                .pairs()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            define::check_boot_files_of(uid, &vars)
        }
        _ => Ok(()),
    };
    let result = match allowed {
        Ok(()) => run(&d, req, &tx, client_gone).await,
        Err(e) => Err(e),
    };
    let resp = match result {
        Ok(r) => Response::Ok(Box::new(r)),
        Err(e) => {
            tracing::info!("request refused or failed: {e}");
            Response::Err(e.to_api())
        }
    };
    let _ = tx.send(resp).await;
}

async fn run(
    d: &Arc<Daemon>,
    req: Request,
    tx: &mpsc::Sender<Response>,
    client_gone: watch::Receiver<bool>,
) -> Result<Reply> {
    Ok(match req {
        Request::Host => {
            let t = d.table();
            Reply::Host(views::host_view(d, &t))
        }
        Request::List { names } => {
            let vols = d.db.vdsdevs()?;
            let vsws = d.db.vsws()?;
            let t = d.table();
            let view = |dom| {
                let mut v = views::domain_view(dom, &vols, d.inv.host_cpus);
                v.networks = vnet::views(dom, &vsws, &d.net.owner);
                v
            };
            let mut out = Vec::new();
            if names.is_empty() {
                out.push(views::primary_view(d));
                out.extend(t.values().map(view));
            } else {
                for n in &names {
                    if n == "primary" {
                        out.push(views::primary_view(d));
                    } else {
                        out.push(view(get(&t, n)?));
                    }
                }
            }
            Reply::Domains { domains: out }
        }
        Request::AddDomain {
            name,
            cpu_arch,
            max_vcpus,
        } => {
            define::add(d, &name, cpu_arch, max_vcpus).await?;
            done(None)
        }
        Request::SetDomain {
            name,
            cpu_arch,
            downtime_ms,
            bandwidth_mib,
            max_vcpus,
            max_memory_mib,
        } => {
            let props = define::DomainProps {
                arch: cpu_arch,
                downtime_ms,
                bandwidth_mib,
                max_vcpus,
                max_memory_mib,
            };
            done(define::set_domain(d, &name, props).await?)
        }
        Request::RemoveDomain { name } => {
            define::remove(d, &name).await?;
            done(None)
        }
        Request::Vcpu {
            name,
            change,
            count,
        } => {
            define::vcpu(d, &name, change, count).await?;
            done(None)
        }
        Request::Memory { name, change, mib } => done(define::memory(d, &name, change, mib).await?),
        Request::SetVar { name, vars } => {
            define::set_var(d, &name, &vars).await?;
            done(None)
        }
        Request::Bind { name } => {
            lifecycle::bind(d, &name).await?;
            done(None)
        }
        Request::Unbind { name } => {
            lifecycle::unbind(d, &name).await?;
            done(None)
        }
        Request::Start { name } => {
            lifecycle::start(d, &name).await?;
            done(None)
        }
        Request::Stop {
            name,
            force,
            mode,
            timeout_secs,
        } => {
            let how = lifecycle::StopHow::new(force, mode, timeout_secs)?;
            done(lifecycle::stop(d, &name, how, client_gone).await?)
        }
        Request::ListServices => Reply::Services {
            vcc: services::list(d).await?,
            vds: storage::list(d).await?,
            vsw: vsw::list(d).await?,
        },
        Request::AddVsw {
            name,
            net_dev,
            mtu,
            mac,
        } => {
            vsw::add(d, &name, net_dev, mtu, mac).await?;
            done(None)
        }
        Request::SetVsw {
            name,
            net_dev,
            mtu,
            mac,
            clear_mac,
        } => {
            let net_dev = net_dev.map(|n| Some(n).filter(|n| !n.is_empty()));
            let mac = if clear_mac { Some(None) } else { mac.map(Some) };
            vsw::set(d, &name, net_dev, mtu, mac).await?;
            done(None)
        }
        Request::RemoveVsw { name } => {
            vsw::remove(d, &name).await?;
            done(None)
        }
        Request::AddVnet {
            name,
            switch,
            domain,
            mac,
            mtu,
        } => {
            vnet::add(d, &name, &switch, &domain, mac, mtu).await?;
            done(None)
        }
        Request::SetVnet {
            name,
            domain,
            switch,
            mac,
            mtu,
            clear_mtu,
        } => {
            let mtu = if clear_mtu { Some(None) } else { mtu.map(Some) };
            vnet::set(d, &name, &domain, switch, mac, mtu).await?;
            done(None)
        }
        Request::RemoveVnet { name, domain } => {
            vnet::remove(d, &name, &domain).await?;
            done(None)
        }
        Request::AddVds { name } => {
            storage::add_vds(d, &name).await?;
            done(None)
        }
        Request::RemoveVds { name } => {
            storage::remove_vds(d, &name).await?;
            done(None)
        }
        Request::AddVdsdev {
            force,
            readonly,
            create,
            backend,
            volume,
            service,
        } => {
            let opts = storage::VdsdevOptions { readonly, create };
            storage::add_vdsdev(d, force, opts, &backend, &volume, &service).await?;
            done(None)
        }
        Request::SetVdsdev {
            readonly,
            volume,
            service,
        } => {
            storage::set_vdsdev(d, readonly, &volume, &service).await?;
            done(None)
        }
        Request::RemoveVdsdev { volume, service } => {
            storage::remove_vdsdev(d, &volume, &service).await?;
            done(None)
        }
        Request::AddVdisk {
            disk,
            volume,
            service,
            domain,
        } => {
            vdisk::add(d, &disk, &volume, &service, &domain).await?;
            done(None)
        }
        Request::SetVdisk {
            disk,
            volume,
            service,
            domain,
        } => {
            vdisk::set(d, &disk, &volume, &service, &domain).await?;
            done(None)
        }
        Request::RemoveVdisk { disk, domain } => {
            vdisk::remove(d, &disk, &domain).await?;
            done(None)
        }
        Request::AddVcc {
            name,
            port_lo,
            port_hi,
        } => {
            services::add(d, &name, port_lo, port_hi).await?;
            done(None)
        }
        Request::SetVcc {
            name,
            port_lo,
            port_hi,
        } => {
            services::set(d, &name, port_lo, port_hi).await?;
            done(None)
        }
        Request::RemoveVcc { name } => {
            services::remove(d, &name).await?;
            done(None)
        }
        Request::ConsoleAddr { name } => {
            let t = d.table();
            let dom = get(&t, &name)?;
            let rt = dom.rt.as_ref().ok_or_else(|| {
                refuse(
                    ErrorKind::State,
                    format!(
                        "domain {name} is not running: start it with `ldm start-domain {name}`"
                    ),
                )
            })?;
            Reply::Console {
                address: d.cfg.console_addr.to_string(),
                port: rt.console.port,
            }
        }
        Request::ConsoleDump { name } => {
            let t = d.table();
            let dom = get(&t, &name)?;
            let bytes = match &dom.rt {
                Some(rt) => rt.console.dump(),
                None => {
                    let log = d.paths.console_log(&dom.rec.spec.uuid);
                    let data = std::fs::read(log).unwrap_or_default();
                    data[data.len().saturating_sub(crate::console::RING_BYTES)..].to_vec()
                }
            };
            Reply::ConsoleDump {
                text: String::from_utf8_lossy(&bytes).into_owned(),
            }
        }
        Request::AddUser {
            name,
            role,
            password,
        } => {
            accounts::add_user(d, &name, role, password).await?;
            done(None)
        }
        Request::SetUser {
            name,
            role,
            password,
        } => {
            accounts::set_user(d, &name, role, password).await?;
            done(None)
        }
        Request::RemoveUser { name } => {
            accounts::remove_user(d, &name).await?;
            done(None)
        }
        Request::ListUsers => Reply::Users {
            users: accounts::list_users(d).await?,
        },
        Request::ProbeHost { host, port } => {
            let (fingerprint, pinned) = accounts::probe(d, &host, port).await?;
            Reply::Probe {
                fingerprint,
                pinned,
            }
        }
        Request::AddTrust {
            host,
            port,
            fingerprint,
            source,
        } => {
            let fp = accounts::add_trust(d, &host, port, fingerprint, source).await?;
            done(Some(format!("trusted {host} with fingerprint {fp}")))
        }
        Request::RemoveTrust { host, port } => {
            accounts::remove_trust(d, &host, port).await?;
            done(None)
        }
        Request::ListTrust => Reply::Trust {
            entries: accounts::list_trust(d).await?,
        },
        Request::Migrate(m) => {
            let (name, dry_run) = (m.name.clone(), m.dry_run);
            let r = crate::migration::source::migrate(d, m, tx, client_gone).await;
            if !dry_run {
                crate::metrics::source_finished(d, &name, &r);
            }
            r?
        }
        Request::DefineDomain { spec, replace } => {
            constraints::define(d, spec, replace).await?;
            done(None)
        }
        Request::ListConstraints { names } => Reply::Constraints {
            domains: constraints::list(d, &names)?,
        },
        Request::AddSpconfig { name } => {
            crate::spconfig::add(d, &name).await?;
            done(None)
        }
        Request::SetSpconfig { name } => {
            crate::spconfig::set(d, &name).await?;
            done(None)
        }
        Request::RemoveSpconfig { name } => {
            crate::spconfig::remove(d, &name).await?;
            done(None)
        }
        Request::ListSpconfig => Reply::Spconfigs {
            configs: crate::spconfig::list(d).await?,
        },
        Request::CancelMigration { name } => {
            crate::migration::source::cancel(d, &name).await?;
            done(Some(format!("migration of {name} cancelled")))
        }
        Request::CancelMemoryDr { name } => {
            crate::ops::hotmem::cancel(d, &name)?;
            done(Some(format!(
                "the memory change of {name} stops where it is"
            )))
        }
        Request::CancelReconf { name } => done(define::cancel_reconf(d, &name).await?),
    })
}
