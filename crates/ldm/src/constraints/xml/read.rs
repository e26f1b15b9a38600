//! The LDM XML read: `add-domain -i` and `set-domain -i`.

use ldm_api::network::VnetSpec;
use ldm_api::storage::VdiskSpec;
use ldm_api::{parse_size_mib, BootVars, CpuArch, DomainSpec};
use quick_xml::events::Event;
use quick_xml::Reader;

/// One `<Item>` as read.
#[derive(Debug, Default)]
struct Item {
    kind: String,
    units: Option<String>,
    address: Option<String>,
    props: Vec<(String, String)>,
}

impl Item {
    fn prop(&self, key: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn need(&self, key: &str) -> Result<&str, String> {
        self.prop(key)
            .ok_or_else(|| format!("a {} item has no property {key}", self.kind))
    }
}

/// One `<Content>` as read.
#[derive(Debug, Default)]
struct Content {
    name: String,
    items: Vec<Item>,
}

/// The parts of the document ldm uses, in order.
fn read(text: &str) -> Result<Vec<Content>, String> {
    let mut r = Reader::from_str(text);
    r.config_mut().trim_text(true);
    let mut out: Vec<Content> = Vec::new();
    let mut item: Option<Item> = None;
    let mut key: Option<String> = None;
    let mut buf = String::new();
    let mut root_seen = false;
    loop {
        let e = r
            .read_event()
            .map_err(|e| format!("not well-formed XML at byte {}: {e}", r.error_position()))?;
        match e {
            Event::Start(s) | Event::Empty(s) => {
                let name = String::from_utf8_lossy(s.local_name().as_ref()).into_owned();
                if !root_seen {
                    if name != "LDM_interface" {
                        return Err(format!(
                            "this is not LDM XML: its root element is <{name}>, not <LDM_interface>"
                        ));
                    }
                    root_seen = true;
                }
                buf.clear();
                let attr = |k: &str| -> Result<Option<String>, String> {
                    s.try_get_attribute(k)
                        .map_err(|e| e.to_string())?
                        .map(|a| a.unescape_value().map(|v| v.into_owned()))
                        .transpose()
                        .map_err(|e| e.to_string())
                };
                match name.as_str() {
                    "Content" => out.push(Content {
                        name: attr("ovf:id")?
                            .ok_or("a <Content> element has no ovf:id (the domain's name)")?,
                        items: Vec::new(),
                    }),
                    "Item" => item = Some(Item::default()),
                    "GenericProperty" => key = attr("key")?,
                    _ => {}
                }
            }
            Event::Text(t) => buf.push_str(&t.xml_content().map_err(|e| e.to_string())?),
            Event::GeneralRef(g) => {
                let c = if g.is_char_ref() {
                    g.resolve_char_ref().map_err(|e| e.to_string())?
                } else {
                    None
                };
                match c {
                    Some(c) => buf.push(c),
                    None => {
                        let n = g.decode().map_err(|e| e.to_string())?;
                        let v = quick_xml::escape::resolve_predefined_entity(&n)
                            .ok_or_else(|| format!("unknown entity &{n};"))?;
                        buf.push_str(v);
                    }
                }
            }
            Event::End(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let value = std::mem::take(&mut buf);
                match (name.as_str(), item.as_mut()) {
                    ("OtherResourceType", Some(i)) => i.kind = value,
                    ("AllocationUnits", Some(i)) => i.units = Some(value),
                    ("Address", Some(i)) => i.address = Some(value),
                    ("GenericProperty", Some(i)) => {
                        if let Some(k) = key.take() {
                            i.props.push((k, value));
                        }
                    }
                    ("Item", Some(_)) => {
                        let i = item.take().expect("matched");
                        out.last_mut()
                            .ok_or("an <Item> outside any <Content>")?
                            .items
                            .push(i);
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !root_seen {
        return Err("the file is empty: give the output of `ldm list-constraints -x`".into());
    }
    Ok(out)
}

fn number<T: std::str::FromStr>(what: &str, v: &str) -> Result<T, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("{what} '{v}' is not a whole number"))
}

fn spec_of(c: Content) -> Result<DomainSpec, String> {
    let mut s = DomainSpec {
        name: c.name,
        uuid: uuid::Uuid::new_v4(),
        cpu_arch: CpuArch::default(),
        vcpus: 1,
        max_vcpus: None,
        memory_mib: 512,
        max_memory_mib: None,
        boot_memory_mib: None,
        vars: BootVars::default(),
        migration: Default::default(),
        disks: Vec::new(),
        networks: Vec::new(),
    };
    for i in c.items {
        match i.kind.as_str() {
            "ldom_info" => {
                if let Some(u) = i.prop("uuid") {
                    s.uuid = u
                        .parse()
                        .map_err(|_| format!("uuid '{u}' is not a UUID"))?;
                }
                if let Some(v) = i.prop("migration-downtime") {
                    s.migration.downtime_ms = Some(number("migration-downtime", v)?);
                }
                if let Some(v) = i.prop("migration-bandwidth") {
                    s.migration.bandwidth_mib = Some(number("migration-bandwidth", v)?);
                }
            }
            "cpu" => {
                let u = i.units.as_deref().ok_or("the cpu item has no AllocationUnits")?;
                s.vcpus = number("the cpu count", u)?;
                if let Some(a) = i.prop("cpu-arch") {
                    s.cpu_arch = a.parse()?;
                }
                if let Some(m) = i.prop("max-vcpus") {
                    s.max_vcpus = Some(number("max-vcpus", m)?);
                }
            }
            "memory" => {
                let u = i.units.as_deref().ok_or("the memory item has no AllocationUnits")?;
                s.memory_mib = parse_size_mib(u.trim()).map_err(|e| format!("memory: {e}"))?;
                if let Some(m) = i.prop("max-memory") {
                    s.max_memory_mib =
                        Some(parse_size_mib(m.trim()).map_err(|e| format!("max-memory: {e}"))?);
                }
            }
            "disk" => s.disks.push(VdiskSpec {
                name: i.need("vdisk_name")?.into(),
                volume: i.need("vol_name")?.into(),
                service: i.need("service_name")?.into(),
            }),
            "var" => {
                let (n, v) = (i.need("name")?, i.need("value")?);
                s.vars.set(n, v)?;
            }
            "network" => s.networks.push(vnet(&i)?),
            other => {
                return Err(format!(
                    "domain {}: '{other}' is not a resource ldm knows (ldom_info, cpu, memory, disk, network, var)",
                    s.name
                ))
            }
        }
    }
    Ok(s)
}

/// A `network` item: a vnet, its MAC in `<rasd:Address>` (or, as older
/// files have it, a `mac-addr` property).
fn vnet(i: &Item) -> Result<VnetSpec, String> {
    let mac = i
        .address
        .as_deref()
        .or(i.prop("mac-addr"))
        .ok_or("a network item has no MAC address (<rasd:Address>)")?;
    Ok(VnetSpec {
        name: i.need("vnet_name")?.into(),
        switch: i.need("service_name")?.into(),
        mac: mac.trim().parse().map_err(|e| format!("network: {e}"))?,
        mtu: i.prop("mtu").map(|m| number("mtu", m)).transpose()?,
    })
}

/// The domains an LDM XML document describes.
pub fn from_xml(text: &str) -> Result<Vec<DomainSpec>, String> {
    read(text)?.into_iter().map(spec_of).collect()
}
