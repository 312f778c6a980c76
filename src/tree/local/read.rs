//! Reading one directory: a batch of entries at a time ([`super::batch`]), their
//! `fstatat`s shared with helper threads where the walk only looks ([`super::stat`]),
//! then each entry handed to the visitor, in listing order, on the walk's thread —
//! files decided now, sub-directories left for the walk to descend into.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, RawDir, SeekFrom, Stat};
use rustix::io::Errno;

use super::batch::{BATCH, Batch, What};
use super::remover::{Node, Op};
use super::tier::{self, Debris};
use super::unlink::remove_checked;
use super::{Level, Waiting, Walker, stat};
use crate::tree::{
    Arrival, Arrivals, Check, Decision, DirTrouble, Entry, Kind, MarkerPass as Pass, Mode, Removal, Transform, Visitor,
};

impl<P> Walker<'_, '_, P> {
    /// Lists one directory: with completion markers, first the markers (whose removals
    /// complete before anything else of the directory is queued), then the rest. In a
    /// plan, what earlier policies of the run move into the directory is listed with it.
    /// Compressions are queued once the listing is done, so that a file this run writes
    /// is never listed by the walk that wrote it: `plan` cannot list it either.
    pub(super) fn list<V: Visitor<Pending = P>>(&mut self, level: &mut Level<V::Dir>, v: &mut V) {
        let arrivals = match self.opts.mode {
            Mode::Plan => {
                let rel = self.path[(self.root_len + 1).min(level.path_len)..level.path_len].to_vec();
                v.arrivals(&level.state, &rel)
            }
            Mode::Apply => Arrivals::default(),
        };
        if !v.has_markers(&level.state) {
            self.read(level, v, Pass::All);
            self.arrived(level, &arrivals.files, v, Pass::All);
        } else {
            // The markers are removed right here, on the walk's thread: their outcomes are
            // known before anything else of the directory is queued.
            self.read(level, v, Pass::Markers);
            self.arrived(level, &arrivals.files, v, Pass::Markers);
            v.markers_done(&mut level.state);
            match &level.fd {
                Some(fd) if rustix::fs::seek(&**fd, SeekFrom::Start(0)).is_ok() => self.read(level, v, Pass::Rest),
                _ => {}
            }
            self.arrived(level, &arrivals.files, v, Pass::Rest);
        }
        // Sub-directories that arrivals go into and that do not exist yet.
        for d in arrivals.dirs {
            if !level.pending.contains(&d) {
                level.arriving.push(d);
            }
        }
        for (op, p) in std::mem::take(&mut self.deferred) {
            if let Some(fd) = &level.fd {
                let fd = std::sync::Arc::clone(fd);
                self.queue(&fd, &level.node, op, p, v);
            }
        }
    }

    /// Plan mode: hands the visitor the files that will have arrived in this directory
    /// by the time `apply` lists it, as if they were listed.
    fn arrived<V: Visitor<Pending = P>>(
        &mut self,
        level: &mut Level<V::Dir>,
        files: &[Arrival],
        v: &mut V,
        pass: Pass,
    ) {
        let base = level.path_len;
        for a in files {
            if v.stop() {
                break;
            }
            if !pass.hands(pass != Pass::All && v.is_marker(&level.state, &a.name)) {
                continue;
            }
            level.entries += 1;
            self.path.truncate(base);
            self.path.push(b'/');
            self.path.extend_from_slice(&a.name);
            let rel = &self.path[(self.root_len + 1).min(self.path.len())..];
            let entry = Entry {
                path: &self.path,
                rel,
                name: &a.name,
                kind: Kind::File,
                size: a.size,
                allocated: a.allocated,
                links: 1,
                mtime: a.mtime,
                dev: a.dev,
                ino: a.ino,
            };
            let r = match v.file(&mut level.state, &entry) {
                Decision::Keep => None,
                Decision::WouldRemove => {
                    level.gone += 1;
                    None
                }
                Decision::Remove(p, _) => {
                    level.gone += 1;
                    Some((p, Removal::Planned))
                }
                Decision::Transform(p, t) => {
                    if matches!(t, Transform::Move { .. }) {
                        level.gone += 1;
                    }
                    let name = std::ffi::CString::new(a.name.clone()).unwrap_or_default();
                    let r = level.fd.as_ref().map_or(Removal::Planned, |fd| tier::predict(fd, &name, &t));
                    let r = v.foresee(&p, r);
                    if matches!(t, Transform::Move { .. }) && matches!(r, Removal::WouldFail(_)) {
                        level.gone -= 1;
                    }
                    Some((p, r))
                }
            };
            if let Some((p, r)) = r {
                v.removed(p, r);
            }
        }
        self.path.truncate(base);
    }

    /// Reads one directory, a batch of entries at a time: files go to the visitor now,
    /// sub-directories wait.
    fn read<V: Visitor<Pending = P>>(&mut self, level: &mut Level<V::Dir>, v: &mut V, pass: Pass) {
        let Some(fd) = level.fd.clone() else { return };
        let mut buf = std::mem::take(&mut self.buf);
        let mut batch = std::mem::take(&mut self.batch);
        let mut stats = std::mem::take(&mut self.stats);
        let mut dir = RawDir::new(&*fd, &mut buf);
        let base = level.path_len;
        loop {
            batch.clear();
            let mut failed = None;
            let mut end = false;
            while batch.len() < BATCH {
                let ent = match dir.next() {
                    None => None,
                    Some(Ok(ent)) => Some(ent),
                    // The directory itself was removed meanwhile (by someone else):
                    // nothing left to list, and nothing lost.
                    Some(Err(Errno::NOENT)) => None,
                    Some(Err(e)) => {
                        failed = Some(e);
                        None
                    }
                };
                let Some(ent) = ent else {
                    end = true;
                    break;
                };
                let name = ent.file_name().to_bytes();
                if name == b"." || name == b".." {
                    continue;
                }
                let listed = ent.file_type();
                let what = if listed != FileType::Directory && tier::is_ours(name) {
                    // sweep's own temporaries: in use by a run now, or left by one that
                    // was killed (and removed, once: not in the markers' pass).
                    if pass == Pass::Markers {
                        continue;
                    }
                    What::Ours
                } else {
                    let marker = pass != Pass::All && listed != FileType::Directory && v.is_marker(&level.state, name);
                    if !pass.hands(marker) {
                        continue;
                    }
                    match listed {
                        FileType::Directory => What::Dir,
                        FileType::Unknown => What::Stat,
                        _ if self.opts.stat => What::Stat,
                        _ => What::Listed,
                    }
                };
                batch.push(ent.file_name(), ent.ino(), listed, what);
            }
            let mut next = 0;
            {
                let names = batch.to_stat();
                let mut visit = |at: usize, st: Option<stat::Statted>| {
                    while next < at {
                        self.visit(level, &fd, &batch, next, None, pass, v);
                        next += 1;
                    }
                    self.visit(level, &fd, &batch, at, st, pass, v);
                    next = at + 1;
                };
                stats.stat(&fd, &names, |k, st| visit(batch.stat_at[k], Some(st)));
            }
            while next < batch.len() {
                self.visit(level, &fd, &batch, next, None, pass, v);
                next += 1;
            }
            if let Some(e) = failed
                && !v.stop()
            {
                self.path.truncate(base);
                level.troubled = true;
                v.error(&self.path, DirTrouble::Unreadable, e);
            }
            if end || v.stop() {
                break;
            }
        }
        self.stats = stats;
        self.batch = batch;
        self.buf = buf;
        self.path.truncate(base);
    }

    /// Hands the `at`th entry of a batch to the visitor, with the outcome of its
    /// `fstatat` if it needed one.
    #[allow(clippy::too_many_arguments)]
    fn visit<V: Visitor<Pending = P>>(
        &mut self,
        level: &mut Level<V::Dir>,
        fd: &Arc<OwnedFd>,
        batch: &Batch,
        at: usize,
        st: Option<stat::Statted>,
        pass: Pass,
        v: &mut V,
    ) {
        if v.stop() {
            return;
        }
        let base = level.path_len;
        let (cname, ino, listed, what) = batch.get(at);
        let name = cname.to_bytes();
        let mut st = st;
        match what {
            What::Ours => {
                // Named like one of sweep's temporaries: it is one only where the walk's
                // policy acts (its owner, not excluded, not in a table); anywhere else it
                // is a file like any other.
                self.path.truncate(base);
                self.path.push(b'/');
                self.path.extend_from_slice(name);
                let rel = self.path[(self.root_len + 1).min(self.path.len())..].to_vec();
                self.path.truncate(base);
                if v.acts_on_temporary(&level.state, name, &rel) {
                    match tier::debris(fd, cname) {
                        Debris::Leftover => return self.leftover(level, fd, cname, v),
                        Debris::Busy => return,
                        Debris::NotOurs => {}
                    }
                }
                level.entries += 1;
                st = Some(rustix::fs::statat(&**fd, cname, AtFlags::SYMLINK_NOFOLLOW));
            }
            What::Dir => {
                level.entries += 1;
                level.pending.push(name, ino);
                return;
            }
            What::Stat | What::Listed => level.entries += 1,
        }
        self.path.truncate(base);
        self.path.push(b'/');
        self.path.extend_from_slice(name);
        let st = match st {
            None => None,
            Some(Ok(st)) => Some(st),
            Some(Err(Errno::NOENT)) => {
                level.gone += 1;
                v.vanished(&self.path);
                return;
            }
            Some(Err(e)) => {
                level.troubled = true;
                v.error(&self.path, DirTrouble::Unreadable, e);
                return;
            }
        };
        let kind = match &st {
            Some(st) => kind_of(FileType::from_raw_mode(st.st_mode)),
            None => kind_of(listed),
        };
        let Some(kind) = kind else {
            // Listed with an unknown type (or changed into a directory): walk it.
            level.pending.push(name, st.as_ref().map_or(0, |s| s.st_ino));
            return;
        };
        let entry = entry(&self.path, self.root_len, name, kind, st.as_ref(), level.dev, ino);
        match v.file(&mut level.state, &entry) {
            Decision::Keep => {}
            Decision::WouldRemove => level.gone += 1,
            Decision::Remove(p, check) => {
                level.gone += 1;
                match (&mut self.pool, pass) {
                    (None, _) => v.removed(p, Removal::Planned),
                    (Some(_), Pass::Markers) => {
                        self.pacer.wait(entry_size(&st));
                        v.removed(p, remove_checked(fd, cname, check));
                    }
                    (Some(_), _) => {
                        let op = Op::Unlink(cname.to_owned(), check, entry_size(&st));
                        self.queue(fd, &level.node, op, p, v);
                    }
                }
            }
            Decision::Transform(p, t) => {
                // A move empties its directory as a deletion does; a compression
                // leaves a file behind.
                let compress = matches!(t, Transform::Compress { .. });
                if !compress {
                    level.gone += 1;
                }
                let check = st.as_ref().map_or(Check::None, |s| Check::Same { ino: s.st_ino, mtime: s.st_mtime });
                match (&self.pool, pass) {
                    // What would happen, as the filesystem stands: a name taken already.
                    (None, _) => {
                        let r = v.foresee(&p, tier::predict(fd, cname, &t));
                        if !compress && matches!(r, Removal::WouldFail(_)) {
                            // It would stay: its directory would not be emptied.
                            level.gone -= 1;
                        }
                        v.removed(p, r);
                    }
                    // A marker moves before anything else of its directory is queued.
                    (Some(_), Pass::Markers) => {
                        self.pacer.wait(entry_size(&st));
                        v.removed(p, tier::transform(fd, cname, check, &t));
                    }
                    // Written once the directory is listed (see `list`).
                    (Some(_), _) if compress => {
                        self.deferred.push((Op::Transform(cname.to_owned(), check, t, entry_size(&st)), p));
                    }
                    (Some(_), _) => {
                        let op = Op::Transform(cname.to_owned(), check, t, entry_size(&st));
                        self.queue(fd, &level.node, op, p, v);
                    }
                }
            }
        }
    }

    /// Hands an operation to the deleting threads; its outcome comes back with `p`.
    pub(super) fn queue<V: Visitor<Pending = P>>(
        &mut self,
        fd: &Arc<OwnedFd>,
        node: &Arc<Node>,
        op: Op,
        p: P,
        v: &mut V,
    ) {
        let Some(pool) = self.pool.as_mut() else { return };
        let id = pool.queue(fd, node, op);
        self.waiting.insert(id, Waiting::File(p));
        self.since_check += 1;
        if self.since_check >= 64 {
            self.since_check = 0;
            let got = pool.ready();
            self.deliver(got, v);
        }
    }

    /// A temporary an interrupted run left, found by the walk (`self.path` ends at its
    /// directory): removed (in plan: would be) and reported. (One in use now is not
    /// counted at all.)
    fn leftover<V: Visitor<Pending = P>>(
        &mut self,
        level: &mut Level<V::Dir>,
        fd: &OwnedFd,
        name: &std::ffi::CStr,
        v: &mut V,
    ) {
        let base = self.path.len();
        self.path.push(b'/');
        self.path.extend_from_slice(name.to_bytes());
        let r = match self.opts.mode {
            Mode::Plan => Removal::Planned,
            Mode::Apply => Removal::of(rustix::fs::unlinkat(fd, name, AtFlags::empty())),
        };
        level.entries += 1;
        if matches!(r, Removal::Failed(_)) {
            level.troubled = true;
        } else {
            level.gone += 1;
        }
        v.leftover(&self.path, r);
        self.path.truncate(base);
    }
}

fn entry<'a>(
    path: &'a [u8],
    root_len: usize,
    name: &'a [u8],
    kind: Kind,
    st: Option<&Stat>,
    dev: u64,
    ino: u64,
) -> Entry<'a> {
    let rel = &path[(root_len + 1).min(path.len())..];
    match st {
        Some(st) => Entry {
            path,
            rel,
            name,
            kind,
            size: u64::try_from(st.st_size).unwrap_or(0),
            allocated: u64::try_from(st.st_blocks).unwrap_or(0).saturating_mul(512),
            links: st.st_nlink,
            mtime: st.st_mtime,
            dev: st.st_dev,
            ino: st.st_ino,
        },
        None => Entry { path, rel, name, kind, size: 0, allocated: 0, links: 1, mtime: 0, dev, ino },
    }
}

fn entry_size(st: &Option<Stat>) -> u64 {
    st.as_ref().map_or(0, |s| u64::try_from(s.st_size).unwrap_or(0))
}

/// The type of a non-directory, or `None` for a directory or an unknown type.
fn kind_of(t: FileType) -> Option<Kind> {
    Some(match t {
        FileType::Directory | FileType::Unknown => return None,
        FileType::RegularFile => Kind::File,
        FileType::Symlink => Kind::Symlink,
        FileType::Fifo => Kind::Fifo,
        FileType::Socket => Kind::Socket,
        FileType::CharacterDevice => Kind::CharDevice,
        FileType::BlockDevice => Kind::BlockDevice,
    })
}
