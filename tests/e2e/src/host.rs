//! A test host: one `ldmd` process with its own temporary root directory.

use crate::bins::{ldm_bin, ldmd_bin};
use crate::console::ConsoleClient;
use crate::output::{run, Output};
use crate::ports::PortSlot;
use crate::procs::{cmdline, pid_alive, pids_mentioning, signal, wait_gone};
use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long one `ldm` command may take before the test fails.
pub const LDM_TIMEOUT: Duration = Duration::from_secs(120);
/// How long ldmd may take to answer its first `ldm list`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How to start an ldmd.
#[derive(Debug, Clone, Default)]
pub struct HostOpts {
    /// `--listen`: an IP (the host's peer port is added) or IP:PORT.
    pub listen: Option<String>,
    /// `--console-ports A-B`; default: the host's own unique range.
    pub console_ports: Option<(u16, u16)>,
    /// `--vcpus`.
    pub vcpus: Option<u32>,
    /// `--memory`, e.g. `1G`.
    pub memory: Option<String>,
    /// `--qemu`.
    pub qemu: Option<PathBuf>,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// `--native-cpu`: the CPU model this host declares as its own.
    pub native_cpu: Option<String>,
    /// Environment variables for ldmd (kept across restarts).
    pub env: Vec<(String, String)>,
    /// A network namespace to run ldmd and `ldm` in (a lab host).
    pub netns: Option<String>,
    /// `--metrics 127.0.0.1:PORT` on a port of the host's slot.
    pub metrics: bool,
}

impl HostOpts {
    /// `--listen IP` (with this host's peer port) or `--listen IP:PORT`.
    pub fn listen(mut self, addr: &str) -> Self {
        self.listen = Some(addr.into());
        self
    }
    /// Serve Prometheus metrics (see [`Host::metrics_addr`]).
    pub fn metrics(mut self) -> Self {
        self.metrics = true;
        self
    }
    /// `--vcpus N`.
    pub fn vcpus(mut self, n: u32) -> Self {
        self.vcpus = Some(n);
        self
    }
    /// `--memory SIZE`.
    pub fn memory(mut self, size: &str) -> Self {
        self.memory = Some(size.into());
        self
    }
    /// `--qemu PATH`.
    pub fn qemu(mut self, path: impl Into<PathBuf>) -> Self {
        self.qemu = Some(path.into());
        self
    }
    /// `--native-cpu MODEL`.
    pub fn native_cpu(mut self, model: &str) -> Self {
        self.native_cpu = Some(model.into());
        self
    }

    /// `--hostname NAME`.
    pub fn hostname(mut self, name: &str) -> Self {
        self.hostname = Some(name.into());
        self
    }
    /// An environment variable for ldmd, e.g. a test fault hook. Set per
    /// host: the test process's own environment stays untouched, so
    /// daemons started by other tests in parallel never inherit it.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
    /// Runs ldmd, and `ldm` against it, inside network namespace `ns`, as
    /// on a host of its own (see [`crate::lab`]).
    pub fn netns(mut self, ns: &str) -> Self {
        self.netns = Some(ns.into());
        self
    }
}

/// One ldmd with its root directory. Dropping it kills ldmd and every QEMU it
/// started (QEMU is daemonized and outlives ldmd by design).
pub struct Host {
    dir: TempDir,
    slot: PortSlot,
    args: Vec<String>,
    env: Vec<(String, String)>,
    netns: Option<String>,
    listen: Option<String>,
    console_addr: IpAddr,
    console_range: (u16, u16),
    metrics: Option<std::net::SocketAddr>,
    child: Option<Child>,
}

impl Host {
    /// Starts an ldmd and waits until `ldm list` answers.
    #[track_caller]
    pub fn start(opts: HostOpts) -> Host {
        crate::failure::install();
        let slot = PortSlot::claim();
        let dir = tempfile::Builder::new()
            .prefix("ldm-e2e-")
            .tempdir()
            .expect("create a temporary root");
        let console_range = opts.console_ports.unwrap_or_else(|| slot.console_range());
        let mut args = vec![
            "--console-ports".to_string(),
            format!("{}-{}", console_range.0, console_range.1),
        ];
        let listen = opts.listen.as_ref().map(|l| {
            if l.parse::<IpAddr>().is_ok() {
                format!("{l}:{}", slot.peer_port())
            } else {
                l.clone()
            }
        });
        if let Some(l) = &listen {
            args.extend(["--listen".into(), l.clone()]);
        }
        let listen_ip = listen.as_ref().and_then(|l| {
            l.parse::<std::net::SocketAddr>()
                .ok()
                .map(|a| a.ip())
                .or_else(|| l.parse().ok())
        });
        // ldmd's default: consoles on the peer address when it is a
        // loopback one, else on 127.0.0.1.
        let console_addr = match listen_ip {
            Some(ip) if ip.is_loopback() => ip,
            _ => IpAddr::from([127, 0, 0, 1]),
        };
        if let Some(v) = opts.vcpus {
            args.extend(["--vcpus".into(), v.to_string()]);
        }
        if let Some(m) = &opts.memory {
            args.extend(["--memory".into(), m.clone()]);
        }
        if let Some(q) = &opts.qemu {
            args.extend(["--qemu".into(), q.display().to_string()]);
        }
        if let Some(h) = &opts.hostname {
            args.extend(["--hostname".into(), h.clone()]);
        }
        if let Some(c) = &opts.native_cpu {
            args.extend(["--native-cpu".into(), c.clone()]);
        }
        let metrics = opts
            .metrics
            .then(|| std::net::SocketAddr::from(([127, 0, 0, 1], slot.spare_range().1)));
        if let Some(m) = metrics {
            args.extend(["--metrics".into(), m.to_string()]);
        }
        let mut host = Host {
            dir,
            slot,
            args,
            env: opts.env,
            netns: opts.netns,
            listen,
            console_addr,
            console_range,
            metrics,
            child: None,
        };
        host.start_daemon();
        host
    }

    /// Where ldmd serves metrics, if started with [`HostOpts::metrics`].
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics
    }

    /// The root directory (`--root`, `LDM_ROOT`).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The peer listener address (`--listen`), if any.
    pub fn listen_addr(&self) -> Option<&str> {
        self.listen.as_deref()
    }

    /// The address domain consoles listen on.
    pub fn console_addr(&self) -> IpAddr {
        self.console_addr
    }

    /// The network namespace ldmd runs in, if not the test's own.
    pub fn netns(&self) -> Option<&str> {
        self.netns.as_deref()
    }

    /// Connects to a console port of this host, from inside its network
    /// namespace if it has one.
    #[track_caller]
    pub fn console_client(&self, port: u16) -> ConsoleClient {
        let addr = self.console_addr;
        match &self.netns {
            Some(ns) => crate::netns::enter(ns, || ConsoleClient::connect(addr, port)),
            None => ConsoleClient::connect(addr, port),
        }
    }

    /// A command for `program` in this host's network namespace.
    fn command(&self, program: PathBuf) -> Command {
        match &self.netns {
            Some(ns) => crate::netns::command(ns, program),
            None => Command::new(program),
        }
    }

    /// The console port range of the default vcc.
    pub fn console_range(&self) -> (u16, u16) {
        self.console_range
    }

    /// This host's claimed ports.
    pub fn ports(&self) -> &PortSlot {
        &self.slot
    }

    /// Where ldmd's stdout and stderr go.
    pub fn log_path(&self) -> PathBuf {
        self.root().join("ldmd.out")
    }

    /// What ldmd printed so far (across restarts).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The pid of the ldmd this harness started last, whether or not it
    /// still runs (for reading `/proc` while it does).
    pub fn started_pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    /// The pid of the running ldmd.
    pub fn daemon_pid(&mut self) -> Option<u32> {
        let c = self.child.as_mut()?;
        match c.try_wait() {
            Ok(None) => Some(c.id()),
            _ => None,
        }
    }

    /// Starts ldmd (again) with the same root and arguments and waits until
    /// it answers. Panics if it is running.
    #[track_caller]
    pub fn start_daemon(&mut self) {
        assert!(self.daemon_pid().is_none(), "ldmd is already running");
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open ldmd.out");
        let child = self
            .command(ldmd_bin())
            .arg("--root")
            .arg(self.root())
            .args(&self.args)
            // Plain log lines: they end up in test failure messages.
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env_remove("LDM_ROOT")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", ldmd_bin().display()));
        self.child = Some(child);
        self.wait_ready();
    }

    #[track_caller]
    fn wait_ready(&mut self) {
        let end = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!(
                        "ldmd exited ({st}) before answering; its log:\n{}",
                        self.log()
                    );
                }
            }
            let out = self.ldm_timeout(&["list"], None, Duration::from_secs(20));
            if out.success() {
                return;
            }
            if Instant::now() > end {
                panic!(
                    "ldmd did not answer `ldm list` within {READY_TIMEOUT:?}: {}\nldmd log:\n{}",
                    out.stderr,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills ldmd with SIGKILL and waits for it (domains keep running).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops ldmd with SIGTERM and waits up to 15 s for it to exit; returns
    /// its exit status.
    #[track_caller]
    pub fn terminate(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("ldmd is not running");
        signal(c.id(), libc::SIGTERM);
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st;
            }
            if Instant::now() > end {
                let _ = c.kill();
                let _ = c.wait();
                panic!("ldmd did not exit within 15 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sets (or replaces) an environment variable of ldmd for its next
    /// start, e.g. `LDMD_BOOT_ID` to simulate a reboot of the host.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// Stops ldmd (SIGTERM) if it runs, then starts it again.
    #[track_caller]
    pub fn restart(&mut self) {
        if self.daemon_pid().is_some() {
            let st = self.terminate();
            assert!(st.success(), "ldmd exited with {st} on SIGTERM");
        }
        self.start_daemon();
    }

    /// A `Command` for `ldm` aimed at this host (`LDM_ROOT` set), in its
    /// network namespace if it has one.
    pub fn ldm_command(&self) -> Command {
        let mut c = self.command(ldm_bin());
        c.env("LDM_ROOT", self.root());
        c
    }

    /// Runs `ldm ARGS` (stdin: nothing).
    #[track_caller]
    pub fn ldm(&self, args: &[&str]) -> Output {
        self.ldm_timeout(args, None, LDM_TIMEOUT)
    }

    /// Runs `ldm ARGS` with `input` on its stdin (then end of input).
    #[track_caller]
    pub fn ldm_with_input(&self, args: &[&str], input: &[u8]) -> Output {
        self.ldm_timeout(args, Some(input), LDM_TIMEOUT)
    }

    /// Runs `ldm ARGS` with a time limit.
    #[track_caller]
    pub fn ldm_timeout(&self, args: &[&str], input: Option<&[u8]>, limit: Duration) -> Output {
        let mut c = self.ldm_command();
        c.args(args);
        run(c, input, limit)
    }

    /// Pids of the live QEMUs of this host, from its pid files.
    pub fn qemu_pids(&self) -> Vec<u32> {
        let root = self.root().to_string_lossy().into_owned();
        let Ok(rd) = std::fs::read_dir(self.root().join("run")) else {
            return Vec::new();
        };
        rd.flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "pid"))
            .filter_map(|e| ldm_qemu::read_pidfile(&e.path()))
            .filter(|&p| pid_alive(p) && cmdline(p).is_some_and(|c| c.contains(&root)))
            .collect()
    }

    /// Kills every QEMU (and any other process) this host started.
    pub fn kill_all_vms(&self) {
        let mut pids = self.qemu_pids();
        for p in pids_mentioning(self.root()) {
            if !pids.contains(&p) {
                pids.push(p);
            }
        }
        for &p in &pids {
            signal(p, libc::SIGKILL);
        }
        for &p in &pids {
            wait_gone(p, Duration::from_secs(5));
        }
    }
}

impl Host {
    /// Prints the tail of each QEMU log of this host, for a failed test.
    fn print_qemu_logs(&self) {
        let Ok(rd) = std::fs::read_dir(self.root().join("log")) else {
            return;
        };
        for e in rd.flatten() {
            let path = e.path();
            if !path.to_string_lossy().ends_with(".qemu.log") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            eprintln!("---- {} (last {} lines) ----", path.display(), tail.len());
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!(
                "---- ldmd log of {} (last {} lines) ----",
                self.root().display(),
                tail.len()
            );
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
            self.print_qemu_logs();
            crate::failure::repeat();
        }
        self.kill9();
        self.kill_all_vms();
    }
}

/// Runs `ldm ARGS` against `root` (which need not have an ldmd).
#[track_caller]
pub fn ldm_at(root: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(ldm_bin());
    c.env("LDM_ROOT", root).args(args);
    run(c, None, LDM_TIMEOUT)
}
