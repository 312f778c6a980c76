//! Test support: real trees in temporary directories, and the real binary.

#![allow(dead_code)]

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process};
use serde_json::Value;

pub mod attack;
pub mod servers;
mod user;
pub use user::User;

/// A scratch directory with a policy root inside it (`<tmp>/data`).
pub struct Tree {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Tree {
    pub fn new() -> Tree {
        let dir = tempfile::Builder::new().prefix("sweep-test-").tempdir_in(base()).expect("tempdir");
        let root = dir.path().join("data");
        fs::create_dir(&root).expect("root");
        Tree { dir, root }
    }

    /// Path of `rel` under the root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Creates a file (and its directories) with a little content.
    pub fn file(&self, rel: &str) -> &Tree {
        self.file_bytes(rel, b"x\n")
    }

    /// Creates a file of `n` bytes.
    pub fn file_sized(&self, rel: &str, n: usize) -> &Tree {
        self.file_bytes(rel, &vec![b'x'; n])
    }

    pub fn file_bytes(&self, rel: &str, content: &[u8]) -> &Tree {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
        self
    }

    /// Creates every file in `rels`.
    pub fn files(&self, rels: &[&str]) -> &Tree {
        for r in rels {
            self.file(r);
        }
        self
    }

    pub fn dir_(&self, rel: &str) -> &Tree {
        fs::create_dir_all(self.path(rel)).unwrap();
        self
    }

    /// Sets a file's mtime (seconds since the epoch).
    pub fn mtime(&self, rel: &str, secs: i64) -> &Tree {
        set_mtime(&self.path(rel), secs);
        self
    }

    /// Writes a policy file; `{root}` and `{dir}` are replaced. Returns its path.
    pub fn policy(&self, yaml: &str) -> PathBuf {
        self.policy_named("policy.yaml", yaml)
    }

    pub fn policy_named(&self, name: &str, yaml: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        let text =
            yaml.replace("{root}", self.root.to_str().unwrap()).replace("{dir}", self.dir.path().to_str().unwrap());
        fs::write(&p, text).unwrap();
        p
    }

    /// Every non-directory under the root, relative, sorted.
    pub fn listing(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.root, &self.root, &mut out);
        out.sort();
        out
    }

    pub fn exists(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.path(rel)).is_ok()
    }

    /// `sweep SUB -c POLICY --now NOW --lock-file ... ARGS`.
    pub fn sweep(&self, sub: &str, policy: &Path, now: &str) -> Sweep {
        self.sweep_with(Sweep::new(), sub, policy, now)
    }

    /// [`Tree::sweep`] as `user`.
    pub fn sweep_as(&self, user: &User, sub: &str, policy: &Path, now: &str) -> Sweep {
        self.sweep_with(user.sweep(), sub, policy, now)
    }

    fn sweep_with(&self, mut s: Sweep, sub: &str, policy: &Path, now: &str) -> Sweep {
        s.arg(sub).arg("-c").arg(policy.as_os_str()).arg("--now").arg(now);
        if sub == "apply" {
            s.arg("--lock-file").arg(self.dir.path().join("sweep.lock").as_os_str());
        }
        s
    }
}

/// The directory test trees live in. It is marked "top of a directory hierarchy"
/// (`chattr +T`) where the filesystem supports it, so each tree gets fresh block groups:
/// on ext4, creating files right after many deletions is otherwise several times slower.
fn base() -> &'static Path {
    static BASE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        let b = std::env::temp_dir().join("sweep-tests");
        fs::create_dir_all(&b).expect("test base directory");
        if let Ok(d) = fs::File::open(&b) {
            use rustix::fs::{IFlags, ioctl_getflags, ioctl_setflags};
            if let Ok(f) = ioctl_getflags(&d) {
                let _ = ioctl_setflags(&d, f | IFlags::TOPDIR);
            }
        }
        b
    })
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd {
        let e = e.unwrap();
        let p = e.path();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            walk(root, &p, out);
        } else {
            out.push(String::from_utf8_lossy(p.strip_prefix(root).unwrap().as_os_str().as_bytes()).into_owned());
        }
    }
}

/// Sets mtime (and atime) of `p` without following symlinks.
pub fn set_mtime(p: &Path, secs: i64) {
    use rustix::fs::{AtFlags, CWD, Timespec, Timestamps, utimensat};
    let t = Timespec { tv_sec: secs, tv_nsec: 0 };
    utimensat(CWD, p, &Timestamps { last_access: t, last_modification: t }, AtFlags::SYMLINK_NOFOLLOW).unwrap();
}

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_sweep");

/// A command line for the real binary.
pub struct Sweep {
    cmd: Command,
}

impl Sweep {
    pub fn new() -> Sweep {
        Sweep::from_command(Command::new(BIN))
    }

    /// The binary as `cmd` starts it (another user's, say: see [`User::sweep`]).
    pub fn from_command(mut cmd: Command) -> Sweep {
        cmd.env_remove("NO_COLOR").env("TZ", "UTC");
        Sweep { cmd }
    }

    pub fn arg(&mut self, a: impl AsRef<std::ffi::OsStr>) -> &mut Sweep {
        self.cmd.arg(a);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(&mut self, a: I) -> &mut Sweep {
        self.cmd.args(a);
        self
    }

    pub fn env(&mut self, k: &str, v: &str) -> &mut Sweep {
        self.cmd.env(k, v);
        self
    }

    pub fn command(&mut self) -> &mut Command {
        &mut self.cmd
    }

    pub fn output(&mut self) -> Done {
        let out = self.cmd.output().expect("run sweep");
        Done { out }
    }

    /// Runs and checks the exit code, printing both streams when it differs.
    #[track_caller]
    pub fn code(&mut self, want: i32) -> Done {
        let done = self.output();
        let got = done.out.status.code().unwrap_or(-1);
        assert_eq!(got, want, "exit code\n--- stdout\n{}\n--- stderr\n{}", done.stdout(), done.stderr());
        done
    }
}

/// Runs the binary without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH, so that permission
/// bits bind even for root.
pub fn without_dac(s: &mut Sweep) -> &mut Sweep {
    use rustix::thread::{CapabilitySet, remove_capability_from_bounding_set};
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe syscalls (prctl) run between fork and exec.
    unsafe {
        s.command().pre_exec(|| {
            for cap in [CapabilitySet::DAC_OVERRIDE, CapabilitySet::DAC_READ_SEARCH] {
                remove_capability_from_bounding_set(cap)?;
            }
            Ok(())
        });
    }
    s
}

/// `name` on `PATH`.
pub fn tool(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// `name` on `PATH` for `test`. Missing: under CI (the `CI` variable is set, as `.ci/run`
/// sets it) the test fails, since CI installs every tool; elsewhere it says loudly that
/// the test is skipped, and the test returns.
#[track_caller]
pub fn required(name: &str, test: &str) -> Option<PathBuf> {
    let found = tool(name);
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "{test}: `{name}` is not installed, and CI must run every test");
        loud(&format!("SKIPPED {test}: `{name}` is not installed, so this is NOT checked here"));
    }
    found
}

/// A note on the process's stderr, not through the test harness, so that it shows even
/// when the test passes.
pub fn loud(note: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n*** {note} ***\n");
}

/// `test` cannot run here because `what` (not a tool: a privilege, a sysctl) is missing:
/// as with [`required`], a failure under CI and a loud skip elsewhere.
#[track_caller]
pub fn missing(test: &str, what: &str) {
    assert!(std::env::var_os("CI").is_none(), "{test}: {what} is missing, and CI must run every test");
    loud(&format!("SKIPPED {test}: {what} is missing, so this is NOT checked here"));
}

/// `chattr +i` on a file, undone on drop (also when the test fails) so the tree can go.
pub struct Immutable(PathBuf);

impl Immutable {
    #[track_caller]
    pub fn set(path: PathBuf) -> Immutable {
        let ok = Command::new("chattr").arg("+i").arg(&path).status().expect("chattr (e2fsprogs) is needed");
        assert!(ok.success(), "chattr +i must work as root on this machine kind");
        Immutable(path)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

/// A finished run.
pub struct Done {
    pub out: Output,
}

impl Done {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// stdout as JSON Lines; every line must parse.
    #[track_caller]
    pub fn json(&self) -> Vec<Value> {
        self.stdout()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// The summary line (last line of JSON output).
    #[track_caller]
    pub fn summary(&self) -> Value {
        let lines = self.json();
        let last = lines.last().expect("some output").clone();
        assert_eq!(last["type"], "summary", "last line is the summary");
        last
    }

    /// `(relative path, action)` of every file line, sorted; paths relative to `root`.
    #[track_caller]
    pub fn actions(&self, root: &Path) -> Vec<(String, String)> {
        let prefix = format!("{}/", root.display());
        let mut v: Vec<(String, String)> = self
            .json()
            .into_iter()
            .filter(|l| l["type"] == "file")
            .map(|l| {
                let p = l["path"].as_str().unwrap();
                (p.strip_prefix(&prefix).unwrap_or(p).to_string(), l["action"].as_str().unwrap().to_string())
            })
            .collect();
        v.sort();
        v
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Done {
        assert!(self.stdout().contains(needle), "stdout lacks {needle:?}:\n{}", self.stdout());
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Done {
        assert!(self.stderr().contains(needle), "stderr lacks {needle:?}:\n{}", self.stderr());
        self
    }
}

/// Owned `(path, action)` pairs for comparisons.
pub fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    v.sort();
    v
}

/// A one-policy file with the given extra keys (YAML lines, indented under the policy).
pub fn one_policy(layouts: &[&str], keep: &str, extra: &str) -> String {
    let layouts: Vec<String> = layouts.iter().map(|l| format!("\"{l}\"")).collect();
    let extra: String = extra.lines().filter(|l| !l.trim().is_empty()).map(|l| format!("    {}\n", l.trim())).collect();
    let tz = if extra.contains("timezone:") { "" } else { "    timezone: UTC\n" };
    format!(
        "version: 1\npolicies:\n  - name: t\n    root: {{root}}\n{tz}    layouts: [{}]\n    keep: {keep}\n{extra}",
        layouts.join(", ")
    )
}

/// A YAML document as JSON values, read with sweep's own YAML reader (plain scalars that
/// look like numbers, booleans or null become those, as YAML 1.2's core schema says).
pub fn yaml(text: &str) -> Result<Value, String> {
    let doc = sweep::policy::yaml::parse(text).map_err(|e| format!("{:?}: {}", e.mark, e.message))?;
    Ok(to_json(&doc.root))
}

/// Every document of a multi-document YAML stream (`---` lines between them).
pub fn yaml_documents(text: &str) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.trim_end() == "---" {
            if !current.trim().is_empty() {
                docs.push(yaml(&current).expect("valid YAML"));
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    if !current.trim().is_empty() {
        docs.push(yaml(&current).expect("valid YAML"));
    }
    docs
}

fn to_json(n: &sweep::policy::yaml::Node) -> Value {
    use sweep::policy::yaml::Value as Y;
    match &n.value {
        Y::Scalar { text, plain: true } => match text.as_str() {
            "" | "~" | "null" | "Null" | "NULL" => Value::Null,
            "true" | "True" | "TRUE" => Value::Bool(true),
            "false" | "False" | "FALSE" => Value::Bool(false),
            t => t
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| t.parse::<f64>().map(Value::from))
                .unwrap_or_else(|_| Value::String(t.to_string())),
        },
        Y::Scalar { text, plain: false } => Value::String(text.clone()),
        Y::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Y::Map(entries) => Value::Object(entries.iter().map(|e| (e.key.clone(), to_json(&e.value))).collect()),
    }
}

/// A tmpfs mounted for one test (`mount -t tmpfs -o OPTIONS`), unmounted (lazily) when
/// dropped, also when the test fails.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    #[track_caller]
    pub fn mount(path: &Path, options: &str) -> Tmpfs {
        fs::create_dir_all(path).unwrap();
        let ok = Command::new("mount").args(["-t", "tmpfs", "-o", options, "tmpfs"]).arg(path).status().unwrap();
        assert!(ok.success(), "mounting a tmpfs must work as root on this machine kind");
        Tmpfs(path.to_path_buf())
    }

    /// Bytes available to users, as statvfs says.
    pub fn free(&self) -> u64 {
        let st = rustix::fs::statvfs(&self.0).unwrap();
        st.f_bavail * st.f_frsize
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A run still going after this is hung: it is killed and the test fails.
pub const HANG: Duration = Duration::from_secs(30);

/// Kills a process still running [`HANG`] after it started.
pub struct Watchdog {
    cancel: Option<mpsc::Sender<()>>,
    fired: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    pub fn start(pid: Pid) -> Watchdog {
        let (cancel, wait) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let f = Arc::clone(&fired);
        let thread = std::thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = wait.recv_timeout(HANG) {
                f.store(true, Ordering::SeqCst);
                let _ = kill_process(pid, Signal::KILL);
            }
        });
        Watchdog { cancel: Some(cancel), fired, thread: Some(thread) }
    }

    /// Stands down; true when it had to kill.
    pub fn stop(mut self) -> bool {
        self.cancel.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.fired.load(Ordering::SeqCst)
    }
}

/// Runs `cmd` with stdout and stderr captured, under the hang guard.
#[track_caller]
pub fn bounded(cmd: &mut Command, what: &str) -> Done {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    finish_bounded(cmd, what)
}

/// Runs `cmd` as configured, under the hang guard: a run still going after [`HANG`] is
/// killed and fails the test.
#[track_caller]
pub fn finish_bounded(cmd: &mut Command, what: &str) -> Done {
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let guard = Watchdog::start(Pid::from_child(&child));
    let out: Output = child.wait_with_output().unwrap();
    if guard.stop() {
        panic!(
            "{what} hung: killed after {HANG:?}\n--- stdout\n{}--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Done { out }
}
