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
//!
//! `write.rs` writes the document, `read.rs` reads it back.

mod read;
#[cfg(test)]
mod tests;
mod write;

pub use read::from_xml;
pub use write::to_xml;
