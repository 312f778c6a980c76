//! Running policies: for each root, the cutoffs, the guards, the walks, the tally and
//! the exit status. This is where the flow meets: policy → clock → tree → classify →
//! guard → act, with every event going to a [`Sink`] (`report` implements them).
//!
//! A run is one plan. Its roots are walked in run order (the load order of each root's
//! first policy), each over the tree as the earlier ones leave it: what an earlier
//! policy moves into a later root is there when `apply` walks that root, and a plan
//! lists it there too ([`arrivals`]), so `plan` and `apply` print the same file lines,
//! refusals and exit code for the whole run.
//!
//! Policies that share a root are walked together ([`cohort`]), once per walk. A root's
//! run is one walk, or two: a counting walk ([`counting`]), read-only and silent, that
//! gathers what whole-policy decisions need before anything may be deleted, and the
//! acting walk ([`acting`]). Both take each file's decision the same way. `apply`
//! always counts first (a lakehouse table anywhere under the root refuses its policy
//! before the first deletion); `plan` counts when a guard needs the numbers (or the
//! policy archives, so that no move into a later root is noted before a refusal), and a
//! table its acting walk finds refuses the policy from there on, with the directories
//! it would have emptied held back until the walk ends.

mod acting;
pub mod arrivals;
mod close;
mod cohort;
mod counting;
mod decide;
pub mod events;
pub mod explain;
mod member;
mod outcome;
mod scale;
pub mod shard;
pub mod summary;

use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime};

use crate::bucket::Action;
use crate::classify::Classifier;
use crate::clock::{self, Now};
use crate::exit::Exit;
use crate::guard::auto::{self, History};
use crate::guard::capacity::Census;
use crate::guard::forecast::{self, Recent};
use crate::guard::{Newest, SystemDirs};
use crate::policy::set::Group;
use crate::policy::{DateFrom, MaxDelete, OnUnmatched, PolicySet};
use crate::tree::local::Budget;
use crate::tree::local::open::OpenFiles;
use crate::tree::pace::{Pacer, Rate};
use crate::tree::{DirId, Mode};
use crate::tree::{Listing, Root, WalkOptions};
use acting::Acting;
use arrivals::{Planned as PlannedArrivals, Routes};
use cohort::{Cohort, NestedRoots};
use counting::Counting;
use decide::Ledger;
use events::{ErrorEvent, Level, PolicyStart, Sink};
use member::Member;
use summary::{AutoReport, PolicySummary, RunSummary};

/// How a run is done.
pub struct RunOptions<'a> {
    /// Plan or apply.
    pub mode: Mode,
    /// The time to evaluate at.
    pub now: Now,
    /// Whether `now` is the system clock (the clock guard checks only that).
    pub system_clock: bool,
    /// `--max-delete`: replaces every selected policy's `max_delete` (`None` lifts it).
    pub max_delete: Option<Option<MaxDelete>>,
    /// The previous run's start, from the metrics file, for the clock guard.
    pub previous_start: Option<i64>,
    /// Set to a signal number by SIGINT/SIGTERM handlers; 0 while running.
    pub signal: &'a AtomicUsize,
    /// Deleting threads in apply.
    pub jobs: usize,
    /// `--max-rate`.
    pub max_rate: Option<Rate>,
    /// The policies' past applies, for `max_delete: auto` (read from the state directory
    /// when a selected policy has it in force).
    pub history: Option<&'a History>,
    /// `--shard`: the share of the run this runner acts on.
    pub shard: Option<shard::Shard>,
}

/// Runs the `selected` policies of `set` (indices into `set.policies`), root by root, in
/// run order.
pub fn run(set: &PolicySet, selected: &[bool], opts: &RunOptions, sink: &mut dyn Sink) -> RunSummary {
    let started = SystemTime::now();
    let mut summary = RunSummary { dry_run: opts.mode == Mode::Plan, exit: Exit::Clean, policies: Vec::new(), started };
    let chosen = |i: &usize| selected.get(*i).copied().unwrap_or(false);
    let system = SystemDirs::read();
    // skip_open needs the open files; so does capacity, which must not count a file
    // held open as freed when it is deleted. Objects are never open files: a run of
    // bucket roots alone does not read /proc.
    let wants_open = set
        .policies
        .iter()
        .enumerate()
        .any(|(i, p)| chosen(&i) && p.object.is_none() && (p.skip_open || p.capacity.any()));
    let open = if wants_open {
        match OpenFiles::scan() {
            Ok(o) => {
                if o.guarded > 0 {
                    sink.diagnostic(
                        Level::Warn,
                        None,
                        &format!(
                            "{} could not be examined even with CAP_SYS_PTRACE (the platform guards them, as a container's supervisor): files they hold open are not seen",
                            if o.guarded == 1 { "1 process".to_string() } else { format!("{} processes", o.guarded) }
                        ),
                    );
                }
                Some(o)
            }
            Err(e) => {
                sink.diagnostic(Level::Warn, None, &format!("{e}; skip_open cannot see open files and protects none"));
                None
            }
        }
    } else {
        None
    };
    let ctx = Ctx { set, opts, system: &system, open: open.as_ref(), budget: Budget::from_limit() };
    let mut ledger = Ledger::new();
    let groups = identify(set);
    let runs: Vec<bool> = groups.iter().map(|(g, _)| g.members.iter().any(chosen)).collect();
    let mut routes = Routes::new(set, groups.iter().map(|(g, _)| g.clone()).collect(), runs.clone());
    let mut arrivals = PlannedArrivals::new();
    for (at, (group, _)) in groups.iter().enumerate() {
        if !runs[at] {
            continue;
        }
        routes.at(at);
        arrivals.settle();
        let plan = (opts.mode == Mode::Plan).then_some((&mut arrivals, &routes));
        let nested = nested_roots(set, &groups, at);
        let (done, output) = run_group(&ctx, group, nested, selected, &mut ledger, plan, sink);
        for s in done {
            summary.exit = summary.exit.and(s.exit);
            summary.policies.push(s);
        }
        if let Err(e) = output {
            summary.exit = summary.exit.and(if e.kind() == std::io::ErrorKind::BrokenPipe {
                Exit::Interrupted(13)
            } else {
                sink.diagnostic(Level::Error, None, &format!("cannot write the report: {e}"));
                Exit::Internal
            });
            return summary;
        }
        let sig = opts.signal.load(Ordering::SeqCst);
        if sig != 0 {
            summary.exit = summary.exit.and(Exit::Interrupted(i32::try_from(sig).unwrap_or(15)));
            sink.diagnostic(Level::Error, None, &format!("interrupted by signal {sig}; stopped at the next file"));
            return summary;
        }
    }
    // Every policy of the run has been walked: each one's room can now subtract what the
    // others on its filesystem will hold.
    let outlooks: Vec<_> = summary.policies.iter().map(|p| p.outlook).collect();
    let forecasts = forecast::settle(&outlooks, |dev| ledger.used.get(&dev).map(|u| u.0));
    for (p, f) in summary.policies.iter_mut().zip(forecasts) {
        p.forecast = f;
    }
    summary
}

/// What every root's run shares.
pub(crate) struct Ctx<'a> {
    set: &'a PolicySet,
    opts: &'a RunOptions<'a>,
    system: &'a SystemDirs,
    open: Option<&'a OpenFiles>,
    budget: Budget,
}

/// A plan's arrivals: those planned so far, and where moves land.
type Plan<'a, 'p> = (&'a mut PlannedArrivals, &'a Routes<'p>);

/// Runs the policies at one root. Returns the selected members' summaries, and the
/// state of the output (an error stops the run).
fn run_group<'p>(
    ctx: &Ctx<'p>,
    group: &Group,
    nested: NestedRoots<'p>,
    selected: &[bool],
    ledger: &mut Ledger,
    mut plan: Option<Plan<'_, 'p>>,
    sink: &mut dyn Sink,
) -> (Vec<PolicySummary>, std::io::Result<()>) {
    let started = Instant::now();
    let opts = ctx.opts;
    let apply = opts.mode == Mode::Apply;
    let (mut members, cutoffs, nows) = members(ctx, group, selected);
    let max_delete = |m: &Member| opts.max_delete.unwrap_or(m.policy.max_delete);
    let mut out = Ok(());
    for (m, cutoff) in members.iter().zip(&cutoffs) {
        if m.selected && out.is_ok() {
            out = sink.policy_start(&PolicyStart {
                policy: m.policy,
                cutoff,
                max_delete: max_delete(m),
                lifted: opts.max_delete == Some(None) && m.policy.max_delete.is_some(),
            });
        }
    }
    let root_path = {
        let mut p = group.root.as_os_str().as_bytes().to_vec();
        while p.len() > 1 && p.ends_with(b"/") {
            p.pop();
        }
        p
    };

    let object = members.first().and_then(|m| m.policy.object.as_ref());
    let root = match Root::open(&group.root, object) {
        Ok(r) => Some(r),
        Err(message) => {
            for m in members.iter_mut().filter(|m| m.selected) {
                m.summary.files.add(Action::Error, 1);
                m.summary.problems.push(summary::Problem::Root(message.clone()));
                if out.is_ok() {
                    let path = group.root.as_os_str().as_bytes();
                    out = sink.error(&ErrorEvent { policy: &m.policy.name, path, rel: b"", message: &message });
                }
            }
            None
        }
    };

    let mut before = None;
    if let Some(root) = &root {
        decide::before_walking(ctx, &mut members, root);
        decide::open_archives(ctx, &mut members, root, apply, sink);
        before = root.statvfs().map(|s| {
            let used = s.f_blocks.saturating_sub(s.f_bfree).saturating_mul(s.f_frsize);
            (s.f_bavail.saturating_mul(s.f_frsize), s.f_favail, used)
        });
        let now = opts.now.resolve(&clock::Zone::utc()).timestamp();
        let scale = scale::prepare(&mut members, root, apply, opts.shard, now, sink);
        // A system directory is not even read: its plan is the refusal. Nor is a bucket
        // whose inventory report or lease failed.
        let dangerous = scale.stop
            || members
                .iter()
                .any(|m| m.summary.refused.as_ref().is_some_and(|r| r.guard() == crate::guard::Guard::DangerousRoot));
        // A plan from a report always counts: the counting walk reads the report and
        // notes where the plan acts, which the acting walk lists live.
        let counts = !dangerous
            && members.iter().any(|m| {
                m.selected
                    && !m.refused
                    && (apply
                        // What a plan moves into a later root is noted as it goes: a table
                        // found late must not refuse the policy after its moves were noted.
                        || m.policy.tiers.archive.is_some()
                        || m.policy.keep_last > 0
                        || max_delete(m).is_some()
                        || m.policy.on_unmatched == OnUnmatched::Refuse
                        || m.policy.capacity.any()
                        || m.policy.tiers.thin.any()
                        || scale.report.is_some())
            });
        let mut cohort = Cohort::new(members, nested, root.id(), ctx.open);
        cohort.shard = opts.shard;
        cohort.live = scale.report.as_ref().map(|_| scale::Live::default());
        let (listing, acting_listing) = match &scale.report {
            Some(r) => (Listing::Report(r), Listing::Mixed(r)),
            None => (Listing::Live, Listing::Live),
        };
        if counts && out.is_ok() {
            let from = plan.as_ref().map(|(a, r)| (&**a, r.current()));
            count(ctx, &mut cohort, root, &root_path, (&cutoffs, &nows), ledger, from, listing);
            for m in cohort.members.iter().filter(|m| m.selected) {
                sink.decided(&m.policy.name, m.classifier.overrides());
            }
            // What capacity deletes for space goes whole: every directory below it is live.
            if let Some(live) = cohort.live.as_mut() {
                for m in cohort.members.iter().filter(|m| m.selected && !m.refused) {
                    for (_, place) in m.summary.capacity.iter().flat_map(|c| c.decision.chosen.iter()) {
                        live.add_below(place);
                    }
                }
            }
        }
        if out.is_ok() && !dangerous {
            let acting = apply && cohort.members.iter().any(|m| m.selected && !m.refused);
            let rates: Vec<Rate> = opts
                .max_rate
                .into_iter()
                .chain(cohort.members.iter().filter(|m| m.selected).filter_map(|m| m.policy.max_rate))
                .collect();
            let arrivals = plan.as_mut().map(|(a, r)| (&mut **a, *r));
            let mut w = Acting::new(&mut cohort, sink, apply, &root_path, opts.signal, arrivals);
            w.halt = scale.halt();
            let mode = if acting { Mode::Apply } else { Mode::Plan };
            let options =
                WalkOptions { mode, stat: true, budget: ctx.budget, jobs: opts.jobs, listing: acting_listing };
            let pacer = Pacer::new(&rates);
            let deleting = Instant::now();
            root.walk(options, &pacer, opts.signal, &mut w);
            let took = deleting.elapsed();
            w.finish();
            out = w.output.take().map_or(Ok(()), Err);
            if acting {
                for m in cohort.members.iter_mut().filter(|m| m.selected) {
                    m.summary.deleting = Some(took);
                }
            }
        }
        let live = cohort.live.as_ref().map_or(0, scale::Live::count);
        members = cohort.members;
        scale::finish(scale, &mut members, root, live);
    }

    let mut done = Vec::new();
    for (m, now) in members.into_iter().zip(&nows).filter(|(m, _)| m.selected) {
        let limit = max_delete(&m);
        let mut s = close::summary(m, limit, root.as_ref(), before, apply, ctx.open, now.timestamp(), ledger);
        s.duration = started.elapsed();
        sink.closed(&s);
        if out.is_ok() {
            out = sink.policy_end(&s);
        }
        done.push(s);
    }
    (done, out)
}

/// The members of a group: each policy with its classifier, cutoff and now.
fn members<'p>(
    ctx: &Ctx<'p>,
    group: &Group,
    selected: &[bool],
) -> (Vec<Member<'p>>, Vec<clock::Cutoff>, Vec<chrono::DateTime<chrono_tz::Tz>>) {
    let mut members = Vec::new();
    let mut cutoffs = Vec::new();
    let mut nows = Vec::new();
    for &i in &group.members {
        let policy = &ctx.set.policies[i];
        let now = ctx.opts.now.resolve(&policy.zone);
        nows.push(now);
        let cutoff = clock::cutoff(policy.keep, now, &policy.calendar);
        let classifier = Classifier::new(policy, &cutoff, now, ctx.open);
        let mut m = Member::new(policy, classifier, selected.get(i).copied().unwrap_or(false));
        m.summary.cutoff = Some((cutoff.rfc3339(), cutoff.timestamp()));
        m.summary.on_unmatched = policy.on_unmatched;
        if let Some(MaxDelete::Auto { factor }) = ctx.opts.max_delete.unwrap_or(policy.max_delete) {
            let past = match ctx.opts.history {
                Some(h) => h.of(&policy.name, &auto::root_key(&policy.root)),
                None => Err("no state directory was read"),
            };
            let basis = auto::assess(factor, past);
            m.summary.auto = Some(AutoReport { factor, basis: basis.clone(), would: None });
            m.auto = Some(basis);
        }
        if policy.object.is_none() {
            m.recent = Some(Recent::new(now.timestamp()));
        }
        m.summary.shard = ctx.opts.shard.map(|sh| summary::ShardTotals {
            index: sh.index(),
            count: sh.count(),
            files: summary::Buckets::default(),
            bytes: summary::Buckets::default(),
        });
        members.push(m);
        cutoffs.push(cutoff);
    }
    (members, cutoffs, nows)
}

/// The counting walk, and what the whole-policy decisions make of it for each member
/// (`keep_last`, thinning, capacity, and the refusals).
#[allow(clippy::too_many_arguments)]
fn count<'p>(
    ctx: &Ctx<'p>,
    cohort: &mut Cohort<'p>,
    root: &Root,
    root_path: &[u8],
    (cutoffs, nows): (&[clock::Cutoff], &[chrono::DateTime<chrono_tz::Tz>]),
    ledger: &Ledger,
    arrivals: Option<(&PlannedArrivals, usize)>,
    listing: Listing,
) {
    let opts = ctx.opts;
    // Names are enough to count, unless a policy needs sizes or times (`max_delete:
    // auto` weighs the bytes to delete too).
    let stat = cohort.members.iter().any(|m| {
        !m.policy.min_age.is_zero()
            || m.policy.date_from == DateFrom::Mtime
            || m.policy.capacity.any()
            || (m.selected && m.auto.is_some())
    });
    for m in cohort.members.iter_mut().filter(|m| m.selected) {
        if m.policy.keep_last > 0 {
            m.newest = Some(Newest::new(m.policy.keep_last));
        }
        if m.policy.capacity.any() || m.policy.tiers.thin.any() {
            m.census = Some(Census::default());
        }
    }
    let mut w = Counting::new(cohort, arrivals, root_path, opts.signal);
    let options = WalkOptions { mode: Mode::Plan, stat, budget: ctx.budget, jobs: opts.jobs, listing };
    root.walk(options, &Pacer::default(), opts.signal, &mut w);
    // Policies without capacity targets first: what they delete is settled, and the
    // policies with targets (in load order) count it, as the filesystem will once the
    // walk is done; each of those counts what the earlier ones delete for space too.
    let order: Vec<usize> = (0..cohort.members.len())
        .filter(|&i| !cohort.members[i].policy.capacity.any())
        .chain((0..cohort.members.len()).filter(|&i| cohort.members[i].policy.capacity.any()))
        .collect();
    for i in order {
        let beside = cohort.members.iter().enumerate().filter(|(j, o)| *j != i && o.selected && !o.refused).fold(
            (0, 0),
            |(b, n), (_, o)| {
                let space = o.summary.capacity.as_ref().map_or((0, 0), |c| (c.decision.freed, c.decision.files));
                (b + o.planned.freed + space.0, n + o.planned.delete + space.1)
            },
        );
        let m = &mut cohort.members[i];
        let limit = opts.max_delete.unwrap_or(m.policy.max_delete);
        decide::after_counting(m, &cutoffs[i], limit, root, ledger, beside, nows[i]);
    }
}

/// Other policies' roots this group's walks must not enter: those spelled inside its
/// root (by relative path and identity), and every other root by identity alone, so a
/// root reached through a symlink or a bind mount is nested exactly as if spelled so.
fn nested_roots<'p>(set: &'p PolicySet, groups: &[(Group, Option<DirId>)], at: usize) -> NestedRoots<'p> {
    let (group, own) = &groups[at];
    groups
        .iter()
        .enumerate()
        .filter(|(i, (_, id))| *i != at && (id.is_none() || id != own))
        .filter_map(|(_, (g, id))| {
            let rel = g.root.strip_prefix(&group.root).ok().map(|r| r.as_os_str().as_bytes().to_vec());
            let rel = rel.filter(|r| !r.is_empty());
            (rel.is_some() || id.is_some()).then(|| (rel, *id, set.policies[g.members[0]].name.as_str()))
        })
        .collect()
}

/// The run's roots, by identity: each group's root opened once (as root, without
/// following an unsafe symlink) for its device and inode, and groups whose roots are
/// the same directory however spelled merged into one, in run order: their policies
/// share that root exactly as if it were spelled the same way.
fn identify(set: &PolicySet) -> Vec<(Group, Option<DirId>)> {
    let mut out: Vec<(Group, Option<DirId>)> = Vec::new();
    for g in set.groups() {
        let local = set.policies[g.members[0]].object.is_none();
        let id = local
            .then(|| crate::tree::local::resolve::open_dir(&g.root).ok())
            .flatten()
            .and_then(|fd| rustix::fs::fstat(&fd).ok())
            .map(|st| DirId { dev: st.st_dev, ino: st.st_ino });
        match out.iter_mut().find(|(_, other)| id.is_some() && *other == id) {
            Some((same, _)) => {
                same.members.extend(g.members);
                same.members.sort_unstable();
            }
            None => out.push((g, id)),
        }
    }
    out
}
