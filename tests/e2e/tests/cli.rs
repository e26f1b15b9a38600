//! The command lines themselves: help for every verb, unknown verbs, and
//! what `ldm` says when no ldmd serves its root. No daemon needed.

use ldm_e2e::{ldm_at, ldm_bin, ldmd_bin, output, Output};
use std::process::Command;
use std::time::Duration;

/// How long a command that needs no daemon may take.
const LIMIT: Duration = Duration::from_secs(30);

/// Every verb of `ldm` (crates/ldm/src/cli.rs).
const VERBS: &[&str] = &[
    "add-domain",
    "set-domain",
    "remove-domain",
    "list-domain",
    "set-vcpu",
    "add-vcpu",
    "rm-vcpu",
    "set-memory",
    "add-memory",
    "rm-memory",
    "set-var",
    "bind-domain",
    "unbind-domain",
    "start-domain",
    "stop-domain",
    "list-devices",
    "list-services",
    "add-vcc",
    "set-vcc",
    "remove-vcc",
    "console",
    "migrate-domain",
    "cancel-operation",
    "cancel-reconf",
    "add-user",
    "set-user",
    "remove-user",
    "list-users",
    "add-trust",
    "remove-trust",
    "list-trust",
    "list-constraints",
    "add-spconfig",
    "set-spconfig",
    "remove-spconfig",
    "list-spconfig",
];

/// Aliases an Oracle administrator types.
const ALIASES: &[&str] = &[
    "list",
    "ls",
    "add-dom",
    "set-dom",
    "rm-dom",
    "bind",
    "unbind",
    "start",
    "stop",
    "set-mem",
    "add-mem",
    "rm-mem",
    "remove-vcpu",
    "migrate",
    "rm-vcc",
    "rm-user",
    "rm-spconfig",
    "list-config",
];

fn run(bin: &std::path::Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(bin);
    cmd.args(args).env_remove("LDM_ROOT");
    output::run(cmd, None, LIMIT)
}

/// Runs ldmd on `root` with `args`; it is expected to refuse and exit.
fn run_ldmd(root: &std::path::Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(ldmd_bin());
    cmd.arg("--root").arg(root).args(args);
    output::run(cmd, None, LIMIT)
}

#[test]
fn help_lists_every_verb() {
    let out = run(&ldm_bin(), &["--help"]);
    assert!(out.success(), "{out:?}");
    let help = out.stdout.clone();
    for v in VERBS {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(v)),
            "`ldm --help` does not list {v}:\n{help}"
        );
    }
    assert!(help.contains("--root"), "{help}");
}

#[test]
fn every_verb_and_alias_has_help() {
    for v in VERBS.iter().chain(ALIASES) {
        let out = run(&ldm_bin(), &[v, "--help"]);
        let stdout = out.stdout.clone();
        assert_eq!(
            out.code,
            Some(0),
            "`ldm {v} --help`: {stdout}{}",
            out.stderr.clone()
        );
        assert!(
            stdout.contains("Usage: ldm "),
            "`ldm {v} --help`:\n{stdout}"
        );
    }
    let out = run(&ldm_bin(), &["help", "list"]);
    assert!(out.success());
    assert!(out.stdout.clone().contains("--parseable"));
}

/// Oracle's stop-domain options, with halt as -H (clap keeps -h for help).
#[test]
fn stop_help_documents_oracles_forms() {
    let out = run(&ldm_bin(), &["stop-domain", "--help"]);
    assert!(out.success());
    let h = out.stdout.clone();
    for opt in [
        "-f",
        "-q",
        "-H",
        "--halt",
        "-r",
        "--timeout <SEC>",
        "-a",
        "Oracle's -h",
    ] {
        assert!(
            h.contains(opt),
            "`ldm stop-domain --help` lacks {opt}:\n{h}"
        );
    }
    let out = run(&ldm_bin(), &["stop-domain", "-h"]);
    assert!(
        out.success() && out.stdout.clone().contains("Usage:"),
        "-h is help"
    );
}

#[test]
fn list_help_documents_its_formats() {
    let out = run(&ldm_bin(), &["list", "--help"]);
    assert!(out.success());
    let h = out.stdout.clone();
    for opt in ["--long", "--parseable", "--json", "-o"] {
        assert!(h.contains(opt), "`ldm list --help` lacks {opt}:\n{h}");
    }
}

#[test]
fn version_is_printed() {
    for bin in [ldm_bin(), ldmd_bin()] {
        let out = run(&bin, &["--version"]);
        assert!(out.success(), "{out:?}");
        assert!(out.stdout.clone().contains("0."), "{out:?}");
    }
}

#[test]
fn unknown_verbs_and_missing_arguments_are_usage_errors() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["add-domain"],
        &["set-vcpu", "2"],
        &["set-vcpu", "two", "ldg1"],
        &["set-vcpu", "-1", "ldg1"],
        &["list", "--bogus"],
    ] {
        let out = run(&ldm_bin(), args);
        assert_eq!(out.code, Some(2), "`ldm {args:?}`: {out:?}");
        let err = out.stderr.clone();
        assert!(
            err.contains("Usage") || err.contains("try '--help'"),
            "`ldm {args:?}`: {err}"
        );
    }
}

#[test]
fn ldmd_help_lists_its_options() {
    let out = run(&ldmd_bin(), &["--help"]);
    assert!(out.success(), "{out:?}");
    let h = out.stdout.clone();
    for opt in [
        "--root",
        "--listen",
        "--console-ports",
        "--vcpus",
        "--memory",
        "--qemu",
        "--accel",
    ] {
        assert!(h.contains(opt), "`ldmd --help` lacks {opt}:\n{h}");
    }
}

#[test]
fn ldm_without_ldmd_says_to_start_it() {
    let empty = tempfile::tempdir().unwrap();
    for root in [empty.path().to_path_buf(), empty.path().join("missing")] {
        for args in [
            &["list"][..],
            &["add-domain", "ldg1"],
            &["console", "--dump", "ldg1"],
        ] {
            let out = ldm_at(&root, args);
            out.fails_with("is ldmd running?")
                .fails_with(&format!("ldmd --root {}", root.display()));
        }
    }
    // Nothing was created in the root by asking.
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
}

#[test]
fn ldmd_refuses_a_second_daemon_on_the_same_root() {
    let host = ldm_e2e::Host::start(Default::default());
    run_ldmd(host.root(), &["--console-ports", "29990-29991"])
        .fails_with("another ldmd already serves");
    // The first one still answers.
    host.ldm(&["list"]).ok();
}

#[test]
fn ldmd_rejects_bad_options() {
    let root = tempfile::tempdir().unwrap();
    for (args, phrase) in [
        (&["--console-ports", "5099-5000"][..], "port range"),
        (&["--memory", "12X"], "not a size"),
        (&["--listen", "not-an-ip"], "give an IP address"),
    ] {
        run_ldmd(root.path(), args).fails_with(phrase);
    }
}
