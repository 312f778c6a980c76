//! `sweep explain`: for each path (which need not exist), its owner, layout, date,
//! period, cutoff and decision with its reason — the decision `apply` would take now.
//! It watches a plan of the owners' roots (and of the roots whose moves reach them), so
//! every per-file fact a run weighs (open files, `min_age`, markers, tables, capacity,
//! thinning, tiers) and every refusal is in it; that plan reads those roots as `plan`
//! does, and prints nothing.

use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::AtomicUsize;

use crate::act::explain::{Tree, absolute, decide, needed};
use crate::act::{self, RunOptions};
use crate::config::ExplainConfig;
use crate::exit::Exit;
use crate::policy::set::normalize;
use crate::report::Printer;
use crate::report::capture::Capture;
use crate::tree::Mode;

/// Runs `explain`.
pub fn run(cfg: &ExplainConfig, signal: &AtomicUsize) -> Exit {
    let mut out = Printer::new(cfg.style);
    let (set, selected) = match super::load(&cfg.selection, &out.log()) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let given: Vec<_> = cfg.paths.iter().map(|p| absolute(p)).collect();
    let paths: Vec<_> = given.iter().map(|p| as_a_run_sees(&set, &normalize(p))).collect();
    let need = needed(&set, &selected, &paths);
    let history = super::history(&set, &need, None, false, &cfg.state_dir, &out.log());
    let mut capture = Capture::new(paths.iter().map(|p| p.as_os_str().as_bytes().to_vec()));
    let opts = RunOptions {
        mode: Mode::Plan,
        now: cfg.now,
        system_clock: false,
        max_delete: None,
        previous_start: None,
        signal,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
        max_rate: None,
        history: history.as_ref(),
        shard: None,
    };
    let run = act::run(&set, &need, &opts, &mut capture);
    let none = Default::default();
    for (path, shown) in paths.iter().zip(&given) {
        if !out.is_open() {
            break;
        }
        let owner = set.owner(path).map(|i| set.policies[i].name.as_str());
        let partitions = owner.and_then(|o| capture.partitions.get(o)).unwrap_or(&none);
        let mut d = decide(&set, &selected, path, &cfg.now, Tree::Given(partitions));
        if let Some(d) = d.as_mut() {
            if normalize(shown) != *path {
                d.notes.push(format!(
                    "{} is {} as the run walks it (a symlink or bind mount on the way): decided as that",
                    shown.display(),
                    path.display()
                ));
            }
            if let Some((_, o)) = capture.files.get(path.as_os_str().as_bytes()) {
                d.observe(o.clone());
            }
            if let Some(s) = run.policies.iter().find(|p| p.name == d.policy.name) {
                d.refusal = s.refused.clone();
                if let Some(a) = &s.auto {
                    d.notes.push(crate::report::reason::auto(a));
                }
                if s.files.get(crate::bucket::Action::Error) > 0 {
                    d.notes.push(format!(
                        "the plan of {} could not read all of it ({}): what needs the tree may be missing",
                        s.root.display(),
                        s.problems
                            .first()
                            .map_or_else(|| "see plan".to_string(), |p| crate::report::reason::problem(p, &s.root))
                    ));
                }
            }
        }
        crate::report::explain::print(&mut out, shown, d.as_ref());
    }
    out.finish(Exit::Clean)
}

/// `path` as the run reaches it: where its existing directories really are, spelled
/// under the root that really contains them (a run groups and nests roots by identity,
/// so `/data/inner/x`, with `/data` a symlink to `/mnt/d1/data` and another policy's root
/// at `/mnt/d1/data/inner`, is that policy's `/mnt/d1/data/inner/x`). A path whose
/// directories do not exist is taken as it is written.
fn as_a_run_sees(set: &crate::policy::PolicySet, path: &std::path::Path) -> std::path::PathBuf {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return path.to_path_buf() };
    let Ok(real_dir) = std::fs::canonicalize(dir) else { return path.to_path_buf() };
    let real = real_dir.join(name);
    let best = set
        .groups()
        .into_iter()
        .filter(|g| set.policies[g.members[0]].object.is_none())
        .filter_map(|g| {
            let r = std::fs::canonicalize(&g.root).ok()?;
            (real != r && real.starts_with(&r)).then_some((g.root, r))
        })
        .max_by_key(|(_, r)| r.components().count());
    match best {
        Some((root, r)) => match real.strip_prefix(&r) {
            Ok(rest) if root.join(rest) != path && set.owner(path) != set.owner(&root.join(rest)) => root.join(rest),
            _ => path.to_path_buf(),
        },
        None => path.to_path_buf(),
    }
}
