//! Creating a persistent tap device. The kernel makes taps only through
//! `/dev/net/tun` (netlink refuses: "tun/tap creation via rtnetlink is not
//! supported"), so this is the one ioctl of the network code; everything
//! else about the tap (bridge, MTU, address, up) is set over netlink.
//!
//! The tap is made persistent and its file closed: it stays while no
//! process has it open, and QEMU attaches to it by name
//! (`-netdev tap,ifname=…`) with the same flags (a tap, no packet
//! information, virtio-net headers, one queue).

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const TUNSETPERSIST: libc::c_ulong = 0x4004_54cb;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFF_VNET_HDR: libc::c_short = 0x4000;

/// `struct ifreq` with the flags member of its union, padded to its size.
#[repr(C)]
struct IfReqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Creates the persistent tap `name` in the calling thread's network
/// namespace.
pub fn create(name: &str) -> std::io::Result<()> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("'{name}' is not a valid interface name"),
        ));
    }
    let tun = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")?;
    let mut req = IfReqFlags {
        name: [0; libc::IFNAMSIZ],
        flags: IFF_TAP | IFF_NO_PI | IFF_VNET_HDR,
        _pad: [0; 22],
    };
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: the descriptor is open for the whole call, and `req` is a
    // valid, initialised `struct ifreq` layout (name, then the flags of its
    // union, padded to the union's size) that outlives the call.
    let r = unsafe { libc::ioctl(tun.as_raw_fd(), TUNSETIFF, &mut req as *mut IfReqFlags) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor is open and attached to the tap; the argument
    // is an integer passed by value.
    let r = unsafe { libc::ioctl(tun.as_raw_fd(), TUNSETPERSIST, 1 as libc::c_ulong) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
