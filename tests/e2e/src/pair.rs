//! Two hosts for a migration test: ldmd on 127.0.0.1 (`hostA`) and
//! 127.0.0.2 (`hostB`), each with the management account `admin` and
//! trusting the other, and the password file the `ldm` commands use.

use crate::{output, Host, HostOpts, Output};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

/// The password of `admin` on both hosts.
pub const PASSWORD: &str = "s3cret-pass";

/// Writes `text` and a newline to `name` in `host`'s root with `mode`.
pub fn password_file(host: &Host, name: &str, text: &str, mode: u32) -> PathBuf {
    let p = host.root().join(name);
    std::fs::write(&p, format!("{text}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

/// Two hosts that trust each other, `admin` on both.
pub struct Pair {
    pub a: Host,
    pub b: Host,
    /// The password file of `admin` (0600), in `a`'s root.
    pub pw: PathBuf,
}

impl Pair {
    /// Two hosts with default options.
    pub fn start() -> Pair {
        Pair::with(HostOpts::default(), HostOpts::default())
    }

    /// Two hosts from `a` and `b`, given their addresses and host names.
    pub fn with(a: HostOpts, b: HostOpts) -> Pair {
        let a = Host::start(a.listen("127.0.0.1").hostname("hostA"));
        let b = Host::start(b.listen("127.0.0.2").hostname("hostB"));
        let pw = password_file(&a, "pw", PASSWORD, 0o600);
        for h in [&a, &b] {
            h.ldm(&["add-user", "-p", path(&pw), "admin"]).ok();
        }
        a.ldm(&["add-trust", b.listen_addr().unwrap()]).ok();
        b.ldm(&["add-trust", a.listen_addr().unwrap()]).ok();
        Pair { a, b, pw }
    }

    /// The password file, as an argument.
    pub fn pw_arg(&self) -> &str {
        path(&self.pw)
    }

    /// `admin@ADDRESS:PORT` of `to`, as `migrate-domain` takes it.
    pub fn target(&self, to: &Host) -> String {
        format!("admin@{}", to.listen_addr().unwrap())
    }

    /// `ldm migrate-domain -p PW EXTRA… NAME TARGET` on `from`.
    pub fn migrate(&self, from: &Host, to: &Host, name: &str, extra: &[&str]) -> Output {
        let target = self.target(to);
        let mut args = vec!["migrate-domain", "-p", self.pw_arg()];
        args.extend_from_slice(extra);
        args.extend([name, target.as_str()]);
        from.ldm(&args)
    }

    /// The same, started and left running, its output piped.
    pub fn spawn_migrate(&self, from: &Host, to: &Host, name: &str, extra: &[&str]) -> Child {
        let mut c = from.ldm_command();
        c.args(["migrate-domain", "-p", self.pw_arg()])
            .args(extra)
            .args([name, &self.target(to)])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().expect("spawn ldm migrate-domain")
    }
}

/// Waits (at most 300 s) for a spawned `migrate-domain`: exit code,
/// stdout, stderr.
pub fn finish(child: Child) -> (Option<i32>, String, String) {
    let out = output::finish("ldm migrate-domain".into(), child, Duration::from_secs(300));
    (out.code, out.stdout, out.stderr)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}
