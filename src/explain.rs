//! `sweep explain`: why a path gets its decision, without walking anything. The same
//! classifier the walk uses decides, so `explain` and `plan` cannot disagree on what
//! they both see; only guards that need the whole tree (`keep_last`) and, for paths that
//! do not exist, the mtime (`date_from: mtime`, `min_age`) are left out, and it says so.
//! `check` uses [`decide`] to verify the `tests:` in policy files.

use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::action::Action;
use crate::classify::{Classifier, Reason};
use crate::clock::{self, Now};
use crate::policy::{DateFrom, Policy};
use crate::walk::{Entry, Kind};

/// One policy's decision for one path.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// The policy.
    pub policy: String,
    /// Where the policy is defined.
    pub origin: String,
    /// The decision, or `None` when it cannot be made without the file.
    pub action: Option<Action>,
    /// Why.
    pub reason: String,
    /// The layout that matched, as written.
    pub layout: Option<String>,
    /// The partition's date as written.
    pub date: Option<String>,
    /// The partition's period, RFC 3339 start and end.
    pub period: Option<(String, String)>,
    /// The cutoff.
    pub cutoff: String,
    /// How the cutoff was reached.
    pub cutoff_basis: String,
    /// For layouts that did not match (all, when none did): where each stopped.
    pub misses: Vec<String>,
    /// What was not evaluated.
    pub notes: Vec<String>,
}

/// The policies whose root contains `path`, most specific (longest root) first.
pub fn owners<'p>(policies: &[&'p Policy], path: &Path) -> Vec<&'p Policy> {
    let mut v: Vec<&Policy> =
        policies.iter().copied().filter(|p| path.starts_with(&p.root) && path != p.root).collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.root.as_os_str().len()));
    v
}

/// Decides `path` under `policy` at `now`, as a walk would.
pub fn decide(policy: &Policy, path: &Path, now: &Now) -> Decision {
    let now_at = now.resolve(&policy.zone);
    let cutoff = clock::cutoff(policy.keep, now_at, &policy.calendar);
    let tz = policy.zone.tz();
    let rel = path.strip_prefix(&policy.root).unwrap_or(path);
    let parts: Vec<&[u8]> = rel.iter().map(|c| c.as_bytes()).collect();
    let mut classifier = Classifier::new(policy, &cutoff, now_at.timestamp());
    let mut notes = Vec::new();
    if policy.keep_last > 0 {
        notes.push(format!("keep_last {} needs the whole tree; not evaluated here (plan shows it)", policy.keep_last));
    }

    let meta = std::fs::symlink_metadata(path).ok();
    let mtime = meta.as_ref().map(std::os::unix::fs::MetadataExt::mtime);
    let needs_mtime = policy.date_from == DateFrom::Mtime || !policy.min_age.is_zero();
    if needs_mtime && mtime.is_none() {
        let what = if policy.date_from == DateFrom::Mtime { "date_from: mtime" } else { "min_age" };
        notes.push(format!("{what} needs the file's mtime, and the path does not exist here"));
    }
    let mut dir = classifier.root();
    if let Some((_, dirs)) = parts.split_last() {
        for d in dirs {
            dir = classifier.enter(&dir, d);
        }
    }
    let path_bytes = path.as_os_str().as_bytes();
    let entry = Entry {
        path: path_bytes,
        rel: rel.as_os_str().as_bytes(),
        name: parts.last().copied().unwrap_or_default(),
        kind: Kind::File,
        size: meta.as_ref().map_or(0, |m| m.len()),
        // Without the file, its age cannot protect it: assume it is old.
        mtime: mtime.unwrap_or(i64::MIN / 2),
    };
    let verdict = classifier.classify(&dir, &entry);
    let reason = classifier.reason_text().to_string(&verdict);
    let trace = policy.layouts.trace(&parts);
    let layout = trace.matched.map(|m| policy.layouts.templates()[m.layout].source().to_string());
    let rfc = |s| clock::local(tz, s).to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let needed_mtime = matches!(verdict.reason, Reason::MtimeCurrent(_) | Reason::MtimeExpired(_) | Reason::KeepLast);
    let undecidable = policy.date_from == DateFrom::Mtime && mtime.is_none() && needed_mtime;
    let misses = trace
        .misses
        .iter()
        .map(|(i, why)| format!("layout {} `{}`: {why}", i + 1, policy.layouts.templates()[*i].source()))
        .collect();
    let cutoff_basis = match &cutoff.business {
        Some((day, skipped)) => crate::run::describe_business(*day, skipped),
        None => format!("keep {} in {} at {}", policy.keep, policy.zone, now_at.to_rfc3339()),
    };
    Decision {
        policy: policy.name.clone(),
        origin: policy.origin.to_string(),
        action: (!undecidable).then_some(verdict.action),
        reason: if undecidable { "depends on the file's mtime".into() } else { reason },
        layout,
        date: verdict.date.as_deref().map(str::to_string),
        period: verdict.partition.filter(|_| !undecidable).map(|p| (rfc(p.start), rfc(p.end))),
        cutoff: cutoff.rfc3339(),
        cutoff_basis,
        misses,
        notes,
    }
}

/// Makes `p` absolute against the current directory.
pub fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
    }
}

/// Prints decisions for people.
pub fn print_text(out: &mut dyn Write, path: &Path, decisions: &[Decision]) -> io::Result<()> {
    writeln!(out, "{}", crate::report::display_path(path.as_os_str().as_bytes()))?;
    if decisions.is_empty() {
        writeln!(out, "  no policy's root contains this path: sweep never touches it")?;
    }
    for d in decisions {
        writeln!(out, "  policy    {} ({})", d.policy, d.origin)?;
        if let Some(l) = &d.layout {
            writeln!(out, "  layout    {l}")?;
        }
        if let Some(date) = &d.date {
            match &d.period {
                Some((a, b)) => writeln!(out, "  date      {date}  (period {a} .. {b})")?,
                None => writeln!(out, "  date      {date}")?,
            }
        }
        writeln!(out, "  cutoff    {}  ({})", d.cutoff, d.cutoff_basis)?;
        let action = d.action.map_or("undecided", Action::as_str);
        writeln!(out, "  decision  {action}: {}", d.reason)?;
        if d.layout.is_none() || d.action == Some(Action::Unmatched) {
            for m in &d.misses {
                writeln!(out, "    {m}")?;
            }
        }
        for n in &d.notes {
            writeln!(out, "  note      {n}")?;
        }
    }
    Ok(())
}
