//! Names that break naive tools: not UTF-8, with newlines; and symlinks inside the root.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use base64::Engine as _;

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";

#[test]
fn non_utf8_and_newline_names_are_deleted_and_reported_as_valid_json() {
    let t = Tree::new();
    t.file("2024-07-01/plain.csv");
    let odd = t.path("2024-07-01").join(OsStr::from_bytes(b"bad\xff\xfename.csv"));
    std::fs::write(&odd, b"x").unwrap();
    let nl = t.path("2024-07-01").join("two\nlines.csv");
    std::fs::write(&nl, b"x").unwrap();
    let keep = t.path("2024-07-12").join(OsStr::from_bytes(b"\xffkeep"));
    std::fs::create_dir_all(keep.parent().unwrap()).unwrap();
    std::fs::write(&keep, b"x").unwrap();
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));

    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    let lines = plan.json();
    let odd_line =
        lines.iter().find(|l| l.get("path_base64").is_some() && l["action"] == "delete").expect("odd name reported");
    let bytes = base64::engine::general_purpose::STANDARD.decode(odd_line["path_base64"].as_str().unwrap()).unwrap();
    assert_eq!(bytes, odd.as_os_str().as_bytes(), "path_base64 holds the exact bytes");
    assert!(odd_line["path"].as_str().unwrap().contains('\u{fffd}'));
    assert!(lines.iter().any(|l| l["path"].as_str().is_some_and(|p| p.ends_with("two\nlines.csv"))));

    let text = t.sweep("plan", &p, NOW).arg("-v").code(0);
    text.stdout_has("bad\\xff\\xfename.csv").stdout_has("two\\nlines.csv");

    t.sweep("apply", &p, NOW).code(0);
    assert!(!odd.exists() && !nl.exists());
    assert!(!t.exists("2024-07-01"));
    assert!(keep.exists());
}

#[test]
fn symlinks_are_removed_never_followed() {
    let t = Tree::new();
    let outside = t.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("precious.csv"), b"keep me").unwrap();
    t.file("2024-07-01/real.csv");
    // A link to a file outside, and a link to a directory outside, both in an expired partition.
    std::os::unix::fs::symlink(outside.join("precious.csv"), t.path("2024-07-01/link.csv")).unwrap();
    std::os::unix::fs::symlink(&outside, t.path("2024-07-01/dirlink")).unwrap();
    // A partition that is itself a symlink to the outside directory.
    std::os::unix::fs::symlink(&outside, t.path("2024-07-02")).unwrap();
    let p = t.policy(&one_policy(&["%Y-%m-%d/**", "%Y-%m-%d"], "1d", ""));

    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    assert_eq!(
        plan.actions(&t.root),
        pairs(&[
            ("2024-07-01/dirlink", "delete"),
            ("2024-07-01/link.csv", "delete"),
            ("2024-07-01/real.csv", "delete"),
            ("2024-07-02", "delete"),
        ]),
        "links are classified by their own names, never entered"
    );
    t.sweep("apply", &p, NOW).code(0);
    assert!(!t.exists("2024-07-01") && !t.exists("2024-07-02"));
    assert_eq!(std::fs::read(outside.join("precious.csv")).unwrap(), b"keep me");
}

#[test]
fn a_root_that_is_a_symlink_is_resolved_once() {
    let t = Tree::new();
    t.files(&["2024-07-01/a", "2024-07-12/a"]);
    let link = t.dir.path().join("root-link");
    std::os::unix::fs::symlink(&t.root, &link).unwrap();
    let p = t.policy("version: 1\npolicies:\n  - name: t\n    root: {dir}/root-link\n    timezone: UTC\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n");
    t.sweep("apply", &p, NOW).code(0);
    assert_eq!(t.listing(), vec!["2024-07-12/a"]);
    assert!(link.is_symlink());
}

#[test]
fn fifos_sockets_and_devices_are_classified_without_being_opened() {
    let t = Tree::new();
    t.dir_("2024-07-01");
    rustix::fs::mknodat(rustix::fs::CWD, t.path("2024-07-01/fifo"), rustix::fs::FileType::Fifo, 0o644.into(), 0)
        .unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(t.path("2024-07-01/sock")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        t.path("2024-07-01/null"),
        rustix::fs::FileType::CharacterDevice,
        0o644.into(),
        rustix::fs::makedev(1, 3),
    )
    .expect("mknod works as root on this machine kind");
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
    assert_eq!(done.summary()["policies"][0]["deleted"], 3);
    assert!(!t.exists("2024-07-01"));
}
