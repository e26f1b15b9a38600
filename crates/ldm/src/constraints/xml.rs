//! Oracle's LDM XML for a domain's constraints, as `list-constraints -x`
//! writes it and `add-domain -i` / `set-domain -i` read it:
//! `<LDM_interface>` holds one `<data>` per domain, whose `<Envelope>`
//! holds a `<Content xsi:type="ovf:VirtualSystem_Type" ovf:id="NAME">` with
//! one `<Section>` per resource: `ldom_info` (uuid, migration
//! preferences), `cpu` (count, cpu-arch, max-vcpus), `memory` (size,
//! max-memory), one `disk` per virtual disk, one `network` per vnet (its MAC in `<rasd:Address>`) and one
//! `var` per boot variable. Each resource is an `<Item>` with
//! `<rasd:OtherResourceType>`, optionally `<rasd:AllocationUnits>`, and
//! `<gprop:GenericProperty key="…">` properties.

use ldm_api::network::VnetSpec;
use ldm_api::storage::VdiskSpec;
use ldm_api::{format_mib, parse_size_mib, BootVars, CpuArch, DomainSpec};
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

type W = Writer<Vec<u8>>;

const ROOT_ATTRS: [(&str, &str); 7] = [
    ("version", "1.3"),
    ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
    ("xsi:noNamespaceSchemaLocation", "./schemas/combined-v3.xsd"),
    ("xmlns:ovf", "./schemas/envelope"),
    ("xmlns:rasd", "./schemas/CIM_ResourceAllocationSettingData"),
    ("xmlns:vssd", "./schemas/CIM_VirtualSystemSettingData"),
    ("xmlns:gprop", "./schemas/GenericProperty"),
];

// Writing to a Vec cannot fail.
fn ev(w: &mut W, e: Event<'_>) {
    w.write_event(e).expect("writing to memory");
}

fn start(w: &mut W, name: &str, attrs: &[(&str, &str)]) {
    ev(
        w,
        Event::Start(BytesStart::new(name).with_attributes(attrs.iter().copied())),
    );
}

fn end(w: &mut W, name: &str) {
    ev(w, Event::End(BytesEnd::new(name)));
}

fn text_el(w: &mut W, name: &str, attrs: &[(&str, &str)], text: &str) {
    start(w, name, attrs);
    ev(w, Event::Text(BytesText::new(text)));
    end(w, name);
}

/// One `<Section>` with one `<Item>` of `kind`.
fn item(w: &mut W, section: &str, kind: &str, units: Option<&str>, props: &[(&str, String)]) {
    item_at(w, section, kind, units, None, props)
}

/// [`item`] with an `<rasd:Address>`.
fn item_at(
    w: &mut W,
    section: &str,
    kind: &str,
    units: Option<&str>,
    address: Option<&str>,
    props: &[(&str, String)],
) {
    start(w, "Section", &[("xsi:type", section)]);
    start(w, "Item", &[]);
    text_el(w, "rasd:OtherResourceType", &[], kind);
    if let Some(a) = address {
        text_el(w, "rasd:Address", &[], a);
    }
    if let Some(u) = units {
        text_el(w, "rasd:AllocationUnits", &[], u);
    }
    for (k, v) in props {
        text_el(w, "gprop:GenericProperty", &[("key", k)], v);
    }
    end(w, "Item");
    end(w, "Section");
}

const HARDWARE: &str = "ovf:VirtualHardwareSection_Type";

fn domain(w: &mut W, s: &DomainSpec) {
    start(w, "data", &[("version", "3.0")]);
    start(w, "Envelope", &[]);
    ev(w, Event::Empty(BytesStart::new("References")));
    start(
        w,
        "Content",
        &[("xsi:type", "ovf:VirtualSystem_Type"), ("ovf:id", &s.name)],
    );
    let mut info = vec![("uuid", s.uuid.to_string())];
    if let Some(ms) = s.migration.downtime_ms {
        info.push(("migration-downtime", ms.to_string()));
    }
    if let Some(b) = s.migration.bandwidth_mib {
        info.push(("migration-bandwidth", b.to_string()));
    }
    item(
        w,
        "ovf:ResourceAllocationSection_Type",
        "ldom_info",
        None,
        &info,
    );
    let vcpus = s.vcpus.to_string();
    let mut cpu = vec![("cpu-arch", s.cpu_arch.to_string())];
    if let Some(m) = s.max_vcpus {
        cpu.push(("max-vcpus", m.to_string()));
    }
    item(w, HARDWARE, "cpu", Some(&vcpus), &cpu);
    let mut memory = Vec::new();
    if let Some(m) = s.max_memory_mib {
        memory.push(("max-memory", format_mib(m)));
    }
    item(
        w,
        HARDWARE,
        "memory",
        Some(&format_mib(s.memory_mib)),
        &memory,
    );
    for (id, k) in s.disks.iter().enumerate() {
        let props = [
            ("vdisk_name", k.name.clone()),
            ("service_name", k.service.clone()),
            ("vol_name", k.volume.clone()),
            ("id", id.to_string()),
        ];
        item(w, HARDWARE, "disk", None, &props);
    }
    for (id, n) in s.networks.iter().enumerate() {
        let mut props = vec![
            ("vnet_name", n.name.clone()),
            ("service_name", n.switch.clone()),
        ];
        if let Some(m) = n.mtu {
            props.push(("mtu", m.to_string()));
        }
        props.push(("id", id.to_string()));
        let mac = n.mac.to_string();
        item_at(w, HARDWARE, "network", None, Some(&mac), &props);
    }
    for (name, value) in s.vars.pairs() {
        let props = [("name", name.to_string()), ("value", value.to_string())];
        item(w, HARDWARE, "var", None, &props);
    }
    end(w, "Content");
    end(w, "Envelope");
    end(w, "data");
}

/// The XML of `specs`, one `<data>` each.
pub fn to_xml(specs: &[DomainSpec]) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    ev(&mut w, Event::Decl(BytesDecl::new("1.0", None, None)));
    start(&mut w, "LDM_interface", &ROOT_ATTRS);
    for s in specs {
        domain(&mut w, s);
    }
    end(&mut w, "LDM_interface");
    String::from_utf8(w.into_inner()).expect("the XML is UTF-8") + "\n"
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use ldm_api::domain::MigrationPrefs;

    const GOLDEN: &str = include_str!("../../tests/golden/constraints-ldg1.xml");

    fn spec() -> DomainSpec {
        DomainSpec {
            name: "ldg1".into(),
            uuid: "6f1c1a2e-0000-4000-8000-000000000001".parse().unwrap(),
            cpu_arch: CpuArch::Generic,
            vcpus: 2,
            max_vcpus: Some(8),
            memory_mib: 1536,
            max_memory_mib: Some(4096),
            boot_memory_mib: None,
            vars: BootVars {
                kernel: Some("/srv/guest/vmlinuz".into()),
                initrd: Some("/srv/guest/initrd.img".into()),
                boot_args: Some("console=ttyS0 memwork=64,8 note=\"a<b&c\"".into()),
            },
            migration: MigrationPrefs {
                downtime_ms: Some(300),
                bandwidth_mib: Some(512),
            },
            disks: vec![
                VdiskSpec {
                    name: "vdisk1".into(),
                    volume: "vol1".into(),
                    service: "primary-vds0".into(),
                },
                VdiskSpec {
                    name: "data".into(),
                    volume: "vol2".into(),
                    service: "primary-vds0".into(),
                },
            ],
            networks: vec![
                VnetSpec {
                    name: "vnet1".into(),
                    switch: "primary-vsw0".into(),
                    mac: "02:4c:44:00:00:01".parse().unwrap(),
                    mtu: None,
                },
                VnetSpec {
                    name: "jumbo".into(),
                    switch: "primary-vsw1".into(),
                    mac: "02:4c:44:00:00:02".parse().unwrap(),
                    mtu: Some(9000),
                },
            ],
        }
    }

    /// The XML is pinned by a golden file and reads back into the same
    /// domain.
    #[test]
    fn golden_and_round_trip() {
        if std::env::var_os("LDM_BLESS").is_some() {
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/golden/constraints-ldg1.xml"
            );
            std::fs::write(path, to_xml(&[spec()])).unwrap();
            return;
        }
        assert_eq!(to_xml(&[spec()]), GOLDEN);
        assert_eq!(from_xml(GOLDEN).unwrap(), vec![spec()]);
        let two = to_xml(&[
            spec(),
            DomainSpec {
                name: "ldg2".into(),
                ..spec()
            },
        ]);
        assert_eq!(from_xml(&two).unwrap().len(), 2);
    }

    /// Oracle's own files carry items and properties ldm has no use for
    /// (addresses, host ids, timeouts): those properties are ignored.
    #[test]
    fn foreign_properties_are_ignored_and_defaults_fill_in() {
        let x = r#"<?xml version="1.0"?>
<LDM_interface version="1.3" xmlns:xsi="x" xmlns:ovf="o" xmlns:rasd="r" xmlns:gprop="g">
 <data version="3.0"><Envelope><References/>
  <Content xsi:type="ovf:VirtualSystem_Type" ovf:id="ldg9">
   <Section xsi:type="ovf:ResourceAllocationSection_Type"><Item>
    <rasd:OtherResourceType>ldom_info</rasd:OtherResourceType>
    <rasd:Address>00:14:4f:fa:14:59</rasd:Address>
    <gprop:GenericProperty key="hostid">0x84fa1459</gprop:GenericProperty>
   </Item></Section>
   <Section xsi:type="ovf:VirtualHardwareSection_Type"><Item>
    <rasd:OtherResourceType>memory</rasd:OtherResourceType>
    <rasd:AllocationUnits>2G</rasd:AllocationUnits>
   </Item></Section>
  </Content></Envelope></data></LDM_interface>"#;
        let s = from_xml(x).unwrap().remove(0);
        assert_eq!((s.name.as_str(), s.vcpus, s.memory_mib), ("ldg9", 1, 2048));
        assert_eq!(s.cpu_arch, CpuArch::Native);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let e = from_xml("<html></html>").unwrap_err();
        assert!(e.contains("not LDM XML"), "{e}");
        let e = from_xml("").unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let e = from_xml(&GOLDEN.replace("</Item>\n        </Section>\n      </Content>", ""))
            .unwrap_err();
        assert!(e.contains("not well-formed"), "{e}");
        let e = from_xml(&GOLDEN.replace(">02:4c:44:00:00:01<", ">02:4c:44<")).unwrap_err();
        assert!(e.contains("network"), "{e}");
        let e = from_xml(&GOLDEN.replace("<rasd:Address>02:4c:44:00:00:01</rasd:Address>", ""))
            .unwrap_err();
        assert!(e.contains("no MAC address"), "{e}");
        let e = from_xml(&GOLDEN.replace("key=\"vnet_name\"", "key=\"name\"")).unwrap_err();
        assert!(e.contains("no property vnet_name"), "{e}");
        let e = from_xml(&GOLDEN.replace(">disk<", ">crypto<")).unwrap_err();
        assert!(e.contains("'crypto' is not a resource"), "{e}");
        let e = from_xml(&GOLDEN.replace(">1536M<", ">lots<")).unwrap_err();
        assert!(e.contains("memory"), "{e}");
        let e = from_xml(&GOLDEN.replace(">generic<", ">sparc64<")).unwrap_err();
        assert!(e.contains("cpu-arch"), "{e}");
        let e = from_xml(&GOLDEN.replace("key=\"vol_name\"", "key=\"volume\"")).unwrap_err();
        assert!(e.contains("no property vol_name"), "{e}");
        let e = from_xml(&GOLDEN.replace(" ovf:id=\"ldg1\"", "")).unwrap_err();
        assert!(e.contains("ovf:id"), "{e}");
    }
}
