//! One policy's keys, a group at a time: who it is, where dates come from, what it
//! keeps, and its guards. Each group reads its keys through [`Lookup`] (the policy's own
//! value, else the file's `defaults`) and reports its problems in the file's context.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;

use super::context::{Ctx, Field, Invalid};
use super::globs::{GlobKind, globs, sample_name};
use super::keys;
use super::yaml::{self, MapEntry, clip};
use super::*;
use crate::clock::calendar::CalendarKind;
use crate::layout::MAX_LAYOUTS;

/// A policy's keys: its own value, else the one in `defaults` (whose problems are
/// reported where it is written).
pub(super) struct Lookup<'n> {
    own: BTreeMap<&'static str, (String, &'n MapEntry)>,
    defaults: &'n BTreeMap<&'static str, (String, &'n MapEntry)>,
}

impl<'n> Lookup<'n> {
    pub(super) fn get(&self, name: &str) -> Option<Field<'_>> {
        self.own.get(name).or_else(|| self.defaults.get(name)).map(|(path, e)| Field { node: &e.value, path })
    }

    /// The parsed value of `name`, or `default` when it is not set; `None` after a problem.
    pub(super) fn or<T, E: Into<Invalid>>(
        &self,
        ctx: &mut Ctx,
        name: &str,
        default: T,
        plain: bool,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        match self.get(name) {
            Some(v) => ctx.value(v, plain, parse),
            None => Some(default),
        }
    }

    /// `true` or `false`.
    pub(super) fn flag(&self, ctx: &mut Ctx, name: &str, default: bool) -> Option<bool> {
        self.or(ctx, name, default, true, value::boolean)
    }

    /// One word of `choices`.
    fn choice<T: Copy>(&self, ctx: &mut Ctx, name: &str, default: T, choices: &[(&str, T)]) -> Option<T> {
        self.or(ctx, name, default, false, |s| {
            choices.iter().find(|(w, _)| *w == s).map(|(_, v)| *v).ok_or_else(|| {
                let words: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
                format!("`{s}`: use {}", words.join(", "))
            })
        })
    }
}

/// One policy, with `defaults` filling what it leaves out.
pub(super) fn policy(
    ctx: &mut Ctx,
    f: Field,
    defaults: &BTreeMap<&'static str, (String, &MapEntry)>,
) -> Option<Policy> {
    let before = ctx.problems.len();
    let entries = ctx.map(f, "a mapping of policy keys")?;
    let keys = Lookup { own: ctx.keys(entries, f.path, keys::POLICY), defaults };
    for k in keys::POLICY.iter().filter(|k| k.required) {
        if keys.get(k.name).is_none() {
            ctx.problem(
                Code::MissingKey,
                &yaml::key_path(f.path, k.name),
                f.node.mark,
                format!("missing key `{}`", k.name),
            );
        }
    }
    let name = keys.get("name").and_then(|v| ctx.value(v, false, valid_name));
    let root = keys.get("root").and_then(|v| ctx.value(v, false, valid_root));
    let dates = dates(ctx, &keys);
    let layouts = layouts(ctx, &keys, dates.as_ref().map(|d| d.date_from));
    let keep = keys.get("keep").and_then(|v| ctx.value(v, false, value::unit(Keep::parse)));
    let keep_last = keys.or(ctx, "keep_last", 0, true, value::count);
    let guards = guards(ctx, &keys);
    let capacity = capacity(ctx, &keys);
    let expect_fresh = keys.or(ctx, "expect_fresh", None, false, value::unit(|s| value::days_or_hours(s).map(Some)));
    let max_rate = keys.or(ctx, "max_rate", None, false, value::unit(|s| value::Rate::parse(s).map(Some)));
    let tiers = tiers(ctx, &keys).map(Some);
    let object = root.as_deref().and_then(|r| object::ObjectRoot::parse(r.to_str()?)).and_then(Result::ok);
    if let Some(o) = &object {
        // What means nothing without a local filesystem is an error, not ignored.
        for k in keys::POLICY.iter().filter(|k| !k.object_root) {
            if let Some(v) = keys.get(k.name) {
                ctx.problem(
                    Code::Conflict,
                    v.path,
                    v.node.mark,
                    format!("`{}` means nothing on an object storage root ({o}): remove it", k.name),
                );
            }
        }
    }
    let at_scale = object::at_scale(ctx, &keys, object.as_ref(), root.is_some());
    if let (Some(keep), Some(Some(t)), Some(root), Some(l)) = (&keep, &tiers, &root, &layouts) {
        check_tiers(ctx, &keys, t, *keep, root, l);
    }
    if ctx.problems.len() > before {
        return None;
    }
    let (dates, guards) = (dates?, guards?);
    Some(Policy {
        name: name?,
        origin: ctx.origin(f.node.mark),
        root: root?,
        object,
        layouts: layouts?,
        keep: keep?,
        keep_last: keep_last?,
        exclude: guards.exclude,
        markers: guards.markers,
        min_age: guards.min_age,
        max_delete: guards.max_delete,
        on_unmatched: guards.on_unmatched,
        skip_open: guards.skip_open,
        remove_empty_dirs: guards.remove_empty_dirs,
        one_file_system: guards.one_file_system,
        disk_fail_above: guards.disk_fail_above,
        capacity: capacity?,
        expect_fresh: expect_fresh?,
        max_rate: max_rate?,
        tiers: tiers??,
        at_scale: at_scale?,
        max_future: dates.max_future,
        min_date: dates.min_date,
        date_from: dates.date_from,
        zone: dates.zone,
        calendar: dates.calendar,
    })
}

/// Where dates come from and which are believable.
struct Dates {
    date_from: DateFrom,
    zone: Zone,
    calendar: Calendar,
    min_date: NaiveDate,
    max_future: Duration,
}

fn dates(ctx: &mut Ctx, keys: &Lookup) -> Option<Dates> {
    let date_from =
        keys.choice(ctx, "date_from", DateFrom::Path, &[("path", DateFrom::Path), ("mtime", DateFrom::Mtime)]);
    let zone = match keys.get("timezone") {
        Some(v) => ctx.value(v, false, Zone::parse),
        None => Zone::parse("local").ok(),
    };
    let kind = keys.choice(
        ctx,
        "calendar",
        CalendarKind::Weekdays,
        &[("weekdays", CalendarKind::Weekdays), ("nyse", CalendarKind::Nyse)],
    );
    let mut holidays = Some(Vec::new());
    if let Some(v) = keys.get("holidays") {
        holidays = ctx.list(v).map(|items| {
            items.into_iter().filter_map(|(p, n)| ctx.value(Field { node: n, path: &p }, false, value::date)).collect()
        });
    }
    let min_date = keys.or(ctx, "min_date", NaiveDate::from_ymd_opt(2000, 1, 1)?, false, value::date);
    let max_future = keys.or(ctx, "max_future", Duration::from_secs(86400), false, value::unit(value::days_or_hours));
    Some(Dates {
        date_from: date_from?,
        zone: zone?,
        calendar: Calendar::new(kind?, holidays?),
        min_date: min_date?,
        max_future: max_future?,
    })
}

/// The layouts, checked against where dates come from.
fn layouts(ctx: &mut Ctx, keys: &Lookup, date_from: Option<DateFrom>) -> Option<Layouts> {
    let v = keys.get("layouts")?;
    let items = ctx.list(v)?;
    if items.is_empty() {
        ctx.problem(Code::MissingKey, v.path, v.node.mark, "at least one layout is required");
    }
    if items.len() > MAX_LAYOUTS {
        ctx.problem(
            Code::TooMany,
            v.path,
            v.node.mark,
            format!("{} layouts; a policy has at most {MAX_LAYOUTS}", items.len()),
        );
        return None;
    }
    let mut templates = Vec::new();
    for (p, n) in items {
        let Some(src) = ctx.text(Field { node: n, path: &p }, false) else { continue };
        let shown = clip(src);
        match ctx.template(src) {
            Ok(t) => {
                match (date_from, t.precision().is_some()) {
                    (Some(DateFrom::Path), false) => ctx.problem(
                        Code::BadLayout,
                        &p,
                        n.mark,
                        format!("`{shown}` has no date fields (%Y, %m, %d, ...), but date_from is path; add fields or set date_from: mtime"),
                    ),
                    (Some(DateFrom::Mtime), true) => ctx.problem(
                        Code::BadLayout,
                        &p,
                        n.mark,
                        format!("`{shown}` has date fields, but date_from is mtime: dates come from the files' mtimes; remove the fields or use date_from: path"),
                    ),
                    _ => {}
                }
                templates.push(t);
            }
            Err(e) => ctx.problem(Code::BadLayout, &p, n.mark, format!("`{shown}`: {e}")),
        }
    }
    Layouts::new(templates).map_err(|e| ctx.problem(Code::BadLayout, v.path, v.node.mark, e)).ok()
}

/// Space and size targets.
fn capacity(ctx: &mut Ctx, keys: &Lookup) -> Option<Capacity> {
    let min_free = keys.or(ctx, "min_free", None, false, value::unit(|s| value::free_space(s).map(Some)));
    let min_free_inodes =
        keys.or(ctx, "min_free_inodes", None, false, value::unit(|s| value::free_inodes(s).map(Some)));
    let max_bytes = keys.or(ctx, "max_bytes", None, false, value::unit(|s| value::size(s).map(Some)));
    let one_day = Keep::parse("1d").ok()?;
    let keep_min = keys.or(ctx, "keep_min", one_day, false, value::unit(Keep::parse));
    // Capacity deletes kept data for space; how much of it stays, whatever fills the
    // filesystem, must be written down, not defaulted.
    let targets = ["min_free", "min_free_inodes", "max_bytes"].into_iter().find_map(|k| keys.get(k));
    if let Some(t) = targets
        && keys.get("keep_min").is_none()
    {
        let target = t.path.rsplit('.').next().unwrap_or(t.path);
        ctx.problem(
            Code::MissingKey,
            t.path,
            t.node.mark,
            format!(
                "`{target}` needs `keep_min`: the newest data capacity may never delete, however full the filesystem gets (e.g. keep_min: 2d)"
            ),
        );
    }
    Some(Capacity {
        min_free: min_free?,
        min_free_inodes: min_free_inodes?,
        max_bytes: max_bytes?,
        keep_min: keep_min?,
    })
}

/// Thinning, compression, archiving.
fn tiers(ctx: &mut Ctx, keys: &Lookup) -> Option<Tiers> {
    let thin = Thin {
        daily: keys.or(ctx, "keep_daily", 0, true, value::count)?,
        weekly: keys.or(ctx, "keep_weekly", 0, true, value::count)?,
        monthly: keys.or(ctx, "keep_monthly", 0, true, value::count)?,
        yearly: keys.or(ctx, "keep_yearly", 0, true, value::count)?,
    };
    let compress = match keys.get("compress") {
        None => None,
        Some(f) => {
            let entries = ctx.map(f, "a mapping with after, format and level")?;
            let k = ctx.keys(entries, f.path, keys::COMPRESS);
            let field = |name: &str| k.get(name).map(|(p, e)| Field { node: &e.value, path: p.as_str() });
            let missing = |ctx: &mut Ctx, name: &str| {
                ctx.problem(
                    Code::MissingKey,
                    &yaml::key_path(f.path, name),
                    f.node.mark,
                    format!("missing key `{name}`"),
                );
                None
            };
            let after = match field("after") {
                Some(v) => ctx.value(v, false, value::unit(Keep::parse)),
                None => missing(ctx, "after"),
            };
            let format = match field("format") {
                None => Some(Format::Zstd),
                Some(v) => ctx.value(v, false, |s| match s {
                    "zstd" => Ok(Format::Zstd),
                    "gzip" => Ok(Format::Gzip),
                    _ => Err(format!("`{s}`: use zstd or gzip")),
                }),
            };
            let level = match field("level") {
                None => Some(3),
                Some(v) => ctx.value(v, true, value::count),
            };
            let (after, format, level) = (after?, format?, level?);
            let max = if format == Format::Zstd { 19 } else { 9 };
            if !(1..=max).contains(&level) {
                let at = field("level").map_or(f.node.mark, |v| v.node.mark);
                ctx.problem(
                    Code::BadValue,
                    &yaml::key_path(f.path, "level"),
                    at,
                    format!("`{level}`: the level is 1 to {max}"),
                );
                return None;
            }
            Some(Compress { after, format, level })
        }
    };
    let archive = match keys.get("archive") {
        None => None,
        Some(f) => {
            let entries = ctx.map(f, "a mapping with after and to")?;
            let k = ctx.keys(entries, f.path, keys::ARCHIVE);
            let field = |name: &str| k.get(name).map(|(p, e)| Field { node: &e.value, path: p.as_str() });
            let after = match field("after") {
                Some(v) => ctx.value(v, false, value::unit(Keep::parse)),
                None => {
                    ctx.problem(Code::MissingKey, &yaml::key_path(f.path, "after"), f.node.mark, "missing key `after`");
                    None
                }
            };
            let to = match field("to") {
                Some(v) => ctx.value(v, false, valid_root),
                None => {
                    ctx.problem(Code::MissingKey, &yaml::key_path(f.path, "to"), f.node.mark, "missing key `to`");
                    None
                }
            };
            Some(Archive { after: after?, to: to? })
        }
    };
    Some(Tiers { thin, compress, archive })
}

/// A retention's nominal length in hours, to compare `after` with `keep`.
fn nominal_hours(k: Keep) -> f64 {
    let n = f64::from(k.count.get());
    match k.unit {
        crate::clock::KeepUnit::Hours => n,
        crate::clock::KeepUnit::Days => n * 24.0,
        crate::clock::KeepUnit::BusinessDays => n * 24.0 * 7.0 / 5.0,
    }
}

/// The rules that span tiers and the rest of the policy.
fn check_tiers(ctx: &mut Ctx, keys: &Lookup, t: &Tiers, keep: Keep, root: &Path, layouts: &Layouts) {
    let place = |name: &str| keys.get(name).map(|f| (f.path.to_string(), f.node.mark));
    if let (Some(c), Some((path, mark))) = (&t.compress, place("compress")) {
        if nominal_hours(c.after) >= nominal_hours(keep) {
            ctx.problem(
                Code::Conflict,
                &yaml::key_path(&path, "after"),
                mark,
                format!(
                    "`{}` is not shorter than keep `{keep}`: files would expire before they are compressed",
                    c.after
                ),
            );
        }
        // The compressed names must still be the policy's: a layout must match them.
        let date = NaiveDate::from_ymd_opt(2024, 7, 5).and_then(|d| d.and_hms_opt(3, 0, 0));
        for tpl in layouts.templates() {
            let Some(example) = date.and_then(|d| tpl.example(d, "part-0001.csv")) else { continue };
            // Names that are compressed already are never compressed again.
            if crate::policy::COMPRESSED.iter().any(|s| example.ends_with(s)) {
                continue;
            }
            let zipped = format!("{example}{}", c.format.suffix());
            let parts: Vec<&[u8]> = zipped.split('/').map(str::as_bytes).collect();
            if layouts.trace(&parts).matched.is_none() {
                ctx.problem(
                    Code::Conflict,
                    &path,
                    mark,
                    format!(
                        "compressed names such as `{zipped}` match no layout: add one (e.g. `{}{{,{}}}`), or the files would be unmatched once compressed",
                        tpl.source(),
                        c.format.suffix()
                    ),
                );
                break;
            }
        }
    }
    if let (Some(a), Some((path, mark))) = (&t.archive, place("archive")) {
        if nominal_hours(a.after) >= nominal_hours(keep) {
            ctx.problem(
                Code::Conflict,
                &yaml::key_path(&path, "after"),
                mark,
                format!("`{}` is not shorter than keep `{keep}`: files would expire before they are archived", a.after),
            );
        }
        if a.to.starts_with(root) || root.starts_with(&a.to) {
            ctx.problem(
                Code::Conflict,
                &yaml::key_path(&path, "to"),
                mark,
                format!(
                    "`{}` and the root {} contain one another: the archive must be outside the root",
                    a.to.display(),
                    root.display()
                ),
            );
        }
        if super::is_system_dir(&a.to) {
            ctx.problem(
                Code::DangerousRoot,
                &yaml::key_path(&path, "to"),
                mark,
                format!("`{}` is a system directory", a.to.display()),
            );
        }
    }
}

/// What keeps files a plain age rule would delete, and what refuses a whole policy.
struct Guards {
    exclude: Globs,
    markers: Globs,
    min_age: Duration,
    max_delete: Option<MaxDelete>,
    on_unmatched: OnUnmatched,
    skip_open: bool,
    remove_empty_dirs: bool,
    one_file_system: bool,
    disk_fail_above: Option<Share>,
}

fn guards(ctx: &mut Ctx, keys: &Lookup) -> Option<Guards> {
    let exclude = keys.get("exclude").map_or_else(|| Some(Globs::default()), |v| globs(ctx, v, GlobKind::Exclude));
    let markers = keys.get("markers").map_or_else(|| Some(Globs::default()), |v| globs(ctx, v, GlobKind::Marker));
    if let (Some(ex), Some(mk), Some(v)) = (&exclude, &markers, keys.get("markers")) {
        // An excluded marker always stays, and a marker that stays keeps its partition:
        // every partition would be kept forever.
        for m in mk.patterns() {
            let name = sample_name(m);
            let hit = ["", "d/", "d/e/"].iter().find_map(|dir| ex.matching(Path::new(&format!("{dir}{name}"))));
            if let Some(e) = hit {
                ctx.problem(
                    Code::Conflict,
                    v.path,
                    v.node.mark,
                    format!(
                        "marker `{m}` is also excluded (by `{e}`): an excluded marker always stays, and a marker that stays keeps its partition, so nothing would ever be deleted; remove it from exclude"
                    ),
                );
                break;
            }
        }
    }
    let min_age = keys.or(ctx, "min_age", Duration::ZERO, false, value::unit(value::duration));
    let max_delete = keys.or(ctx, "max_delete", None, false, value::unit(value::max_delete));
    let on_unmatched = keys.choice(
        ctx,
        "on_unmatched",
        OnUnmatched::Fail,
        &[("fail", OnUnmatched::Fail), ("warn", OnUnmatched::Warn), ("refuse", OnUnmatched::Refuse)],
    );
    let skip_open = keys.flag(ctx, "skip_open", true);
    let remove_empty_dirs = keys.flag(ctx, "remove_empty_dirs", true);
    let one_file_system = keys.flag(ctx, "one_file_system", true);
    let disk_fail_above = keys.or(
        ctx,
        "disk_fail_above",
        None,
        false,
        value::unit(|s| {
            let share = value::share(s).ok_or_else(|| format!("`{s}`: write a percentage such as 90%"))?;
            if share.0 <= 0.0 { Err(format!("`{s}`: must be more than 0%")) } else { Ok(Some(share)) }
        }),
    );
    Some(Guards {
        exclude: exclude?,
        markers: markers?,
        min_age: min_age?,
        max_delete: max_delete?,
        on_unmatched: on_unmatched?,
        skip_open: skip_open?,
        remove_empty_dirs: remove_empty_dirs?,
        one_file_system: one_file_system?,
        disk_fail_above: disk_fail_above?,
    })
}

fn valid_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok { Ok(s.to_string()) } else { Err(format!("`{s}`: a name uses only letters, digits, `_`, `.` and `-`")) }
}

fn valid_root(s: &str) -> Result<PathBuf, String> {
    if let Some(o) = object::ObjectRoot::parse(s) {
        return o.map(|o| o.path());
    }
    let p = Path::new(s);
    if !p.is_absolute() {
        return Err(format!("`{s}` is relative; a root must be an absolute path (or s3://, gs://, az://)"));
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!("`{s}` contains `..`; write the directory it means"));
    }
    Ok(p.components().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_and_names() {
        assert!(valid_root("data/x").is_err());
        assert!(valid_root("/data/../etc").is_err());
        assert_eq!(valid_root("/data/x/").unwrap(), PathBuf::from("/data/x"));
        assert!(valid_name("ticker-load.v2_x").is_ok());
        assert!(valid_name("ticker load").is_err());
    }
}
