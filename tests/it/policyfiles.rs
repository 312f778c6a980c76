//! Policy files as hostile input: bounded YAML, located errors, no escape from the root.
//!
//! Attacks on sweep running as root, each made for real (see tests/it/support/attack.rs):
//! the attacker is `nobody` (util-linux `setpriv`), kernel protections that would hide a
//! bug in sweep are turned off for the test and restored, mounts are made only in a
//! private mount namespace, and races are bounded in time.

use std::fs::{self};

use crate::support::*;

use std::os::unix::fs::{PermissionsExt, symlink};

use rustix::fs::Mode;

use crate::support::attack::*;

#[test]
fn hostile_policy_files_are_refused_at_the_limit_they_break() {
    let t = Tree::new();
    let nested = t.dir.path().join("nested.yaml");
    fs::write(&nested, "[".repeat(100_000)).unwrap();
    // 10 levels of 10 aliases each: 10^10 values once expanded.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let bomb_file = t.dir.path().join("bomb.yaml");
    fs::write(&bomb_file, bomb).unwrap();
    let big = t.dir.path().join("big.yaml");
    let mut text = b"version: 1\n".to_vec();
    text.resize(50 * 1024 * 1024, b'#');
    text.push(b'\n');
    fs::write(&big, text).unwrap();

    for (file, limit) in [
        (&nested, "nested more than 32 levels deep"),
        (&bomb_file, "counting what aliases repeat"),
        (&big, "at most 1048576 bytes"),
    ] {
        let mut s = Sweep::new();
        s.args(["check", "-c"]).arg(file);
        let done = bounded(limit_memory(s.command()), "check of a hostile policy file");
        expect_code(&done, 3);
        done.stdout_has(&format!("{}:", file.display())).stdout_has(limit);
    }
}

#[test]
fn explain_resolves_dot_dot_before_choosing_a_policy() {
    let t = Tree::new();
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let path = format!("{}/2024-07-01/../../../../etc/x", t.root.display());
    let done = Sweep::new().args(["explain", "-c"]).arg(&p).args(["--now", NOW, &path]).output();
    assert!(done.out.status.code().is_some_and(|c| c != 101), "{}", done.stderr());
    done.stdout_has("no policy's root contains this path");
    assert!(!done.stdout().contains("delete"), "a path outside every root is never to be deleted:\n{}", done.stdout());
}

#[test]
fn an_exclude_glob_climbing_out_of_the_root_is_rejected() {
    let t = Tree::new();
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "exclude: ['../**']"));
    Sweep::new().arg("check").arg("-c").arg(&p).code(3).stdout_has("`..` would point outside the root");
}

#[test]
fn invalid_utf8_in_a_policy_file_is_located_by_line_and_column() {
    let t = Tree::new();
    let p = t.dir.path().join("policy.yaml");
    fs::write(&p, b"version: 1\npolicies:\n  - name: t\xff\n").unwrap();
    let done = Sweep::new().arg("check").arg("-c").arg(&p).code(3);
    done.stdout_has(&format!("{}:3:12:", p.display())).stdout_has("not valid UTF-8");
}

#[test]
fn a_policy_file_starting_with_a_byte_order_mark_loads() {
    let t = Tree::new();
    let p = t.dir.path().join("policy.yaml");
    let text =
        format!("\u{feff}{}", one_policy(&["%Y-%m-%d/**"], "1d", "")).replace("{root}", t.root.to_str().unwrap());
    fs::write(&p, text).unwrap();
    Sweep::new().arg("check").arg("-c").arg(&p).code(0).stdout_has("ok: 1 policy in 1 file");
}

#[test]
fn a_min_age_beyond_i64_seconds_is_rejected() {
    let t = Tree::new();
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "min_age: 9223372036854775808s"));
    Sweep::new().arg("check").arg("-c").arg(&p).code(3).stdout_has("min_age");
}

/// As root, a policy file or directory another user could have written is refused
/// (exit 3): its policies would decide what root deletes. A FIFO or a link to a device
/// named like a policy file is said, never skipped silently.
#[test]
fn policy_files_others_could_write_are_refused_as_root() {
    let test = "policy_files_others_could_write_are_refused_as_root";
    let Some(_nobody) = Nobody::new(test) else { return };
    let t = Tree::new();
    t.file("2024-07-01/a");
    let p = t.policy(&one_policy(&["%Y-%m-%d/*"], "1d", ""));
    for (mode, owner, why) in [
        (0o666, 0, "can be written by every user"),
        (0o664, 0, "can be written by its group"),
        (0o644, NOBODY, "owned by uid 65534"),
    ] {
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&p, Some(owner), Some(owner)).unwrap();
        Sweep::new().arg("check").arg("-c").arg(&p).code(3).stdout_has(why);
        t.sweep("apply", &p, NOW).code(3).stderr_has(why);
        assert!(t.exists("2024-07-01/a"), "nothing touched");
    }
    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::chown(&p, Some(0), Some(0)).unwrap();
    Sweep::new().arg("check").arg("-c").arg(&p).code(0);

    // A directory of policy files others can write, and odd things named like policies.
    let dir = t.dir.path().join("conf.d");
    fs::create_dir(&dir).unwrap();
    fs::copy(&p, dir.join("a.yaml")).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    Sweep::new().arg("check").arg("-c").arg(&dir).code(3).stdout_has("can be written by every user");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    rustix::fs::mknodat(rustix::fs::CWD, dir.join("b.yaml"), rustix::fs::FileType::Fifo, Mode::from_raw_mode(0o600), 0)
        .unwrap();
    symlink("/dev/zero", dir.join("c.yml")).unwrap();
    let done = bounded(Sweep::new().arg("check").arg("-c").arg(&dir).command(), "check of a directory with a FIFO");
    assert_eq!(done.out.status.code(), Some(3), "{}", done.stdout());
    let out = done.stdout();
    assert!(out.contains("b.yaml") && out.contains("c.yml") && out.matches("not a regular file").count() == 2, "{out}");
}
