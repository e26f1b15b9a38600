//! The storage verbs: disk services, their volumes, domains' disks.

use clap::Subcommand;

/// Disk services, volumes and domains' disks.
#[derive(Subcommand, Debug)]
pub enum StorageCmd {
    /// Add a virtual disk service: SERVICE primary.
    #[command(name = "add-vds")]
    AddVds {
        /// Service name, e.g. primary-vds0.
        name: String,
        /// Service domain (primary).
        ldom: String,
    },
    /// Remove a virtual disk service that exports no volumes.
    #[command(name = "remove-vds", visible_alias = "rm-vds")]
    RemoveVds {
        /// Service name.
        name: String,
    },
    /// Export a back end (raw or qcow2 file, block device) as a volume: [-f] [options=ro|create] BACKEND VOLUME@SERVICE. With options=create the back end may not exist yet: a --copy-storage migration to this host creates it with the source's size and format.
    #[command(name = "add-vdsdev")]
    AddVdsdev {
        /// Export a back end that another volume already exports.
        #[arg(short = 'f')]
        force: bool,
        /// [options=ro|create] BACKEND VOLUME@SERVICE
        #[arg(required = true, num_args = 2..=3, value_name = "[options=ro|create] BACKEND VOLUME@SERVICE")]
        args: Vec<String>,
    },
    /// Change a volume's options: options=ro (or options= to clear) VOLUME@SERVICE.
    #[command(name = "set-vdsdev")]
    SetVdsdev {
        /// options=…
        options: String,
        /// VOLUME@SERVICE
        volume: String,
    },
    /// Remove a volume no disk uses: VOLUME@SERVICE.
    #[command(name = "remove-vdsdev", visible_alias = "rm-vdsdev")]
    RemoveVdsdev {
        /// VOLUME@SERVICE
        volume: String,
    },
    /// Give a domain (bound or inactive) a virtual disk: DISK VOLUME@SERVICE DOMAIN.
    #[command(name = "add-vdisk")]
    AddVdisk {
        /// Disk name (the guest's /dev/disk/by-id/virtio-DISK; up to 20 characters).
        disk: String,
        /// VOLUME@SERVICE
        volume: String,
        /// Domain.
        domain: String,
    },
    /// Point a disk at another volume: volume=VOLUME@SERVICE DISK DOMAIN.
    #[command(name = "set-vdisk")]
    SetVdisk {
        /// volume=VOLUME@SERVICE
        volume: String,
        /// Disk name.
        disk: String,
        /// Domain.
        domain: String,
    },
    /// Remove a disk from a domain (bound or inactive): DISK DOMAIN.
    #[command(name = "remove-vdisk", visible_alias = "rm-vdisk")]
    RemoveVdisk {
        /// Disk name.
        disk: String,
        /// Domain.
        domain: String,
    },
}
