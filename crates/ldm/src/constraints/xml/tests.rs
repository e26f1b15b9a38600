use super::{from_xml, to_xml};
use ldm_api::domain::MigrationPrefs;
use ldm_api::network::VnetSpec;
use ldm_api::storage::VdiskSpec;
use ldm_api::{BootVars, CpuArch, DomainSpec};

const GOLDEN: &str = include_str!("../../../tests/golden/constraints-ldg1.xml");

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
    let e =
        from_xml(&GOLDEN.replace("</Item>\n        </Section>\n      </Content>", "")).unwrap_err();
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
