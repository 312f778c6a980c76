//! Another local user, for tests that run something as someone other than root (an
//! attacker, a user with no other processes). Every such test goes through [`User`]:
//! it makes the program reachable by that user wherever the repository was cloned. A
//! clone in a private directory (`mktemp -d` gives 0700, and so does `/root`) leaves
//! `target/debug/sweep` out of another user's reach; the program is then copied, once,
//! into a 0755 directory the user can enter, and run from there.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use super::{BIN, Sweep, missing};

/// A local user other than root, by id (it need not exist in `/etc/passwd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl User {
    /// `nobody:nogroup`.
    pub const NOBODY: User = User { uid: 65534, gid: 65534 };

    /// This user, for `test`; `None` after a loud skip (a failure under CI) when the
    /// tests do not run as root, which only root can switch users.
    #[track_caller]
    pub fn new(uid: u32, gid: u32, test: &str) -> Option<User> {
        if !rustix::process::geteuid().is_root() {
            missing(test, "root (to run a command as another user)");
            return None;
        }
        Some(User { uid, gid })
    }

    /// `program` run as this user, without supplementary groups (the standard library
    /// drops root's when it changes the user). `program` is made reachable first when it
    /// is a path.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let program = program.as_ref();
        let program = if program.to_string_lossy().contains('/') {
            self.reachable(Path::new(program)).into_os_string()
        } else {
            program.to_os_string()
        };
        let mut c = Command::new(program);
        c.uid(self.uid).gid(self.gid);
        c
    }

    /// The binary under test, run as this user.
    pub fn sweep(&self) -> Sweep {
        Sweep::from_command(self.command(BIN))
    }

    /// Whether this user may execute `path` where it is (every directory above it
    /// searchable, the file executable).
    pub fn can_execute(&self, path: &Path) -> bool {
        let mut c = Command::new("test");
        c.arg("-x").arg(path).uid(self.uid).gid(self.gid);
        c.status().is_ok_and(|s| s.success())
    }

    /// A path at which this user can execute `exe`: `exe` itself when it can, else a
    /// copy in a 0755 directory it can reach (made once per program and kept for the
    /// rest of the test run).
    pub fn reachable(&self, exe: &Path) -> PathBuf {
        if self.can_execute(exe) {
            return exe.to_path_buf();
        }
        static COPIES: Mutex<Option<HashMap<PathBuf, (tempfile::TempDir, PathBuf)>>> = Mutex::new(None);
        let mut copies = COPIES.lock().unwrap_or_else(|e| e.into_inner());
        let copies = copies.get_or_insert_with(HashMap::new);
        if let Some((_, copy)) = copies.get(exe) {
            return copy.clone();
        }
        let name = exe.file_name().unwrap_or(OsStr::new("program"));
        for base in [std::env::temp_dir(), PathBuf::from("/tmp"), PathBuf::from("/var/tmp"), PathBuf::from("/dev/shm")]
        {
            let Ok(dir) = tempfile::Builder::new().prefix("sweep-reachable-").tempdir_in(&base) else { continue };
            let copy = dir.path().join(name);
            let made = fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
                .and_then(|()| fs::copy(exe, &copy))
                .and_then(|_| fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)));
            if made.is_ok() && self.can_execute(&copy) {
                copies.insert(exe.to_path_buf(), (dir, copy.clone()));
                return copy;
            }
        }
        panic!(
            "uid {} cannot execute {} and no copy of it in a temporary directory is reachable either",
            self.uid,
            exe.display()
        );
    }
}
