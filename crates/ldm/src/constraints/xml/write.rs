//! The LDM XML written: `list-constraints -x`.

use ldm_api::{format_mib, DomainSpec};
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

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
