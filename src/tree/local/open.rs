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
    /// Deleted files still held open: device, the path they had (as the kernel shows
    /// it), and the bytes they hold.
    deleted: Vec<(u64, std::path::PathBuf, u64)>,
    /// Descriptors examined.
    pub descriptors: u64,
}

impl OpenFiles {
    /// Scans `/proc`. An error means `/proc` could not be read at all; processes that
    /// vanish or cannot be examined during the scan are skipped.
    pub fn scan() -> Result<OpenFiles, String> {
        let mut out = OpenFiles::default();
        let me = std::process::id();
        let procs = fs::read_dir("/proc").map_err(|e| format!("cannot read /proc: {e}"))?;
        for p in procs.flatten() {
            let name = p.file_name();
            let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            if pid == me {
                continue;
            }
            let Ok(fds) = fs::read_dir(p.path().join("fd")) else { continue };
            let mut command: Option<String> = None;
            for fd in fds.flatten() {
                out.descriptors += 1;
                // `metadata` follows the magic link to the open file itself.
                let Ok(m) = fs::metadata(fd.path()) else { continue };
                if !m.file_type().is_file() {
                    continue;
                }
                if m.nlink() == 0 {
                    let link = fs::read_link(fd.path()).unwrap_or_default();
                    let text = link.to_string_lossy();
                    let path = text.strip_suffix(" (deleted)").map_or(link.clone(), std::path::PathBuf::from);
                    if !out.deleted.iter().any(|(d, p, _)| *d == m.dev() && *p == path) {
                        out.deleted.push((m.dev(), path, m.blocks().saturating_mul(512)));
                    }
                    continue;
                }
                let command = command.get_or_insert_with(|| {
                    fs::read_to_string(p.path().join("comm")).map(|s| s.trim_end().to_string()).unwrap_or_default()
                });
                out.by_inode.entry((m.dev(), m.ino())).or_insert_with(|| Holder { pid, command: command.clone() });
            }
        }
        Ok(out)
    }

    /// Who holds the file with this device and inode open, if anyone.
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

#[cfg(test)]
mod tests {
    use super::*;

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
