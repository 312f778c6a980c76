//! Attacks on the lifecycle tiers of sweep running as root (rows 3, 4, 6 and 11 of the
//! v3 hardening issue), each made for real: the attacker is `nobody` (through
//! `support::User`), the victim another user (uid 1 or 2), an archive on another
//! filesystem is a tmpfs (or a ramfs, which holds no extended attributes), a race is
//! bounded in time, and every attacker process is killed when its test ends.
//!
//! Every test here failed on the code before "tiers as root" (8af65f7) except
//! `an_interrupted_compression_of_the_same_file_is_completed_by_the_next_run`, which
//! guards the completion that the mark replaced the content comparison for. Row 12 (a
//! file that sweep set aside and never judged is never unlinked) is tested beside the
//! code, in `tree::local::remover`.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};
use serde_json::Value;

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";
/// uid and gid of the attacker.
const NOBODY: u32 = 65534;
/// The extended attribute sweep marks the files it compresses with (docs/guide.md).
const MARK: &str = "user.sweep.source";
/// How long an attacker's loop runs at most.
const RACE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// Row 3: an archive on another filesystem.

#[test]
fn a_copy_forged_in_an_archive_others_can_write_never_replaces_the_original() {
    // The archive is a tmpfs as mounted by default (mode 1777, like /tmp). nobody creates
    // `.sweep-incoming` there before sweep does, then, while sweep copies, renames its
    // temporary away and plants a file of the same name. Before v3 the forgery was renamed
    // into the archive and the original unlinked (exit 0).
    let test = "a_copy_forged_in_an_archive_others_can_write_never_replaces_the_original";
    let Some(nobody) = User::new(NOBODY, NOBODY, test) else { return };
    let t = open_tree();
    let data = csv(2_000_000); // about 50 MB: tens of milliseconds of copying
    t.file_bytes("2024-05-20/big.csv", &data).file_bytes("2024-05-20/small.csv", b"small\n");
    let to = t.dir.path().join("archive");
    let _m = Tmpfs::mount(&to, "size=256m");
    assert_eq!(fs::metadata(&to).unwrap().mode() & 0o7777, 0o1777, "a tmpfs is world-writable by default");
    let p = archive_policy(&t, &to);

    let stop = t.dir.path().join("stop");
    let racer = Racer::start(
        &nobody,
        r#"inc=$1; stop=$2
mkdir -m 777 "$inc" || exit 1
echo ready
while [ ! -e "$stop" ] && (( SECONDS < 30 )); do
  for f in "$inc"/.sweep.*.move; do
    [ -f "$f" ] || continue
    mv -f "$f" "$f.stolen" 2>/dev/null || continue
    printf 'forged by nobody\n' > "$f" && echo "planted $f"
  done
done"#,
        &[&to.join(".sweep-incoming"), &stop],
    );
    let apply = bounded(t.sweep("apply", &p, NOW).args(["--format", "json"]).command(), "sweep apply");
    let raced = racer.stop(&stop);

    let landed = to.join("2024-05-20/big.csv");
    if let Ok(content) = fs::read(&landed) {
        assert!(content == data, "a forgery landed in the archive ({} bytes; nobody: {raced})", content.len());
    }
    assert_holds(&t.path("2024-05-20/big.csv"), &data, "the original is intact");
    assert!(t.exists("2024-05-20/small.csv"), "nothing is moved");
    expect_code(&apply, 5);
    assert!(files_under(&to, &[".sweep-incoming"]).is_empty(), "the archive holds nothing new");
    for l in lines(&apply, "move") {
        assert_eq!(l["outcome"], "failed", "{l}");
        let error = l["error"].as_str().unwrap();
        assert!(error.contains("archive.to") && error.contains("can be written by"), "{l}");
    }
    let plan = bounded(t.sweep("plan", &p, NOW).args(["--format", "json"]).command(), "sweep plan");
    expect_code(&plan, 5);
    assert_eq!(lines(&plan, "move").len(), 2, "{}", plan.stdout());
}

#[test]
fn an_archive_another_user_can_write_fails_every_move_in_plan_and_apply() {
    let test = "an_archive_another_user_can_write_fails_every_move_in_plan_and_apply";
    let Some(_) = User::new(NOBODY, NOBODY, test) else { return };
    // (owner, mode, what the message says)
    for (owner, mode, why) in [(NOBODY, 0o755, "uid 65534"), (0, 0o775, "0775"), (0, 0o1777, "1777")] {
        let t = Tree::new();
        t.file_bytes("2024-05-20/a.csv", b"a\n");
        let to = t.dir.path().join("archive");
        fs::create_dir(&to).unwrap();
        std::os::unix::fs::chown(&to, Some(owner), Some(owner)).unwrap();
        fs::set_permissions(&to, fs::Permissions::from_mode(mode)).unwrap();
        let p = archive_policy(&t, &to);
        for sub in ["plan", "apply"] {
            let done = bounded(t.sweep(sub, &p, NOW).args(["--format", "json"]).command(), sub);
            assert_eq!(fs::read(t.path("2024-05-20/a.csv")).unwrap(), b"a\n", "{sub}, owner {owner} mode {mode:o}");
            expect_code(&done, 5);
            let problems = done.summary()["policies"][0]["problems"].to_string();
            assert!(problems.contains("can be written by") && problems.contains(why), "{sub} {mode:o}: {problems}");
        }
        assert!(files_under(&to, &[]).is_empty(), "nothing moved into {mode:o}");
    }
}

#[test]
fn a_cross_filesystem_archive_copies_through_a_directory_only_root_can_enter() {
    // An archive only root can write, on another filesystem: the copy waits in an
    // incoming directory sweep makes for itself (root's, 0700), and what lands is the
    // original's content. nobody tries all along to get into the archive: every attempt
    // fails.
    let test = "a_cross_filesystem_archive_copies_through_a_directory_only_root_can_enter";
    let Some(nobody) = User::new(NOBODY, NOBODY, test) else { return };
    let t = open_tree();
    let data = csv(1_000_000);
    t.file_bytes("2024-05-20/big.csv", &data).file_bytes("2024-05-21/small.csv", b"small\n");
    let to = t.dir.path().join("archive");
    let _m = Tmpfs::mount(&to, "size=128m,mode=0755");
    let p = archive_policy(&t, &to);
    let stop = t.dir.path().join("stop");
    let racer = Racer::start(
        &nobody,
        r#"to=$1; stop=$2
echo ready
while [ ! -e "$stop" ] && (( SECONDS < 30 )); do
  mkdir "$to/.sweep-incoming" 2>/dev/null && echo "made the incoming directory"
  : 2>/dev/null > "$to/.sweep-incoming/x" && echo "wrote in the incoming directory"
  for f in "$to"/.sweep-incoming/.sweep.*.move; do
    [ -e "$f" ] && mv -f "$f" "$f.stolen" 2>/dev/null && echo "moved $f"
  done
  : 2>/dev/null > "$to/2024-05-20/big.csv" && echo "planted the destination"
done"#,
        &[&to, &stop],
    );
    let apply = bounded(t.sweep("apply", &p, NOW).args(["--format", "json"]).command(), "sweep apply");
    let raced = racer.stop(&stop);
    expect_code(&apply, 0);
    assert_holds(&to.join("2024-05-20/big.csv"), &data, "the original's content landed");
    assert_eq!(fs::read(to.join("2024-05-21/small.csv")).unwrap(), b"small\n");
    assert_eq!(t.listing(), Vec::<String>::new(), "both originals moved");
    let incoming = fs::symlink_metadata(to.join(".sweep-incoming")).unwrap();
    assert!(incoming.is_dir());
    assert_eq!((incoming.uid(), incoming.mode() & 0o7777), (0, 0o700), "the incoming directory is root's, 0700");
    assert!(raced.is_empty(), "nobody got into the archive: {raced}");
}

#[test]
fn an_incoming_directory_that_is_not_sweeps_own_fails_every_move_naming_it() {
    let test = "an_incoming_directory_that_is_not_sweeps_own_fails_every_move_naming_it";
    let Some(_) = User::new(NOBODY, NOBODY, test) else { return };
    // Left by someone while the archive was open to others, before it was closed.
    for (owner, mode) in [(NOBODY, 0o700), (0, 0o777), (0, 0o750)] {
        let t = Tree::new();
        t.file_bytes("2024-05-20/a.csv", b"a\n");
        let to = t.dir.path().join("archive");
        let _m = Tmpfs::mount(&to, "size=8m,mode=0755");
        let incoming = to.join(".sweep-incoming");
        fs::create_dir(&incoming).unwrap();
        std::os::unix::fs::chown(&incoming, Some(owner), Some(owner)).unwrap();
        fs::set_permissions(&incoming, fs::Permissions::from_mode(mode)).unwrap();
        let p = archive_policy(&t, &to);
        for sub in ["plan", "apply"] {
            let done = bounded(t.sweep(sub, &p, NOW).args(["--format", "json"]).command(), sub);
            assert!(t.exists("2024-05-20/a.csv"), "{sub}: the original stays (owner {owner}, mode {mode:o})");
            expect_code(&done, 5);
            let moves = lines(&done, "move");
            assert_eq!(moves.len(), 1);
            let error = moves[0]["error"].to_string();
            assert!(error.contains(".sweep-incoming"), "{sub}: the message names it: {error}");
        }
        assert!(!to.join("2024-05-20").exists(), "nothing moved");
    }
}

// ---------------------------------------------------------------------------------------
// Row 4: a compressed file planted beside the original.

#[test]
fn a_forged_compressed_file_is_never_taken_for_an_interrupted_compression() {
    // A shared partition directory (sticky, 1777). nobody reads the victim's ledger and
    // writes `zstd -c ledger.csv > ledger.csv.zst` beside it. Before v3 sweep found the
    // content matching, took it for its own interrupted compression, and unlinked the
    // victim's original: nobody then owned the only copy.
    let test = "a_forged_compressed_file_is_never_taken_for_an_interrupted_compression";
    let Some(nobody) = User::new(NOBODY, NOBODY, test) else { return };
    let t = open_tree();
    let ledger = csv(20_000);
    t.file_bytes("2024-07-01/ledger.csv", &ledger);
    let dir = t.path("2024-07-01");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).unwrap();
    let original = dir.join("ledger.csv");
    std::os::unix::fs::chown(&original, Some(2), Some(2)).unwrap();
    fs::set_permissions(&original, fs::Permissions::from_mode(0o644)).unwrap();
    let ino = fs::metadata(&original).unwrap().ino();
    let forged = zstd::encode_all(&ledger[..], 3).unwrap();
    let zst = dir.join("ledger.csv.zst");
    as_nobody_with_input(&nobody, "cat > \"$1\"", &[&zst], &forged);
    assert_eq!(fs::metadata(&zst).unwrap().uid(), NOBODY, "the attack is set up");
    let p = t.policy(&one_policy(&["%Y-%m-%d/*"], "30d", "compress: {after: 2d, format: zstd}"));

    let apply = bounded(t.sweep("apply", &p, NOW).args(["--format", "json"]).command(), "sweep apply");
    assert_holds(&original, &ledger, "the victim's original is intact");
    assert_eq!(fs::metadata(&original).unwrap().ino(), ino);
    assert_holds(&zst, &forged, "nobody's file is left as it was");
    assert_eq!(fs::metadata(&zst).unwrap().uid(), NOBODY);
    expect_code(&apply, 5);
    let line = &lines(&apply, "compress")[0];
    assert_eq!(line["outcome"], "failed", "{line}");
    let error = line["error"].as_str().unwrap();
    assert!(error.contains("ledger.csv.zst exists"), "{error}");
    assert!(error.contains("not an interrupted compression of this file"), "{error}");
    let plan = bounded(t.sweep("plan", &p, NOW).args(["--format", "json"]).command(), "sweep plan");
    expect_code(&plan, 5);
    assert_eq!(lines(&plan, "compress")[0]["outcome"], "would_fail", "plan predicts it");
    assert_eq!(names_in(&dir), vec!["ledger.csv", "ledger.csv.zst"], "no temporary is left");
}

#[test]
fn an_interrupted_compression_of_the_same_file_is_completed_by_the_next_run() {
    // A run that stopped between its rename and its unlink leaves both names. The same
    // state is made here with a hard link: sweep compresses, and the original (the same
    // inode, size and mtime) is linked back. The next run completes the job; once the
    // original is touched it no longer does.
    let test = "an_interrupted_compression_of_the_same_file_is_completed_by_the_next_run";
    let Some(_) = User::new(NOBODY, NOBODY, test) else { return };
    let t = Tree::new();
    let data = csv(20_000);
    t.file_bytes("2024-07-01/ledger.csv", &data);
    let original = t.path("2024-07-01/ledger.csv");
    std::os::unix::fs::chown(&original, Some(2), Some(2)).unwrap();
    fs::set_permissions(&original, fs::Permissions::from_mode(0o640)).unwrap();
    let saved = t.dir.path().join("saved");
    fs::hard_link(&original, &saved).unwrap();
    let p = t.policy(&one_policy(&["%Y-%m-%d/*"], "30d", "compress: {after: 2d, format: zstd}"));
    let zst = t.path("2024-07-01/ledger.csv.zst");

    expect_code(&bounded(t.sweep("apply", &p, NOW).command(), "first apply"), 0);
    let made = fs::metadata(&zst).unwrap();
    assert_eq!((made.uid(), made.gid(), made.nlink()), (2, 2, 1));
    let mark = xattrs(&zst).remove(MARK).expect("sweep marks what it compresses");
    let st = fs::metadata(&saved).unwrap();
    let want = format!(
        "sweep-source 1 dev={} ino={} size={} mtime={}.{:09}",
        st.dev(),
        st.ino(),
        st.size(),
        st.mtime(),
        st.mtime_nsec()
    );
    assert_eq!(String::from_utf8_lossy(&mark), want, "the mark's fixed form");

    fs::hard_link(&saved, &original).unwrap();
    let plan = bounded(t.sweep("plan", &p, NOW).args(["--format", "json"]).command(), "plan");
    expect_code(&plan, 0);
    assert!(lines(&plan, "compress")[0].get("outcome").is_none_or(Value::is_null), "{}", plan.stdout());
    let apply = bounded(t.sweep("apply", &p, NOW).args(["--format", "json"]).command(), "apply");
    expect_code(&apply, 0);
    assert_eq!(lines(&apply, "compress")[0]["outcome"], "compressed");
    assert!(!original.exists(), "the job is finished");
    assert_eq!(fs::metadata(&zst).unwrap().ino(), made.ino(), "the compressed file is the one sweep made");

    // The same inode, rewritten since (its mtime moved): not the file compressed.
    fs::hard_link(&saved, &original).unwrap();
    set_mtime(&original, 1_719_800_000);
    let apply = bounded(t.sweep("apply", &p, NOW).args(["--format", "json"]).command(), "apply");
    assert!(original.exists(), "a changed original stays");
    expect_code(&apply, 5);
    assert!(lines(&apply, "compress")[0]["error"].as_str().unwrap().contains("exists"));
}

#[test]
fn where_no_mark_can_be_kept_an_existing_compressed_file_is_never_trusted() {
    // A ramfs holds no extended attributes: sweep still compresses there, and never
    // completes what it finds, even its own.
    let test = "where_no_mark_can_be_kept_an_existing_compressed_file_is_never_trusted";
    let Some(_) = User::new(NOBODY, NOBODY, test) else { return };
    let t = Tree::new();
    let ram = t.dir.path().join("ram");
    let _m = Ramfs::mount(&ram);
    let root = ram.join("data");
    let data = csv(20_000);
    fs::create_dir_all(root.join("2024-07-01")).unwrap();
    let original = root.join("2024-07-01/ledger.csv");
    fs::write(&original, &data).unwrap();
    let saved = ram.join("saved");
    fs::hard_link(&original, &saved).unwrap();
    let yaml = one_policy(&["%Y-%m-%d/*"], "30d", "compress: {after: 2d, format: zstd}");
    let p = t.policy(&yaml.replace("{root}", root.to_str().unwrap()));

    let apply = bounded(t.sweep("apply", &p, NOW).args(["--format", "json"]).command(), "apply");
    expect_code(&apply, 0);
    assert_eq!(lines(&apply, "compress")[0]["outcome"], "compressed", "sweep compresses without a mark");
    assert!(!original.exists());
    fs::hard_link(&saved, &original).unwrap();
    let apply = bounded(t.sweep("apply", &p, NOW).args(["--format", "json"]).command(), "apply");
    assert_holds(&original, &data, "the original stays");
    expect_code(&apply, 5);
    assert!(lines(&apply, "compress")[0]["error"].as_str().unwrap().contains("ledger.csv.zst exists"));
}

// ---------------------------------------------------------------------------------------
// Rows 6 and 11: what a compressed or copied file keeps.

#[test]
fn compressed_and_archived_copies_keep_acls_extended_attributes_owner_group_mode_and_mtime() {
    // The ledger is uid 1's, readable by uid 2 through an ACL and by no group (the ACL's
    // mask is what `ls` shows as the group bits). Before v3 a compression copied the mode
    // bits only: the ACL and the attribute were dropped and the mask became the group's
    // read permission.
    let test = "compressed_and_archived_copies_keep_acls_extended_attributes_owner_group_mode_and_mtime";
    let Some(_) = User::new(NOBODY, NOBODY, test) else { return };
    for archive in [false, true] {
        let t = Tree::new();
        let rel = if archive { "2024-05-20/ledger.csv" } else { "2024-07-01/ledger.csv" };
        t.file_bytes(rel, &csv(10_000));
        let original = t.path(rel);
        std::os::unix::fs::chown(&original, Some(1), Some(1)).unwrap();
        fs::set_permissions(&original, fs::Permissions::from_mode(0o600)).unwrap();
        rustix::fs::setxattr(&original, "system.posix_acl_access", &ledger_acl(), rustix::fs::XattrFlags::empty())
            .unwrap();
        rustix::fs::setxattr(&original, "user.origin", b"feed-7", rustix::fs::XattrFlags::empty()).unwrap();
        t.mtime(rel, 1_716_200_000);
        let before = fs::metadata(&original).unwrap();
        assert_eq!(before.mode() & 0o7777, 0o640, "the ACL's mask shows as the group bits");
        let attrs = xattrs(&original);
        assert_eq!(attrs.len(), 2, "{attrs:?}");

        let to = t.dir.path().join("archive");
        let _m = archive.then(|| Tmpfs::mount(&to, "size=8m,mode=0755"));
        let (p, result) = if archive {
            (archive_policy(&t, &to), to.join(rel))
        } else {
            let p = t.policy(&one_policy(&["%Y-%m-%d/*"], "30d", "compress: {after: 2d, format: zstd}"));
            (p, t.path(&format!("{rel}.zst")))
        };
        let done = bounded(t.sweep("apply", &p, NOW).args(["--format", "json"]).command(), "apply");
        expect_code(&done, 0);
        assert!(!original.exists());
        let mut got = xattrs(&result);
        let mark = got.remove(MARK);
        assert_eq!(
            got.get("system.posix_acl_access"),
            attrs.get("system.posix_acl_access"),
            "archive {archive}: the ACL is kept"
        );
        assert_eq!(got, attrs, "archive {archive}: every extended attribute is kept");
        let after = fs::metadata(&result).unwrap();
        assert_eq!(
            (after.uid(), after.gid(), after.mode() & 0o7777, after.mtime()),
            (1, 1, 0o640, 1_716_200_000),
            "archive {archive}: owner, group, mode and mtime"
        );
        assert_eq!(mark.is_some(), !archive, "a compressed file carries sweep's mark, a copy does not");
    }
}

#[test]
fn a_copy_that_cannot_keep_its_owner_or_attributes_fails_and_the_original_stays() {
    let test = "a_copy_that_cannot_keep_its_owner_or_attributes_fails_and_the_original_stays";
    let Some(_) = User::new(NOBODY, NOBODY, test) else { return };

    // Without CAP_CHOWN, the compressed file of uid 2's ledger cannot be given to uid 2.
    // Before v3 it stayed root's, silently.
    let t = Tree::new();
    let data = csv(10_000);
    t.file_bytes("2024-07-01/ledger.csv", &data);
    let original = t.path("2024-07-01/ledger.csv");
    std::os::unix::fs::chown(&original, Some(2), Some(2)).unwrap();
    let p = t.policy(&one_policy(&["%Y-%m-%d/*"], "30d", "compress: {after: 2d, format: zstd}"));
    let mut s = t.sweep("apply", &p, NOW);
    s.args(["--format", "json"]);
    let done = bounded(without_chown(s.command()), "apply without CAP_CHOWN");
    assert_holds(&original, &data, "the original stays");
    assert_eq!(names_in(&t.path("2024-07-01")), vec!["ledger.csv"], "no compressed file, no temporary");
    expect_code(&done, 5);
    let error = lines(&done, "compress")[0]["error"].as_str().unwrap().to_string();
    assert!(error.contains("owner") && error.contains("uid 2"), "{error}");

    // An archive on a filesystem that holds no extended attributes (a ramfs): a ledger
    // with one cannot be copied whole.
    let t = Tree::new();
    t.file_bytes("2024-05-20/ledger.csv", &data);
    let original = t.path("2024-05-20/ledger.csv");
    rustix::fs::setxattr(&original, "user.origin", b"feed-7", rustix::fs::XattrFlags::empty()).unwrap();
    let to = t.dir.path().join("archive");
    let _m = Ramfs::mount(&to);
    let p = archive_policy(&t, &to);
    let done = bounded(t.sweep("apply", &p, NOW).args(["--format", "json"]).command(), "apply");
    assert_holds(&original, &data, "the original stays");
    assert!(!to.join("2024-05-20/ledger.csv").exists(), "nothing landed");
    assert!(files_under(&to, &[]).is_empty(), "no temporary is left: {:?}", files_under(&to, &[]));
    expect_code(&done, 5);
    let error = lines(&done, "move")[0]["error"].as_str().unwrap().to_string();
    assert!(error.contains("user.origin"), "{error}");
}

#[test]
fn a_setuid_file_is_compressed_without_its_special_bits_and_keeps_its_owner() {
    // Ownership is given before the mode, and the mode never has 07000: there is never a
    // root-owned setuid temporary, and the result has none of the special bits. Before
    // v3, fchmod(07755) ran before fchown: a root-owned setuid file existed for a moment,
    // and the sticky bit (which chown does not clear) stayed.
    let test = "a_setuid_file_is_compressed_without_its_special_bits_and_keeps_its_owner";
    let Some(_) = User::new(NOBODY, NOBODY, test) else { return };
    let t = Tree::new();
    let modes = [0o7755, 0o4750, 0o2755, 0o1644, 0o6711];
    for (i, mode) in modes.iter().enumerate() {
        let rel = format!("2024-07-01/tool-{i}.csv");
        t.file_bytes(&rel, b"#!/bin/sh\necho hello\n");
        std::os::unix::fs::chown(t.path(&rel), Some(2), Some(2)).unwrap();
        fs::set_permissions(t.path(&rel), fs::Permissions::from_mode(*mode)).unwrap();
    }
    let p = t.policy(&one_policy(&["%Y-%m-%d/*"], "30d", "compress: {after: 2d, format: gzip}"));
    let done = bounded(t.sweep("apply", &p, NOW).command(), "apply");
    expect_code(&done, 0);
    for (i, mode) in modes.iter().enumerate() {
        let m = fs::metadata(t.path(&format!("2024-07-01/tool-{i}.csv.gz"))).unwrap();
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (mode & 0o777, 2, 2), "from mode {mode:o}");
    }
}

// ---------------------------------------------------------------------------------------
// Helpers.

fn archive_policy(t: &Tree, to: &Path) -> PathBuf {
    t.policy(&one_policy(&["%Y-%m-%d/**"], "90d", &format!("archive: {{after: 30d, to: {}}}", to.display())))
}

/// CSV-like bytes: `n` lines, deterministic.
fn csv(lines: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines * 26);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..lines {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(format!("{i},{},{}.{:02}\n", x % 6, 100 + x % 900, x % 100).as_bytes());
    }
    out
}

/// `user::rw-, user:2:r--, group::---, mask::r--, other::---` in the kernel's form of
/// `system.posix_acl_access` (version 2; entries of tag, permissions and id).
fn ledger_acl() -> Vec<u8> {
    const ANY: u32 = u32::MAX;
    let entries: [(u16, u16, u32); 5] = [(0x01, 6, ANY), (0x02, 4, 2), (0x04, 0, ANY), (0x10, 4, ANY), (0x20, 0, ANY)];
    let mut v = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in entries {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&perm.to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}

/// Every extended attribute of `path` (not following a link), by name.
fn xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut names = vec![0u8; 4096];
    let n = rustix::fs::llistxattr(path, &mut names[..]).unwrap();
    let mut out = BTreeMap::new();
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8(name.to_vec()).unwrap();
        let mut value = vec![0u8; 65536];
        let len = rustix::fs::lgetxattr(path, name.as_str(), &mut value[..]).unwrap();
        value.truncate(len);
        out.insert(name, value);
    }
    out
}

/// `path` holds exactly `want` (compared without printing megabytes when it does not).
#[track_caller]
fn assert_holds(path: &Path, want: &[u8], what: &str) {
    match fs::read(path) {
        Ok(got) => assert!(
            got == want,
            "{what}: {} holds {} bytes, not the {} expected",
            path.display(),
            got.len(),
            want.len()
        ),
        Err(e) => panic!("{what}: {}: {e}", path.display()),
    }
}

/// The file lines of `action`.
fn lines(done: &Done, action: &str) -> Vec<Value> {
    done.json().into_iter().filter(|l| l["type"] == "file" && l["action"] == action).collect()
}

/// Every non-directory below `dir`, except below the directories named in `skip`.
fn files_under(dir: &Path, skip: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(dir) else { return out };
    for e in rd.map(Result::unwrap) {
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            if !skip.iter().any(|s| OsStr::new(s) == e.file_name()) {
                out.extend(files_under(&e.path(), skip));
            }
        } else {
            out.push(e.path());
        }
    }
    out
}

/// Names in a directory, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

#[track_caller]
fn expect_code(done: &Done, want: i32) {
    assert_eq!(
        done.out.status.code(),
        Some(want),
        "exit status {}\n--- stdout\n{}--- stderr\n{}",
        done.out.status,
        done.stdout(),
        done.stderr()
    );
}

/// A tree whose scratch directory (and the directory above it) nobody may enter.
fn open_tree() -> Tree {
    let t = Tree::new();
    for d in [t.dir.path().parent().unwrap(), t.dir.path()] {
        let mode = fs::metadata(d).unwrap().permissions().mode();
        if mode & 0o005 != 0o005 {
            fs::set_permissions(d, fs::Permissions::from_mode(mode | 0o755)).unwrap();
        }
    }
    t
}

/// Runs `sh -c script` as `user` with `args` as `$1...` and `input` on its stdin; it
/// must succeed.
#[track_caller]
fn as_nobody_with_input(user: &User, script: &str, args: &[&Path], input: &[u8]) {
    let mut child = user
        .command("sh")
        .args(["-c", script, "sh"])
        .args(args)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "as nobody: {script}: {}", String::from_utf8_lossy(&out.stderr));
}

/// An attacker's loop: `bash -c script` as a user, in a process group of its own
/// (killed on drop), that prints `ready` once set up, stops when a file appears or after
/// [`RACE`], and prints a line for each attempt that succeeded.
struct Racer {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Racer {
    #[track_caller]
    fn start(user: &User, script: &str, args: &[&Path]) -> Racer {
        let mut child = user
            .command("bash")
            .args(["-c", script, "bash"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n", "the attacker is set up");
        Racer { child, out }
    }

    /// Stops the loop (creating `stop`) and returns what it printed.
    fn stop(mut self, stop: &Path) -> String {
        fs::write(stop, b"").unwrap();
        let started = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(started.elapsed() < RACE + Duration::from_secs(5), "the attacker's loop did not stop");
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut rest = String::new();
        self.out.read_to_string(&mut rest).unwrap();
        rest.trim().to_string()
    }
}

impl Drop for Racer {
    fn drop(&mut self) {
        let _ = kill_process_group(Pid::from_child(&self.child), Signal::KILL);
        let _ = self.child.wait();
    }
}

/// Runs the command without CAP_CHOWN (dropped from the bounding set, so root's exec
/// does not get it).
fn without_chown(cmd: &mut Command) -> &mut Command {
    use rustix::thread::{CapabilitySet, remove_capability_from_bounding_set};
    // SAFETY: only async-signal-safe syscalls (prctl) run between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            remove_capability_from_bounding_set(CapabilitySet::CHOWN)?;
            Ok(())
        });
    }
    cmd
}

/// A ramfs mounted for one test (it holds no extended attributes), unmounted (lazily)
/// when dropped, also when the test fails.
struct Ramfs(PathBuf);

impl Ramfs {
    #[track_caller]
    fn mount(path: &Path) -> Ramfs {
        fs::create_dir_all(path).unwrap();
        let ok = Command::new("mount").args(["-t", "ramfs", "-o", "mode=0755", "ramfs"]).arg(path).status().unwrap();
        assert!(ok.success(), "mounting a ramfs must work as root on this machine kind");
        Ramfs(path.to_path_buf())
    }
}

impl Drop for Ramfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}
