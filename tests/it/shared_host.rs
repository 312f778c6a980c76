//! Attacks where the features of a run meet, as root on a shared host, each made for
//! real: the attacker is `nobody` (util-linux `setpriv`), the victim another user (uid
//! 1001), every attacker process is killed when its test ends.
//!
//! Each test here failed on the code it was written against; each says what it found.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use rustix::process::Pid;

use crate::support::attack::{Group, NOW, Nobody, OLD_MTIME, open_tree};
use crate::support::*;

/// The victim, a user other than root and the attacker.
const VICTIM: u32 = 1001;

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(p: &Path, uid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(uid)).unwrap();
}

/// `(policy, path, action, to)` of every file line, sorted: what `plan` and `apply` must
/// agree on.
fn file_lines(done: &Done) -> Vec<(String, String, String, String)> {
    let mut v: Vec<_> = done
        .json()
        .into_iter()
        .filter(|l| l["type"] == "file")
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap_or_default().to_string();
            (s("policy"), s("path"), s("action"), s("to"))
        })
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------
// Tiers as root: an archived file is readable by exactly whom the original was.

#[test]
fn an_archived_file_stays_out_of_reach_of_users_its_source_directory_kept_out() {
    // alice keeps her files in a directory only she may enter (0700); the files inside
    // have the usual 0644. nobody cannot read them. Moving them to the archive keeps the
    // file's owner and mode, but the directories sweep makes on the way (`to` + the path
    // below the root) are root's, mode 0755: the file lands where anyone can read it.
    let test = "shared_host::an_archived_file_stays_out_of_reach_of_users_its_source_directory_kept_out";
    let Some(nobody) = Nobody::new(test) else { return };
    let t = open_tree();
    chmod(&t.root, 0o755);
    let secret = b"alice,salary,120000\n";
    t.file_bytes("alice/2024-07-01/salaries.csv", secret).mtime("alice/2024-07-01/salaries.csv", OLD_MTIME);
    for rel in ["alice", "alice/2024-07-01", "alice/2024-07-01/salaries.csv"] {
        chown(&t.path(rel), VICTIM);
    }
    chmod(&t.path("alice"), 0o700);
    chmod(&t.path("alice/2024-07-01"), 0o755);
    chmod(&t.path("alice/2024-07-01/salaries.csv"), 0o644);
    let to = t.dir.path().join("archive");
    fs::create_dir(&to).unwrap();
    chmod(&to, 0o755);
    let src = t.path("alice/2024-07-01/salaries.csv");
    let dst = to.join("alice/2024-07-01/salaries.csv");
    let read_as_nobody = |p: &Path| nobody.command("cat").arg(p).output().unwrap();
    assert!(!read_as_nobody(&src).status.success(), "nobody cannot read alice's file where it is");

    let p = t.policy(
        "version: 1\npolicies:\n  - name: t\n    root: {root}\n    timezone: UTC\n    layouts: ['*/%Y-%m-%d/*']\n    keep: 30d\n    archive: {after: 5d, to: {dir}/archive}\n",
    );
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).output();
    let moved = dst.exists();
    assert!(moved || src.exists(), "the file is somewhere: {}{}", done.stdout(), done.stderr());
    let got = read_as_nobody(if moved { &dst } else { &src });
    assert!(
        !got.status.success(),
        "nobody read alice's file in the archive ({}): {:?}\n--- sweep stdout\n{}",
        dst.display(),
        String::from_utf8_lossy(&got.stdout),
        done.stdout()
    );
}

// ---------------------------------------------------------------------------------------
// Open files: a file a thread holds is open.

/// A `python3` that `nobody` can run (a version manager's shim under `/root` cannot).
fn python_for(nobody: &Nobody, test: &str) -> Option<PathBuf> {
    required("python3", test)?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    // Only one nobody can run where it is: a copy of a shim would not find its Python.
    let found = std::env::split_paths(&path).map(|d| d.join("python3")).find(|p| {
        p.exists()
            && User::NOBODY.can_execute(p)
            && nobody
                .command(p)
                .args(["-c", "pass"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        missing(test, "a python3 that nobody can run");
    }
    found
}

/// A process of nobody's, killed (its whole group) and reaped on drop.
struct Holder(Child);

impl Drop for Holder {
    fn drop(&mut self) {
        drop(Group(Pid::from_child(&self.0)));
        let _ = self.0.wait();
    }
}

/// A holder process as nobody running `script` on `file`; returns once it prints `ok`.
fn hold(nobody: &Nobody, python: &Path, script: &str, file: &Path) -> Holder {
    let child = nobody
        .command(python)
        .args(["-c", script])
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut holder = Holder(child);
    let mut line = String::new();
    BufReader::new(holder.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ok", "the holder of {} is ready", file.display());
    holder
}

/// Holds the file open (and mapped) in a second thread, then ends the main thread: the
/// process lives on, but `/proc/PID/fd` and `/proc/PID/maps` are those of the exited
/// main thread (empty); the descriptor shows only under `/proc/PID/task/TID/fd`.
const MAIN_THREAD_EXITS: &str = "import ctypes,mmap,sys,threading,time
f=open(sys.argv[1],'rb')
m=mmap.mmap(f.fileno(),0,prot=mmap.PROT_READ)
threading.Thread(target=time.sleep,args=(60,)).start()
print('ok',flush=True)
ctypes.CDLL(None).pthread_exit(None)";

/// A thread that unshares its descriptor table (`unshare(CLONE_FILES)`) and opens the
/// file there: the main thread's table, the one `/proc/PID/fd` shows, never holds it.
const OWN_DESCRIPTOR_TABLE: &str = "import ctypes,os,sys,threading,time
libc=ctypes.CDLL(None,use_errno=True)
def hold():
    assert libc.unshare(0x400)==0, ctypes.get_errno()
    fd=os.open(sys.argv[1],os.O_RDONLY)
    print('ok',flush=True)
    time.sleep(60)
t=threading.Thread(target=hold); t.start(); t.join()";

#[test]
fn a_file_held_open_by_a_thread_of_a_process_is_open_for_skip_open() {
    // skip_open reads /proc/PID/fd and /proc/PID/maps: the main thread's descriptor table
    // and memory. A thread with a table of its own, or a process whose main thread has
    // exited, holds files that never show there; as nobody, without any privilege, both
    // files below are deleted under their holders while skip_open (the default) is on.
    let test = "shared_host::a_file_held_open_by_a_thread_of_a_process_is_open_for_skip_open";
    let Some(nobody) = Nobody::new(test) else { return };
    let Some(python) = python_for(&nobody, test) else { return };
    let t = open_tree();
    chmod(&t.root, 0o755);
    for name in ["main-thread-exited.log", "own-table.log", "by-sleep.log", "not-held.log"] {
        let rel = format!("2024-07-01/{name}");
        t.file_sized(&rel, 4096).mtime(&rel, OLD_MTIME);
        chmod(&t.path(&rel), 0o644);
    }
    chmod(&t.path("2024-07-01"), 0o755);
    let _a = hold(&nobody, &python, MAIN_THREAD_EXITS, &t.path("2024-07-01/main-thread-exited.log"));
    let _b = hold(&nobody, &python, OWN_DESCRIPTOR_TABLE, &t.path("2024-07-01/own-table.log"));
    // The plain case, which the scan sees: the test is not blind.
    let _sleeper = Holder(
        nobody
            .command("sleep")
            .arg("60")
            .stdin(fs::File::open(t.path("2024-07-01/by-sleep.log")).unwrap())
            .process_group(0)
            .spawn()
            .unwrap(),
    );

    let p = t.policy(&one_policy(&["%Y-%m-%d/*"], "1d", ""));
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).output();
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).output();
    assert!(!t.exists("2024-07-01/not-held.log"), "a file nobody holds goes:\n{}", done.stdout());
    assert!(t.exists("2024-07-01/by-sleep.log"), "a file sleep holds stays:\n{}", done.stdout());
    let mut lost = Vec::new();
    for name in ["main-thread-exited.log", "own-table.log"] {
        if !t.exists(&format!("2024-07-01/{name}")) {
            lost.push(name);
        }
    }
    assert!(
        lost.is_empty(),
        "deleted although a live process holds them open (skip_open: true): {lost:?}\n--- plan\n{}--- apply\n{}",
        plan.stdout(),
        done.stdout()
    );
}

/// Maps the file and closes its descriptor (only `/proc/PID/maps` shows it then), then,
/// in a user and mount namespace of its own, mounts a FUSE filesystem (no server: none
/// is needed) and keeps an `O_PATH` descriptor of its root. Root may not `stat` a FUSE
/// file of a mount made without `allow_other`, even with `CAP_SYS_PTRACE`.
const UNREADABLE_TO_ROOT: &str = "import ctypes,os,subprocess,sys,time
libc=ctypes.CDLL(None)
libc.mmap.restype=ctypes.c_void_p
libc.mmap.argtypes=[ctypes.c_void_p,ctypes.c_size_t,ctypes.c_int,ctypes.c_int,ctypes.c_int,ctypes.c_long]
f=os.open(sys.argv[1],os.O_RDONLY)
assert libc.mmap(None,4096,1,1,f,0) not in (None,2**64-1)
os.close(f)
fuse=os.open('/dev/fuse',os.O_RDWR)
subprocess.run(['mount','-t','fuse','-o','fd=%d,rootmode=40000,user_id=0,group_id=0'%fuse,'x',sys.argv[2]],pass_fds=(fuse,),check=True)
keep=os.open(sys.argv[2],os.O_PATH)
print('ok',flush=True)
time.sleep(60)";

/// A device's mode, set for one test and restored on drop.
struct DeviceMode(PathBuf, u32);

impl Drop for DeviceMode {
    fn drop(&mut self) {
        chmod(&self.0, self.1);
    }
}

#[test]
fn a_process_that_makes_itself_unreadable_to_root_hides_no_mapped_file_from_skip_open() {
    // With CAP_SYS_PTRACE, a process whose descriptors sweep cannot follow is taken for
    // one the platform guards (a container's supervisor): a warning, and its mappings are
    // not read. Any user can make a process of theirs so: a FUSE mount in a user namespace
    // of their own (/dev/fuse is 0666 on common distributions) gives a descriptor root may
    // not stat. The file that process maps is then deleted under it, skip_open on.
    let test = "shared_host::a_process_that_makes_itself_unreadable_to_root_hides_no_mapped_file_from_skip_open";
    let Some(nobody) = Nobody::new(test) else { return };
    let Some(python) = python_for(&nobody, test) else { return };
    let fuse = Path::new("/dev/fuse");
    let Ok(meta) = fs::metadata(fuse) else {
        missing(test, "/dev/fuse");
        return;
    };
    let old = meta.permissions().mode() & 0o7777;
    // As on common distributions (the FUSE module's udev rule).
    let _mode = DeviceMode(fuse.to_path_buf(), old);
    chmod(fuse, 0o666);
    if !nobody.command("unshare").args(["-Urm", "true"]).status().is_ok_and(|s| s.success()) {
        missing(test, "user namespaces for unprivileged users");
        return;
    }
    let t = open_tree();
    chmod(&t.root, 0o755);
    t.file_sized("2024-07-01/mapped.bin", 4096).mtime("2024-07-01/mapped.bin", OLD_MTIME);
    chmod(&t.path("2024-07-01/mapped.bin"), 0o644);
    chmod(&t.path("2024-07-01"), 0o755);
    let mnt = t.dir.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    chown(&mnt, 65534);
    let child = nobody
        .command("unshare")
        .arg("-Urm")
        .arg(&python)
        .args(["-c", UNREADABLE_TO_ROOT])
        .arg(t.path("2024-07-01/mapped.bin"))
        .arg(&mnt)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut holder = Holder(child);
    let mut line = String::new();
    BufReader::new(holder.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ok", "the mapping process is ready");

    let p = t.policy(&one_policy(&["%Y-%m-%d/*"], "1d", ""));
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).output();
    assert!(
        t.exists("2024-07-01/mapped.bin"),
        "a file nobody's process maps was deleted under it (skip_open: true), exit {:?}\n--- stdout\n{}--- stderr\n{}",
        done.out.status.code(),
        done.stdout(),
        done.stderr()
    );
}

// ---------------------------------------------------------------------------------------
// One run, one plan: roots by identity, moves too.

#[test]
fn a_move_into_a_later_root_spelled_through_a_symlink_is_planned_as_apply_does_it() {
    // Policy `a` archives into `{dir}/alias/x`, where `alias` is root's own symlink to the
    // root of policy `b` (roots are the same by identity, however spelled: SPEC v3). In
    // apply, `b` finds the moved file and deletes it; the plan never lists that deletion,
    // because it routes planned moves by the spelling of `archive.to`.
    let t = Tree::new();
    let b = t.dir.path().join("b");
    fs::create_dir_all(b.join("x")).unwrap();
    std::os::unix::fs::symlink(&b, t.dir.path().join("alias")).unwrap();
    t.file("2024-07-01/f.csv").mtime("2024-07-01/f.csv", OLD_MTIME);
    let p = t.policy(
        "version: 1\npolicies:\n  - name: a\n    root: {root}\n    timezone: UTC\n    layouts: ['%Y-%m-%d/*']\n    keep: 30d\n    archive: {after: 5d, to: {dir}/alias/x}\n  - name: b\n    root: {dir}/b\n    timezone: UTC\n    layouts: ['x/%Y-%m-%d/*']\n    keep: 5d\n",
    );
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).output();
    let apply = t.sweep("apply", &p, NOW).args(["--format", "json"]).output();
    assert_eq!(
        file_lines(&plan),
        file_lines(&apply),
        "plan and apply list different files\n--- plan\n{}--- apply\n{}",
        plan.stdout(),
        apply.stdout()
    );
    assert_eq!(plan.out.status.code(), apply.out.status.code());
}

// ---------------------------------------------------------------------------------------
// Roots: an unsafe path transition made with a rename instead of a symlink.

#[test]
fn a_root_swapped_by_rename_for_another_users_directory_is_never_cleaned() {
    // nobody owns the directory above the root `{dir}/att/cache`. A symlink planted there
    // is refused (an unsafe path transition); a rename does the same without one: bob
    // keeps a directory in nobody's, whose files nobody cannot delete, and nobody renames
    // it to `cache`. sweep, as root, then deletes bob's files for nobody.
    let test = "shared_host::a_root_swapped_by_rename_for_another_users_directory_is_never_cleaned";
    let Some(nobody) = Nobody::new(test) else { return };
    let t = open_tree();
    let att = t.dir.path().join("att");
    for rel in ["cache/2024-07-01", "bob/2024-07-01"] {
        fs::create_dir_all(att.join(rel)).unwrap();
    }
    fs::write(att.join("cache/2024-07-01/mine.csv"), b"nobody's\n").unwrap();
    fs::write(att.join("bob/2024-07-01/bob.csv"), b"bob's\n").unwrap();
    for rel in ["", "cache", "cache/2024-07-01", "cache/2024-07-01/mine.csv"] {
        chown(&att.join(rel), 65534);
    }
    for rel in ["bob", "bob/2024-07-01", "bob/2024-07-01/bob.csv"] {
        chown(&att.join(rel), VICTIM);
    }
    for rel in ["", "cache", "cache/2024-07-01", "bob", "bob/2024-07-01"] {
        chmod(&att.join(rel), 0o755);
    }
    let bobs = att.join("bob/2024-07-01/bob.csv");
    set_mtime(&bobs, OLD_MTIME);
    set_mtime(&att.join("cache/2024-07-01/mine.csv"), OLD_MTIME);
    let denied = nobody.command("rm").arg("-f").arg(&bobs).output().unwrap();
    assert!(!denied.status.success() && bobs.exists(), "nobody cannot delete bob's file");

    let p = t.policy(&format!(
        "version: 1\npolicies:\n  - name: t\n    root: {}\n    timezone: UTC\n    layouts: ['%Y-%m-%d/*']\n    keep: 1d\n",
        att.join("cache").display()
    ));
    nobody.run(r#"cd "$1" && mv cache mine && mv bob cache"#, &[&att]);
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).output();
    assert!(
        att.join("cache/2024-07-01/bob.csv").exists(),
        "sweep deleted bob's file for nobody, who cannot delete it (exit {:?}):\n{}",
        done.out.status.code(),
        done.stdout()
    );
    // Refused as an unsafe path transition, naming both owners: exit 5.
    assert_eq!(done.out.status.code(), Some(5), "{}", done.stdout());
    let problems = done.summary()["policies"][0]["problems"].to_string();
    assert!(problems.contains("unsafe path transition") && problems.contains("uid 1001"), "{problems}");
}

#[test]
fn an_archive_inside_its_own_root_through_a_symlink_moves_nothing() {
    // Validation compares spellings: `{dir}/outside` is outside the root, but it is a
    // symlink to a directory inside it. The archive would be walked and every file moved
    // one level deeper each night; the run says so instead and moves nothing.
    let t = Tree::new();
    t.file("2024-07-01/f.csv").mtime("2024-07-01/f.csv", OLD_MTIME);
    fs::create_dir_all(t.path("old")).unwrap();
    std::os::unix::fs::symlink(t.path("old"), t.dir.path().join("outside")).unwrap();
    let p = t.policy(
        "version: 1\npolicies:\n  - name: t\n    root: {root}\n    timezone: UTC\n    layouts: ['%Y-%m-%d/*', 'old/%Y-%m-%d/*']\n    keep: 30d\n    archive: {after: 5d, to: {dir}/outside}\n",
    );
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(5);
    let s = done.summary();
    assert_eq!(s["policies"][0]["problem_codes"], serde_json::json!(["archive"]), "{s}");
    assert!(s["policies"][0]["problems"].to_string().contains("inside it (through a symlink)"), "{s}");
    assert!(t.exists("2024-07-01/f.csv"), "nothing moved");
}
