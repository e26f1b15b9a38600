//! The vCPU slots of a machine with hot-pluggable vCPUs: its `-smp`
//! topology and the CPU device of each slot, on the command line and for
//! `device_add`.

use super::escape_opt;

/// `-smp` for a machine that boots one vCPU and has `max` slots: one
/// socket of `max` cores, so slot `i` is core `i` ([`cpu_slot_device`]).
pub fn hotplug_topology(max: u32) -> String {
    format!("1,maxcpus={max},sockets=1,cores={max},threads=1")
}

/// The QOM type of a CPU device of `model` (`max` → `max-x86_64-cpu`).
pub fn cpu_device_type(model: &str) -> String {
    format!("{model}-x86_64-cpu")
}

/// The device id of the CPU in slot `slot` (1 and up; slot 0 is the boot CPU).
pub fn cpu_slot_id(slot: u32) -> String {
    format!("vcpu{slot}")
}

/// The `-device` value of the CPU in slot `slot`: the same device
/// `device_add` plugs while the machine runs ([`cpu_slot_props`]).
pub fn cpu_slot_device(model: &str, slot: u32) -> String {
    format!(
        "{},id={},socket-id=0,core-id={slot},thread-id=0",
        escape_opt(&cpu_device_type(model)),
        cpu_slot_id(slot)
    )
}

/// The `device_add` arguments of the CPU in slot `slot`.
pub fn cpu_slot_props(model: &str, slot: u32) -> serde_json::Value {
    serde_json::json!({
        "driver": cpu_device_type(model),
        "id": cpu_slot_id(slot),
        "socket-id": 0,
        "core-id": slot,
        "thread-id": 0,
    })
}
