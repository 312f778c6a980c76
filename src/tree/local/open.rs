//! Which regular files some process holds open, seen once per run through
//! `/proc/*/fd`.
//!
//! `skip_open` protects a file a process still has open (deleting a log under its
//! writer frees nothing and loses the log). One scan per run, before any walk, costs a
//! `stat` per open descriptor on the machine rather than anything per file under a root;
//! the walk then looks files up by device and inode. The same scan sees files already
//! deleted but still held open (`st_nlink == 0`), whose space `df` counts and `du` does
//! not: the disk line reports them.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;

/// A process holding a file open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Its id.
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`).
    pub command: String,
}

/// Open regular files by (device, inode), and deleted files still held open.
#[derive(Debug, Default)]
pub struct OpenFiles {
    by_inode: HashMap<(u64, u64), Holder>,
    /// Processes whose descriptors could not be read for want of `CAP_SYS_PTRACE`
    /// (another user's): what they hold open is not known.
    pub unreadable: u64,
    /// Processes that could not be read although sweep has `CAP_SYS_PTRACE`: guarded by
    /// the platform (a container's supervisor), not by a missing capability.
    pub guarded: u64,
    /// Deleted files still held open: device, the path they had (as the kernel shows
    /// it), and the bytes they hold.
    deleted: Vec<(u64, std::path::PathBuf, u64)>,
    /// Descriptors examined.
    pub descriptors: u64,
}

impl OpenFiles {
    /// Scans `/proc`. An error means `/proc` could not be read at all; processes that
    /// vanish or cannot be examined during the scan are skipped.
    ///
    /// A process is read thread by thread (`/proc/PID/task/TID`): a thread may have a
    /// descriptor table of its own (`unshare(CLONE_FILES)`), and once the main thread has
    /// exited, `/proc/PID/fd` and `/proc/PID/maps` are empty while the others live on.
    /// Threads that share a table (the usual case, told by `kcmp`) are read once; where
    /// the kernel cannot tell, every thread's table is read.
    pub fn scan() -> Result<OpenFiles, String> {
        let mut out = OpenFiles::default();
        let me = std::process::id();
        let ptrace = has_sys_ptrace();
        let procs = fs::read_dir("/proc").map_err(|e| format!("cannot read /proc: {e}"))?;
        for p in procs.flatten() {
            let name = p.file_name();
            let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            if pid == me {
                continue;
            }
            let mut process = Process { pid, dir: p.path(), command: None, ptrace };
            match out.read_process(&mut process) {
                Ok(()) => {}
                // Not allowed to look: another user's process, without CAP_SYS_PTRACE; or,
                // with it, one the platform guards.
                Err(Denied) if ptrace => out.guarded += 1,
                Err(Denied) => out.unreadable += 1,
            }
        }
        Ok(out)
    }

    /// Reads the descriptors and mappings of one process, thread by thread.
    fn read_process(&mut self, p: &mut Process) -> Result<(), Denied> {
        let tasks: Vec<u32> = match fs::read_dir(p.dir.join("task")) {
            Ok(tasks) => tasks.flatten().filter_map(|t| t.file_name().to_str()?.parse().ok()).collect(),
            Err(_) => vec![p.pid],
        };
        // Threads whose descriptor tables were read; whether any thread's mappings were.
        let mut tables: Vec<u32> = Vec::new();
        let mut mapped_read = false;
        for tid in tasks {
            let task = p.dir.join("task").join(tid.to_string());
            if !tables.iter().any(|t| same_files(*t, tid) == Some(true)) {
                match fs::read_dir(task.join("fd")) {
                    Ok(fds) => {
                        tables.push(tid);
                        for fd in fds.flatten() {
                            self.descriptor(p, &fd.path())?;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Err(Denied),
                    // The thread ended meanwhile.
                    Err(_) => {}
                }
            }
            // Threads share their memory: the first thread whose mappings can be read
            // speaks for all (a main thread that exited has none).
            if !mapped_read && let Ok(maps) = fs::read_to_string(task.join("maps")) {
                let keys = mapped(&maps);
                mapped_read = !keys.is_empty();
                for key in keys {
                    if let std::collections::hash_map::Entry::Vacant(v) = self.by_inode.entry(key) {
                        v.insert(Holder { pid: p.pid, command: p.command().to_string() });
                    }
                }
            }
        }
        Ok(())
    }

    /// One descriptor of a process. Following it needs `CAP_SYS_PTRACE` for another
    /// user's process: without, a refusal means the process cannot be seen. With it, a
    /// descriptor that still cannot be followed is a file of a filesystem that keeps root
    /// out (FUSE without `allow_other`), not one sweep could reach either: passed over,
    /// the rest of the process is read.
    fn descriptor(&mut self, p: &mut Process, fd: &std::path::Path) -> Result<(), Denied> {
        self.descriptors += 1;
        let m = match fs::metadata(fd) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && !p.ptrace => return Err(Denied),
            Err(_) => return Ok(()),
        };
        if !m.file_type().is_file() {
            return Ok(());
        }
        if m.nlink() == 0 {
            let link = fs::read_link(fd).unwrap_or_default();
            let text = link.to_string_lossy();
            let path = text.strip_suffix(" (deleted)").map_or(link.clone(), std::path::PathBuf::from);
            if !self.deleted.iter().any(|(d, p, _)| *d == m.dev() && *p == path) {
                self.deleted.push((m.dev(), path, m.blocks().saturating_mul(512)));
            }
            return Ok(());
        }
        self.by_inode
            .entry((m.dev(), m.ino()))
            .or_insert_with(|| Holder { pid: p.pid, command: p.command().to_string() });
        Ok(())
    }

    /// Notes that `holder` holds the file with this device and inode open (for tests of
    /// what depends on open files).
    #[cfg(test)]
    pub fn hold(&mut self, dev: u64, ino: u64, holder: Holder) {
        self.by_inode.insert((dev, ino), holder);
    }

    /// Who holds the file with this device and inode open (or mapped), if anyone.
    pub fn holder(&self, dev: u64, ino: u64) -> Option<&Holder> {
        self.by_inode.get(&(dev, ino))
    }

    /// Deleted files still held open that were under `root` (on device `dev`): how
    /// many, and the bytes they hold. Files of other processes elsewhere on the same
    /// filesystem are none of the policy's business.
    pub fn deleted_under(&self, dev: u64, root: &std::path::Path) -> (u64, u64) {
        self.deleted
            .iter()
            .filter(|(d, p, _)| *d == dev && p.starts_with(root))
            .fold((0, 0), |(n, b), (_, _, bytes)| (n + 1, b + bytes))
    }
}

/// A process being read: its id, its `/proc` directory, its command name once read, and
/// whether sweep has `CAP_SYS_PTRACE`.
struct Process {
    pid: u32,
    dir: std::path::PathBuf,
    command: Option<String>,
    ptrace: bool,
}

impl Process {
    /// `/proc/PID/comm`, read the first time it is needed.
    fn command(&mut self) -> &str {
        let dir = &self.dir;
        self.command.get_or_insert_with(|| {
            fs::read_to_string(dir.join("comm")).map(|s| s.trim_end().to_string()).unwrap_or_default()
        })
    }
}

/// A process whose descriptors sweep may not read.
struct Denied;

/// Whether two threads share one descriptor table (`kcmp(KCMP_FILES)`); `None` when the
/// kernel cannot say (no `kcmp`, a seccomp filter, a thread gone).
#[allow(unsafe_code)]
fn same_files(a: u32, b: u32) -> Option<bool> {
    const KCMP_FILES: libc::c_long = 2;
    let (Ok(a), Ok(b)) = (libc::pid_t::try_from(a), libc::pid_t::try_from(b)) else { return None };
    // SAFETY: kcmp takes five integers and touches no memory of this process.
    let r = unsafe { libc::syscall(libc::SYS_kcmp, a, b, KCMP_FILES, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    (r >= 0).then_some(r == 0)
}

/// Whether this process has `CAP_SYS_PTRACE` in its effective set (`/proc/self/status`),
/// which reading another user's `/proc/PID/fd` needs.
fn has_sys_ptrace() -> bool {
    const CAP_SYS_PTRACE: u32 = 19;
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_SYS_PTRACE) != 0)
}

/// The files a `/proc/PID/maps` text maps: (device, inode) of each line that names one
/// (`00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/dbus-daemon`: the device is
/// `major:minor` in hex, the inode in decimal; anonymous mappings have inode 0).
fn mapped(maps: &str) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for line in maps.lines() {
        let mut f = line.split_ascii_whitespace();
        let (Some(dev), Some(ino)) = (f.nth(3), f.next()) else { continue };
        let Ok(ino) = ino.parse::<u64>() else { continue };
        let Some((major, minor)) = dev.split_once(':') else { continue };
        let (Ok(major), Ok(minor)) = (u32::from_str_radix(major, 16), u32::from_str_radix(minor, 16)) else { continue };
        let key = (rustix::fs::makedev(major, minor), ino);
        if ino != 0 && out.last() != Some(&key) {
            out.push(key);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_name_their_files_by_device_and_inode() {
        let maps = "00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/dbus-daemon\n\
                    00651000-00652000 r--p 00051000 08:02 173521 /usr/bin/dbus-daemon\n\
                    7f0000000000-7f0000021000 rw-p 00000000 00:00 0 \n\
                    7f1000000000-7f1000001000 r--s 00000000 fd:1a 42 /data/x (deleted)\n";
        assert_eq!(mapped(maps), vec![(rustix::fs::makedev(8, 2), 173_521), (rustix::fs::makedev(0xfd, 0x1a), 42)]);
    }

    #[test]
    fn a_file_this_test_holds_open_elsewhere_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("held.log");
        fs::write(&path, b"x").unwrap();
        // A child process holds it (the scan skips sweep's own descriptors).
        let mut child =
            std::process::Command::new("sleep").arg("30").stdin(fs::File::open(&path).unwrap()).spawn().unwrap();
        let open = OpenFiles::scan().unwrap();
        let m = fs::metadata(&path).unwrap();
        let holder = open.holder(m.dev(), m.ino()).cloned();
        let _ = child.kill();
        let _ = child.wait();
        let holder = holder.expect("the child's descriptor is seen");
        assert_eq!(holder.pid, child.id());
        assert_eq!(holder.command, "sleep");
    }
}
