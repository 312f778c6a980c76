//! The one unlink that checks what it unlinks: a file whose removal depends on its own
//! state (its mtime, for `min_age` or `date_from: mtime`) is set aside under a private
//! name first, then unlinked only if it is still the file examined. The deleting
//! threads (`remover`) and the lifecycle operations (`tier`, which unlinks an original
//! once its copy is in place) both remove through it.

use std::ffi::CString;
use std::os::fd::OwnedFd;

use rustix::fs::AtFlags;
use rustix::io::Errno;

use crate::tree::{Check, Removal};

/// The names sweep gives a file for the instant between checking it and unlinking it
/// (see [`remove_checked`]): `.sweep.` + 16 hex digits + `.unlinking`. The walk never
/// hands such a name to the visitor; it exists for microseconds.
pub(super) fn is_in_flight(name: &[u8]) -> bool {
    name.len() == 33 && name.starts_with(b".sweep.") && name.ends_with(b".unlinking")
}

/// Whether an in-flight name is this process's (its top bits are the process id).
pub(super) fn is_own_in_flight(name: &[u8]) -> bool {
    let hex = name.get(7..23).and_then(|h| std::str::from_utf8(h).ok());
    hex.and_then(|h| u64::from_str_radix(h, 16).ok())
        .is_some_and(|n| n >> 40 == u64::from(std::process::id()) & 0xff_ffff)
}

/// A name for [`is_in_flight`], unique in this process.
fn in_flight_name() -> std::ffi::CString {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = (u64::from(std::process::id()) & 0xff_ffff) << 40;
    let n = seed ^ NEXT.fetch_add(1, Ordering::Relaxed);
    std::ffi::CString::new(format!(".sweep.{n:016x}.unlinking")).unwrap_or_default()
}

/// Removes `name` from `dir` if the check still holds, with no window in which a file
/// renamed over the name could be deleted instead of the one examined.
///
/// Without a check the name decides, and `unlinkat` is the one syscall. With one, the
/// file is first renamed to a private name (`RENAME_NOREPLACE`): from then on no writer
/// can put anything there. If it is the inode examined, with the same mtime, it is
/// unlinked; if not (a writer replaced it before the rename), it is put back
/// ([`put_back`]). A file sweep did not examine is never unlinked.
pub(super) fn remove_checked(dir: &OwnedFd, name: &std::ffi::CStr, check: Check) -> Removal {
    let Check::Same { ino, mtime } = check else {
        return Removal::of(rustix::fs::unlinkat(dir, name, AtFlags::empty()));
    };
    let private = match set_aside(dir, name) {
        Ok(p) => p,
        Err(e) => return Removal::of(Err(e)),
    };
    let same = rustix::fs::statat(dir, &private, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| st.st_ino == ino && st.st_mtime == mtime);
    if same {
        return Removal::of(rustix::fs::unlinkat(dir, &private, AtFlags::empty()));
    }
    put_back(dir, name, &private)
}

/// Renames `name` to a private name of its own ([`is_in_flight`]); returns that name.
fn set_aside(dir: &OwnedFd, name: &std::ffi::CStr) -> Result<CString, Errno> {
    let private = in_flight_name();
    rustix::fs::renameat_with(dir, name, dir, &private, rustix::fs::RenameFlags::NOREPLACE)?;
    Ok(private)
}

/// Puts a file that [`set_aside`] moved to `private`, and that is not the one examined,
/// back at `name`: the file examined is gone, and this one is the next run's. If yet
/// another file took the name meanwhile (two writers' renames in the window), this one
/// was never judged and is not unlinked either: it is kept beside, under a new visible
/// name (`NAME.sweep-kept-<hex>`), and the removal fails, saying where it is.
fn put_back(dir: &OwnedFd, name: &std::ffi::CStr, private: &std::ffi::CStr) -> Removal {
    let flags = rustix::fs::RenameFlags::NOREPLACE;
    let err = match rustix::fs::renameat_with(dir, private, dir, name, flags) {
        Ok(()) => return Removal::Vanished,
        Err(Errno::EXIST) => {
            let mut last = Errno::EXIST;
            for _ in 0..8 {
                let kept = kept_name(name.to_bytes());
                match rustix::fs::renameat_with(dir, private, dir, &kept, flags) {
                    Ok(()) => {
                        return Removal::Rejected(
                            format!(
                                "replaced while being removed, and the name taken again: the file found in its place \
                                 was never examined, so it was not deleted; it is kept as {}",
                                kept.to_string_lossy()
                            )
                            .into(),
                        );
                    }
                    Err(Errno::EXIST) => {}
                    Err(e) => {
                        last = e;
                        break;
                    }
                }
            }
            last
        }
        Err(e) => e,
    };
    Removal::Rejected(
        format!(
            "replaced while being removed: the file found in its place was never examined, and could not be \
             put back ({}); it is at {}",
            crate::tree::os_message(err),
            private.to_string_lossy()
        )
        .into(),
    )
}

/// `NAME.sweep-kept-` + 16 hex digits, shortened at the front of `NAME` to fit a name's
/// 255 bytes.
fn kept_name(name: &[u8]) -> CString {
    let mut random = [0u8; 8];
    let _ = rustix::rand::getrandom(&mut random, rustix::rand::GetRandomFlags::empty());
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let suffix = format!(".sweep-kept-{suffix}");
    let keep = name.len().min(255 - suffix.len());
    let mut kept = name[..keep].to_vec();
    kept.extend_from_slice(suffix.as_bytes());
    CString::new(kept).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::{Mode as FsMode, OFlags};
    use std::sync::atomic::Ordering;

    #[test]
    fn in_flight_names_are_recognised_and_unique() {
        let (a, b) = (in_flight_name(), in_flight_name());
        assert_ne!(a, b);
        assert!(is_in_flight(a.to_bytes()), "{a:?}");
        assert!(is_own_in_flight(a.to_bytes()) && !is_own_in_flight(b".sweep.ffffff0000000000.unlinking"));
        assert!(!is_in_flight(b".sweep.unlinking") && !is_in_flight(b"part-0.csv"));
    }

    #[test]
    fn a_file_replaced_before_its_removal_is_put_back() {
        let d = tempfile::tempdir().unwrap();
        let dir = rustix::fs::open(d.path(), OFlags::RDONLY | OFlags::DIRECTORY, FsMode::empty()).unwrap();
        std::fs::write(d.path().join("f"), b"old").unwrap();
        let st = rustix::fs::statat(&dir, c"f", AtFlags::empty()).unwrap();
        let check = Check::Same { ino: st.st_ino, mtime: st.st_mtime };
        // A writer renames a fresh file over the name.
        std::fs::write(d.path().join("tmp"), b"fresh").unwrap();
        std::fs::rename(d.path().join("tmp"), d.path().join("f")).unwrap();
        assert_eq!(remove_checked(&dir, c"f", check), Removal::Vanished);
        assert_eq!(std::fs::read(d.path().join("f")).unwrap(), b"fresh");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1, "no private name left");
        // The same file, unchanged: removed.
        let st = rustix::fs::statat(&dir, c"f", AtFlags::empty()).unwrap();
        let check = Check::Same { ino: st.st_ino, mtime: st.st_mtime };
        assert_eq!(remove_checked(&dir, c"f", check), Removal::Removed);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }
    #[test]
    fn a_file_never_examined_is_never_unlinked_while_writers_race_its_removal() {
        // A writer fills the name whenever it is free (never over another file) with files
        // sweep never examined, while removals with a check none of them matches run: every
        // file the writer placed must still exist somewhere.
        use std::sync::atomic::{AtomicBool, AtomicUsize};
        let d = tempfile::tempdir().unwrap();
        let dir = rustix::fs::open(d.path(), OFlags::RDONLY | OFlags::DIRECTORY, FsMode::empty()).unwrap();
        let check = Check::Same { ino: 0, mtime: 0 };
        let (stop, placed) = (AtomicBool::new(false), AtomicUsize::new(0));
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let tmp = std::ffi::CString::new(format!("w{i}")).unwrap();
                    let fd =
                        rustix::fs::openat(&dir, &tmp, OFlags::WRONLY | OFlags::CREATE, FsMode::from_raw_mode(0o644));
                    drop(fd.unwrap());
                    match rustix::fs::renameat_with(&dir, &tmp, &dir, c"f", rustix::fs::RenameFlags::NOREPLACE) {
                        Ok(()) => {
                            placed.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => rustix::fs::unlinkat(&dir, &tmp, AtFlags::empty()).unwrap(),
                    }
                }
            });
            let started = std::time::Instant::now();
            let mut n = 0;
            while started.elapsed() < std::time::Duration::from_secs(1) && n < 100_000 {
                let _ = remove_checked(&dir, c"f", check);
                n += 1;
            }
            stop.store(true, Ordering::Relaxed);
        });
        let left = std::fs::read_dir(d.path()).unwrap().count();
        assert_eq!(left, placed.load(Ordering::Relaxed), "every file placed is still there");
    }

    #[test]
    fn a_file_replaced_twice_while_set_aside_is_kept_beside_and_the_removal_fails() {
        // The steps of `remove_checked`, with two writers' renames in its window: one
        // before it sets the name aside (so what it sets aside is not the file examined),
        // one before it puts that file back.
        let d = tempfile::tempdir().unwrap();
        let dir = rustix::fs::open(d.path(), OFlags::RDONLY | OFlags::DIRECTORY, FsMode::empty()).unwrap();
        std::fs::write(d.path().join("f"), b"examined").unwrap();
        let st = rustix::fs::statat(&dir, c"f", AtFlags::empty()).unwrap();
        let examined = Check::Same { ino: st.st_ino, mtime: st.st_mtime };
        let write_over = |content: &[u8]| {
            std::fs::write(d.path().join("tmp"), content).unwrap();
            std::fs::rename(d.path().join("tmp"), d.path().join("f")).unwrap();
        };
        write_over(b"first writer");
        let private = set_aside(&dir, c"f").unwrap();
        let aside = rustix::fs::statat(&dir, &private, AtFlags::empty()).unwrap();
        assert_ne!(Check::Same { ino: aside.st_ino, mtime: aside.st_mtime }, examined, "not the file examined");
        write_over(b"second writer");
        let Removal::Rejected(why) = put_back(&dir, c"f", &private) else { panic!("the removal must fail") };
        let mut names: Vec<String> =
            std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(names[0], "f");
        assert!(names[1].starts_with("f.sweep-kept-") && names[1].len() == "f.sweep-kept-".len() + 16, "{names:?}");
        assert_eq!(std::fs::read(d.path().join("f")).unwrap(), b"second writer");
        assert_eq!(std::fs::read(d.path().join(&names[1])).unwrap(), b"first writer", "never unlinked");
        assert!(why.contains(&format!("kept as {}", names[1])), "{why}");
    }

    #[test]
    fn a_kept_name_fits_in_a_name() {
        let long = vec![b'a'; 255];
        let kept = kept_name(&long);
        assert_eq!(kept.as_bytes().len(), 255);
        assert!(kept.to_string_lossy().contains(".sweep-kept-"));
        assert!(kept_name(b"x.csv").to_string_lossy().starts_with("x.csv.sweep-kept-"));
    }
}
