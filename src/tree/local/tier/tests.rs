//! Compression, completion of an interrupted compression, moves and temporaries, on
//! real files.

use std::fs::File;
use std::io::Read;

use rustix::fs::{Timespec, Timestamps};

use super::compress::write_compressed;
use super::*;
use crate::policy::Format;

fn open(p: &std::path::Path) -> OwnedFd {
    rustix::fs::open(p, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap()
}

#[test]
fn compression_round_trips_and_keeps_mode_and_mtime() {
    for format in [Format::Zstd, Format::Gzip] {
        let d = tempfile::tempdir().unwrap();
        let data: Vec<u8> =
            (0..300_000u32).flat_map(|i| format!("{i},T{},{}.5\n", i % 97, i % 1000).into_bytes()).collect();
        std::fs::write(d.path().join("a.csv"), &data).unwrap();
        let path = d.path().join("a.csv");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
        let st = rustix::fs::stat(&path).unwrap();
        let dir = open(d.path());
        let r = compress(&dir, c"a.csv", format, 3, Check::Same { ino: st.st_ino, mtime: st.st_mtime });
        let Removal::Compressed(size) = r else { panic!("{r:?}") };
        let z = d.path().join(format!("a.csv{}", format.suffix()));
        assert!(!path.exists());
        let zst = rustix::fs::stat(&z).unwrap();
        assert_eq!(u64::try_from(zst.st_size).unwrap(), size);
        assert!(size < data.len() as u64 / 2, "{size} of {}", data.len());
        assert_eq!((zst.st_mode & 0o7777, zst.st_mtime), (0o640, st.st_mtime));
        let mut back = Vec::new();
        match format {
            Format::Zstd => zstd::stream::read::Decoder::new(File::open(&z).unwrap()).unwrap().read_to_end(&mut back),
            Format::Gzip => flate2::read::GzDecoder::new(File::open(&z).unwrap()).read_to_end(&mut back),
        }
        .unwrap();
        assert_eq!(back, data);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1, "no temporary left");
    }
}

/// Leaves `NAME.zst` beside `NAME` in `dir` as a run stopped before its unlink would:
/// written, marked and named by sweep, the original still there.
fn interrupted(dir: &OwnedFd, name: &CStr) {
    let src = rustix::fs::openat(dir, name, READ, Mode::empty()).unwrap();
    let st = rustix::fs::fstat(&src).unwrap();
    let target = CString::new([name.to_bytes(), b".zst"].concat()).unwrap();
    write_compressed(dir, &src, &st, &target, Format::Zstd, 3).unwrap();
}

fn exists(r: &Removal) -> bool {
    matches!(r, Removal::Rejected(why) if why.contains("exists (not an interrupted compression of this file)"))
}

#[test]
fn an_existing_compressed_file_is_completed_only_when_sweep_marked_it_for_this_very_file() {
    let d = tempfile::tempdir().unwrap();
    let (a, z) = (d.path().join("a.csv"), d.path().join("a.csv.zst"));
    std::fs::write(&a, b"hello\n").unwrap();
    let dir = open(d.path());
    std::fs::write(&z, b"not zstd").unwrap();
    let r = compress(&dir, c"a.csv", Format::Zstd, 3, Check::None);
    assert!(exists(&r), "{r:?}");
    assert_eq!(std::fs::read(&z).unwrap(), b"not zstd");
    // Its exact compressed content is not enough: anyone who can read a file can write that.
    std::fs::write(&z, zstd::encode_all(&b"hello\n"[..], 3).unwrap()).unwrap();
    assert!(exists(&compress(&dir, c"a.csv", Format::Zstd, 3, Check::None)));
    assert!(a.exists());
    let plan = predict(&dir, c"a.csv", &crate::tree::Transform::Compress { format: Format::Zstd, level: 3 });
    assert_eq!(plan, Removal::WouldFail(Errno::EXIST), "plan predicts it");
    // sweep's own, for this file: the job is finished.
    std::fs::remove_file(&z).unwrap();
    interrupted(&dir, c"a.csv");
    let plan = predict(&dir, c"a.csv", &crate::tree::Transform::Compress { format: Format::Zstd, level: 3 });
    assert_eq!(plan, Removal::Planned);
    assert!(matches!(compress(&dir, c"a.csv", Format::Zstd, 3, Check::None), Removal::Compressed(_)));
    assert!(!a.exists());
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
}

#[test]
fn a_marked_compressed_file_is_not_trusted_once_it_or_the_original_changed() {
    type Spoil = fn(&std::path::Path, &std::path::Path);
    let spoils: [(&str, Spoil); 5] = [
        ("group-writable", |_, z| {
            std::fs::set_permissions(z, std::os::unix::fs::PermissionsExt::from_mode(0o664)).unwrap();
        }),
        ("a second link", |_, z| std::fs::hard_link(z, z.with_extension("link")).unwrap()),
        ("the original rewritten", |a, _| std::fs::write(a, b"hellO\n").unwrap()),
        ("the original replaced", |a, _| {
            std::fs::write(a.with_extension("new"), b"hello\n").unwrap();
            std::fs::rename(a.with_extension("new"), a).unwrap();
        }),
        ("its mark removed", |_, z| rustix::fs::removexattr(z, MARK).unwrap()),
    ];
    for (what, spoil) in spoils {
        let d = tempfile::tempdir().unwrap();
        let (a, z) = (d.path().join("a.csv"), d.path().join("a.csv.zst"));
        std::fs::write(&a, b"hello\n").unwrap();
        set_old_mtime(&a);
        let dir = open(d.path());
        interrupted(&dir, c"a.csv");
        spoil(&a, &z);
        let r = compress(&dir, c"a.csv", Format::Zstd, 3, Check::None);
        assert!(exists(&r), "{what}: {r:?}");
        assert!(a.exists() && z.exists(), "{what}");
    }
    if rustix::process::geteuid().is_root() {
        let d = tempfile::tempdir().unwrap();
        let (a, z) = (d.path().join("a.csv"), d.path().join("a.csv.zst"));
        std::fs::write(&a, b"hello\n").unwrap();
        let dir = open(d.path());
        interrupted(&dir, c"a.csv");
        std::os::unix::fs::chown(&z, Some(65534), None).unwrap();
        assert!(exists(&compress(&dir, c"a.csv", Format::Zstd, 3, Check::None)), "another owner");
    }
}

/// Gives `p` an mtime in the past, so that a rewrite changes it.
fn set_old_mtime(p: &std::path::Path) {
    let t = Timespec { tv_sec: 1_700_000_000, tv_nsec: 0 };
    rustix::fs::utimensat(rustix::fs::CWD, p, &Timestamps { last_access: t, last_modification: t }, AtFlags::empty())
        .unwrap();
}

#[test]
fn moves_never_overwrite_and_create_directories() {
    let (src, dst) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::create_dir_all(src.path().join("2024-07-01")).unwrap();
    std::fs::write(src.path().join("2024-07-01/a"), b"a").unwrap();
    std::fs::write(src.path().join("2024-07-01/b"), b"b").unwrap();
    std::fs::create_dir_all(dst.path().join("2024-07-01")).unwrap();
    std::fs::write(dst.path().join("2024-07-01/b"), b"old").unwrap();
    let (s, t) = (open(&src.path().join("2024-07-01")), open(dst.path()));
    assert_eq!(archive(&s, c"a", &t, b"2024-07-01/a", Check::None), Removal::Moved);
    assert_eq!(std::fs::read(dst.path().join("2024-07-01/a")).unwrap(), b"a");
    assert_eq!(archive(&s, c"b", &t, b"2024-07-01/b", Check::None), Removal::Failed(Errno::EXIST));
    assert_eq!(std::fs::read(dst.path().join("2024-07-01/b")).unwrap(), b"old");
    assert!(src.path().join("2024-07-01/b").exists());
}

#[test]
fn temporaries_are_recognised() {
    assert!(is_temporary(b".sweep.0123456789abcdef.compress"));
    assert!(is_temporary(b".sweep.0123456789abcdef.move"));
    assert!(!is_temporary(b".sweep.0123456789abcdef.unlinking"));
    assert!(!is_temporary(b"sweep.0123456789abcdef.move"));
}
