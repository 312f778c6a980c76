//! The state directory (`--state-dir`, default `/var/lib/sweep`; systemd's
//! `StateDirectory=sweep`): what sweep remembers between runs. Today that is one file,
//! `history.json`: per policy (its name and root), the files and bytes of its last 14
//! applies that deleted something, which `max_delete: auto` compares each run with.
//!
//! The history steers a safety guard, so it is read as hostile ground: the directory
//! and the file must belong to root (to the user sweep runs as, when that is not root)
//! and be writable by no group or other user, the file is opened without following a
//! symlink or blocking on a FIFO, and at most 1 MiB of it is read. A history that fails
//! any of this — or is not valid JSON, say truncated by a full disk — is not believed:
//! `auto` then acts as `2d`, and the run says why. It never crashes a run and never
//! lifts the guard.
//!
//! Only `apply` writes it, after its deletions: under an exclusive lock on the
//! directory (runs of other configurations may share it), it reads the file again,
//! adds this run's applies and writes a new file beside it that it renames into place,
//! all through the directory's descriptor (`O_EXCL | O_NOFOLLOW`, as the metrics file).

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::fs::{FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};

use crate::guard::auto::{History, Past};
use crate::tree::local::resolve::{self, Refusal};

/// The default state directory.
pub const DEFAULT_DIR: &str = "/var/lib/sweep";

/// The history's file name in the state directory.
pub const FILE: &str = "history.json";

/// The most of the file that is read (and written): 1 MiB, some 1,000 policies.
const MAX_BYTES: usize = 1 << 20;

/// The most policies the file keeps: those recorded most recently.
const MAX_POLICIES: usize = 1_000;

/// How long a run waits for another run writing the history.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// The file, as JSON.
#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    policies: Vec<PolicyRuns>,
}

#[derive(Serialize, Deserialize)]
struct PolicyRuns {
    name: String,
    root: String,
    applies: Vec<Apply>,
}

#[derive(Serialize, Deserialize)]
struct Apply {
    /// The instant the run evaluated at, seconds since the epoch.
    at: i64,
    files: u64,
    bytes: u64,
}

/// One policy's apply to remember: its name, its root as the history keys it, and what
/// it deleted.
pub type Record = (String, String, Past);

/// Reads the history in `dir`. A missing directory or file is an empty history; one that
/// cannot be trusted is [`History::untrusted`] with the reason.
pub fn read(dir: &Path) -> History {
    match resolve::open_dir(dir) {
        Ok(fd) => match trusted(&fd, "the state directory", dir) {
            Ok(()) => read_in(&fd, dir),
            Err(why) => History::untrusted(why),
        },
        Err(Refusal::Os(Errno::NOENT)) => History::default(),
        Err(e) => History::untrusted(format!("cannot open the state directory {}: {e}", dir.display())),
    }
}

/// What [`record`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Nothing to record, or the history was written.
    Done,
    /// The directory cannot be trusted, so nothing was written there: why.
    Untrusted(String),
}

/// Adds `applies` to the history in `dir` (created, mode 0755, when it is missing and
/// its parent exists). An error is an I/O failure the run reports (exit 5).
pub fn record(dir: &Path, applies: &[Record]) -> Result<Recorded, String> {
    if applies.is_empty() {
        return Ok(Recorded::Done);
    }
    let shown = dir.display();
    let fd = match resolve::open_dir(dir) {
        Ok(fd) => fd,
        Err(Refusal::Os(Errno::NOENT)) => create(dir).map_err(|e| format!("cannot create {shown}: {e}"))?,
        Err(e) => return Err(format!("cannot open {shown}: {e}")),
    };
    if let Err(why) = trusted(&fd, "the state directory", dir) {
        return Ok(Recorded::Untrusted(why));
    }
    lock(&fd).map_err(|e| format!("cannot lock {shown}: {e}"))?;
    // What another run wrote since this one read it counts; a file that cannot be
    // trusted is replaced (its contents are not believed, so nothing is lost).
    let mut history = read_in(&fd, dir);
    if history.why_untrusted().is_some() {
        history = History::default();
    }
    for (name, root, past) in applies {
        history.record(name, root, *past);
    }
    history.keep_newest(MAX_POLICIES);
    let mut text = render(&history);
    while text.len() > MAX_BYTES {
        let n = history.policies().count();
        history.keep_newest(n.saturating_sub(n / 10 + 1));
        text = render(&history);
    }
    crate::report::metrics::write_in(&fd, std::ffi::OsStr::new(FILE), &text)
        .map_err(|e| format!("cannot write {}: {e}", dir.join(FILE).display()))?;
    Ok(Recorded::Done)
}

/// The directory, made when it is missing: only its last component, in a parent opened
/// as any directory sweep uses is.
fn create(dir: &Path) -> Result<OwnedFd, String> {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return Err("not a directory name".to_string());
    };
    let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
    let at = resolve::open_dir(parent).map_err(|e| e.to_string())?;
    match rustix::fs::mkdirat(&at, name, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(crate::tree::os_message(e)),
    }
    resolve::open_dir(dir).map_err(|e| e.to_string())
}

/// Waits (boundedly) for an exclusive lock on the directory.
fn lock(fd: &OwnedFd) -> Result<(), String> {
    let start = Instant::now();
    loop {
        match rustix::fs::flock(fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(()),
            Err(Errno::WOULDBLOCK) if start.elapsed() < LOCK_WAIT => std::thread::sleep(Duration::from_millis(50)),
            Err(Errno::WOULDBLOCK) => {
                return Err(format!("another run held it for {}s", LOCK_WAIT.as_secs()));
            }
            Err(e) => return Err(crate::tree::os_message(e)),
        }
    }
}

/// Whether a directory or file may steer the guard: owned by root (or by the user sweep
/// runs as, when that is not root) and writable by no group or other user.
fn trusted(fd: &OwnedFd, what: &str, path: &Path) -> Result<(), String> {
    let st = rustix::fs::fstat(fd).map_err(|e| format!("cannot stat {what} {}: {e}", path.display()))?;
    let me = rustix::process::geteuid();
    let owner_ok = st.st_uid == 0 || (!me.is_root() && st.st_uid == me.as_raw());
    if !owner_ok {
        let who = if me.is_root() { "root".to_string() } else { format!("you (uid {}) or root", me.as_raw()) };
        return Err(format!("{what} {} is owned by uid {}, not {who}", path.display(), st.st_uid));
    }
    let mode = st.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        return Err(format!("{what} {} is writable by group or others (mode {mode:04o})", path.display()));
    }
    Ok(())
}

/// Reads the history file in the directory `dir` (shown as `path`).
fn read_in(dir: &OwnedFd, path: &Path) -> History {
    let file = path.join(FILE);
    let shown = file.display();
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let fd = match rustix::fs::openat(dir, FILE, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return History::default(),
        Err(Errno::LOOP) => return History::untrusted(format!("{shown} is a symbolic link")),
        Err(e) => return History::untrusted(format!("cannot open {shown}: {}", crate::tree::os_message(e))),
    };
    match rustix::fs::fstat(&fd) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {}
        Ok(_) => return History::untrusted(format!("{shown} is not a regular file")),
        Err(e) => return History::untrusted(format!("cannot stat {shown}: {e}")),
    }
    if let Err(why) = trusted(&fd, "the history", &file) {
        return History::untrusted(why);
    }
    let mut bytes = Vec::new();
    let limit = u64::try_from(MAX_BYTES).unwrap_or(u64::MAX) + 1;
    if let Err(e) = std::fs::File::from(fd).take(limit).read_to_end(&mut bytes) {
        return History::untrusted(format!("cannot read {shown}: {e}"));
    }
    if bytes.len() > MAX_BYTES {
        return History::untrusted(format!("{shown} is larger than {} MiB", MAX_BYTES >> 20));
    }
    parse(&bytes).unwrap_or_else(|why| History::untrusted(format!("{shown} is corrupt ({why})")))
}

/// The history a file's bytes hold.
fn parse(bytes: &[u8]) -> Result<History, String> {
    let file: StateFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if file.version != 1 {
        return Err(format!("version {}, this sweep reads version 1", file.version));
    }
    let mut h = History::default();
    for p in file.policies {
        for a in p.applies {
            h.record(&p.name, &p.root, Past { at: a.at, files: a.files, bytes: a.bytes });
        }
    }
    Ok(h)
}

/// The file's text: one policy per line, so that a person can read it.
fn render(h: &History) -> String {
    let mut out = String::from("{\"version\":1,\"policies\":[\n");
    let mut first = true;
    for ((name, root), runs) in h.policies() {
        let p = PolicyRuns {
            name: name.clone(),
            root: root.clone(),
            applies: runs.iter().map(|r| Apply { at: r.at, files: r.files, bytes: r.bytes }).collect(),
        };
        if !first {
            out.push_str(",\n");
        }
        first = false;
        out.push_str(&serde_json::to_string(&p).unwrap_or_default());
    }
    out.push_str("\n]}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_history_reads_back_and_a_truncated_one_is_not_believed() {
        let mut h = History::default();
        for i in 0..3 {
            h.record("ticker", "/data/ticker", Past { at: i, files: 10 + i as u64, bytes: 100 });
        }
        let text = render(&h);
        assert_eq!(parse(text.as_bytes()), Ok(h));
        assert!(parse(&text.as_bytes()[..text.len() / 2]).is_err());
        assert!(parse(b"").is_err());
        assert!(parse(br#"{"version":2,"policies":[]}"#).unwrap_err().contains("version 2"));
    }
}
