//! What the attack tests share: the attacker (`nobody` through util-linux `setpriv`),
//! trees nobody may enter, sysctls set for a test and restored, process groups killed on
//! drop, and the limits (descriptors, memory) a run can be put under.

#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::fs::{self};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustix::process::{Pid, Resource, Rlimit, Signal, kill_process_group};

use crate::support::*;

pub const NOW: &str = "2024-07-12T12:00:00Z";
/// 2024-07-01T00:00:00Z: expired at [`NOW`] and by the real clock.
pub const OLD_MTIME: i64 = 1_719_792_000;
/// uid and gid of the attacker.
pub const NOBODY: u32 = 65534;
/// Address space sweep gets where memory must stay bounded.
pub const MEMORY: u64 = 512 * 1024 * 1024;

/// The attacker: commands run as nobody:nogroup, without supplementary groups, through
/// util-linux `setpriv`.
pub struct Nobody {
    setpriv: PathBuf,
}

impl Nobody {
    /// `None` after a loud skip (a failure under CI) when `setpriv` or root is missing.
    pub fn new(test: &str) -> Option<Nobody> {
        let setpriv = required("setpriv", test)?;
        if !rustix::process::geteuid().is_root() {
            missing(test, "root (to act as nobody and restore what the attack changed)");
            return None;
        }
        Some(Nobody { setpriv })
    }

    /// `program` as nobody; a path is made reachable first (see [`User::reachable`]).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let program = program.as_ref();
        let mut c = Command::new(&self.setpriv);
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        if program.to_string_lossy().contains('/') {
            c.arg(User::NOBODY.reachable(Path::new(program)));
        } else {
            c.arg(program);
        }
        c
    }

    /// Runs `sh -c script` as nobody with `args` as `$1...`; it must succeed.
    #[track_caller]
    pub fn run(&self, script: &str, args: &[&Path]) {
        let out = self.command("sh").args(["-c", script, "sh"]).args(args).output().expect("run setpriv");
        assert!(
            out.status.success(),
            "as nobody: {script} {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// This test executable, at a path nobody may execute (a copy, if the build
    /// directory is closed to others).
    pub fn executable(&self) -> PathBuf {
        let exe = std::env::current_exe().expect("path of the test executable");
        User::NOBODY.reachable(&exe)
    }
}

/// A tree whose scratch directory (and the directory above it) nobody may enter.
pub fn open_tree() -> Tree {
    let t = Tree::new();
    for d in [t.dir.path().parent().unwrap(), t.dir.path()] {
        let mode = fs::metadata(d).unwrap().permissions().mode();
        if mode & 0o005 != 0o005 {
            fs::set_permissions(d, fs::Permissions::from_mode(mode | 0o755)).unwrap();
        }
    }
    t
}

/// Serialises every test that changes a sysctl, so that none saves another's value.
pub static SYSCTLS: Mutex<()> = Mutex::new(());

/// Sysctls set for one test and restored on drop, also when the test panics.
pub struct Sysctl {
    saved: Vec<(PathBuf, String)>,
    _serial: MutexGuard<'static, ()>,
}

impl Sysctl {
    /// Sets each `(name, value)` (names as under `/proc/sys`); `None` after a loud skip
    /// (a failure under CI) when one cannot be set.
    pub fn set(settings: &[(&str, &str)], test: &str) -> Option<Sysctl> {
        let serial = SYSCTLS.lock().unwrap_or_else(|e| e.into_inner());
        let mut s = Sysctl { saved: Vec::new(), _serial: serial };
        for (name, value) in settings {
            let path = Path::new("/proc/sys").join(name);
            let Ok(old) = fs::read_to_string(&path) else {
                missing(test, &format!("the sysctl {name}"));
                return None;
            };
            if fs::write(&path, value).is_err()
                || fs::read_to_string(&path).ok().as_deref().map(str::trim) != Some(value)
            {
                missing(test, &format!("permission to set the sysctl {name}"));
                return None;
            }
            s.saved.push((path, old.trim().to_string()));
        }
        Some(s)
    }
}

impl Drop for Sysctl {
    fn drop(&mut self) {
        for (path, old) in self.saved.iter().rev() {
            if let Err(e) = fs::write(path, old) {
                loud(&format!("could not restore {} to {old}: {e}", path.display()));
            }
        }
    }
}

/// A process group, killed on drop.
pub struct Group(pub Pid);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = kill_process_group(self.0, Signal::KILL);
    }
}

/// Like [`bounded`], sampling the child's peak resident size (`VmHWM`) every few
/// milliseconds while it runs; returns the largest sample, in KiB.
#[track_caller]
pub fn bounded_with_peak(cmd: &mut Command, what: &str) -> (Done, u64) {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let pid = child.id();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let hwm = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
                peak = peak.max(hwm.unwrap_or(0));
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        })
    };
    let guard = Watchdog::start(Pid::from_child(&child));
    let out: Output = child.wait_with_output().unwrap();
    done.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    if guard.stop() {
        panic!("{what} hung: killed after {HANG:?}\n--- stderr\n{}", String::from_utf8_lossy(&out.stderr));
    }
    (Done { out }, peak)
}

#[track_caller]
pub fn expect_code(done: &Done, want: i32) {
    assert_eq!(
        done.out.status.code(),
        Some(want),
        "exit status {}\n--- stdout\n{}--- stderr\n{}",
        done.out.status,
        done.stdout(),
        done.stderr()
    );
}

/// The environment `Sweep` gives the binary, for commands that run it through another.
pub fn sweep_env(cmd: &mut Command) -> &mut Command {
    cmd.env_remove("NO_COLOR").env("TZ", "UTC")
}

/// Runs the command under `ulimit -n n` (soft and hard).
pub fn limit_fds(cmd: &mut Command, n: u64) -> &mut Command {
    // SAFETY: only setrlimit runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::setrlimit(Resource::Nofile, Rlimit { current: Some(n), maximum: Some(n) })?;
            Ok(())
        });
    }
    cmd
}

/// Runs the command with its address space limited to [`MEMORY`].
pub fn limit_memory(cmd: &mut Command) -> &mut Command {
    // SAFETY: only setrlimit runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setrlimit(Resource::As, Rlimit { current: Some(MEMORY), maximum: Some(MEMORY) })?;
            Ok(())
        });
    }
    cmd
}

/// Names in a directory, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .map(|n: OsString| n.to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
