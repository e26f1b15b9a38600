//! The disk verbs' arguments, in Oracle's syntax, turned into requests.

use ldm_api::storage::{parse_add_vdsdev_options, parse_vdsdev_options, parse_volume_ref};
use ldm_api::Request;

/// `add-vds SERVICE primary`
pub fn add_vds(name: String, ldom: &str) -> Result<Request, String> {
    if ldom != "primary" {
        return Err(format!(
            "services run in the primary domain, not '{ldom}': write `ldm add-vds {name} primary`"
        ));
    }
    Ok(Request::AddVds { name })
}

/// `add-vdsdev [-f] [options=ro|create] BACKEND VOLUME@SERVICE`
pub fn add_vdsdev(force: bool, args: &[String]) -> Result<Request, String> {
    let (opts, rest) = match args {
        [o, b, v] => (Some(o), [b, v]),
        [b, v] => (None, [b, v]),
        _ => {
            return Err(
                "write `ldm add-vdsdev [-f] [options=ro|create] BACKEND VOLUME@SERVICE`".into(),
            )
        }
    };
    let (readonly, create) = match opts {
        Some(o) => parse_add_vdsdev_options(options_value(o)?)?,
        None => (false, false),
    };
    let (volume, service) = parse_volume_ref(rest[1])?;
    Ok(Request::AddVdsdev {
        force,
        readonly,
        create,
        backend: rest[0].clone(),
        volume,
        service,
    })
}

fn options_value(arg: &str) -> Result<&str, String> {
    arg.strip_prefix("options=")
        .ok_or_else(|| format!("'{arg}' is not options=…: write options=ro, or options= to clear"))
}

/// `set-vdsdev options=[ro] VOLUME@SERVICE`
pub fn set_vdsdev(options: &str, volume: &str) -> Result<Request, String> {
    let readonly = parse_vdsdev_options(options_value(options)?)?;
    let (volume, service) = parse_volume_ref(volume)?;
    Ok(Request::SetVdsdev {
        readonly,
        volume,
        service,
    })
}

/// `remove-vdsdev VOLUME@SERVICE`
pub fn remove_vdsdev(volume: &str) -> Result<Request, String> {
    let (volume, service) = parse_volume_ref(volume)?;
    Ok(Request::RemoveVdsdev { volume, service })
}

/// `add-vdisk DISK VOLUME@SERVICE DOMAIN`
pub fn add_vdisk(disk: String, volume: &str, domain: String) -> Result<Request, String> {
    let (volume, service) = parse_volume_ref(volume)?;
    Ok(Request::AddVdisk {
        disk,
        volume,
        service,
        domain,
    })
}

/// `set-vdisk volume=VOLUME@SERVICE DISK DOMAIN`
pub fn set_vdisk(volume: &str, disk: String, domain: String) -> Result<Request, String> {
    let v = volume
        .strip_prefix("volume=")
        .ok_or_else(|| format!("'{volume}' is not volume=VOLUME@SERVICE"))?;
    let (volume, service) = parse_volume_ref(v)?;
    Ok(Request::SetVdisk {
        disk,
        volume,
        service,
        domain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn vdsdev_arguments() {
        let r = add_vdsdev(true, &s(&["options=ro", "/img", "vol1@primary-vds0"])).unwrap();
        assert_eq!(
            r,
            Request::AddVdsdev {
                force: true,
                readonly: true,
                create: false,
                backend: "/img".into(),
                volume: "vol1".into(),
                service: "primary-vds0".into()
            }
        );
        assert!(add_vdsdev(false, &s(&["opts=ro", "/img", "v@s"])).is_err());
        assert!(matches!(
            add_vdsdev(false, &s(&["options=create", "/new.img", "v@s"])),
            Ok(Request::AddVdsdev { create: true, .. })
        ));
        assert!(add_vdsdev(false, &s(&["/img", "vol1"])).is_err());
        assert!(set_vdsdev("options=excl", "v@s").is_err());
        assert!(set_vdisk("vol=v@s", "d".into(), "x".into()).is_err());
        assert!(add_vds("primary-vds0".into(), "ldg1").is_err());
    }
}
