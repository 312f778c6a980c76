//! Layout templates: compile once, then match paths one component at a time.
//!
//! A layout is a `/`-separated template relative to a policy's root (`%Y-%m-%d/**`,
//! `dt=%Y-%m-%d/hour=%H/*`, `ticker_%Y%m%d.csv`). The walk descends one directory at a
//! time, so matching is incremental: a [`Cursor`] holds every place the layouts could be
//! after the directories seen so far, computed once per directory and shared by all the
//! files in it. A file then costs one small comparison per live state; under a trailing
//! `**` whose date is already known it costs none (see [`Cursor::settled`]).
//!
//! Layouts come from policy files, which come from pull requests, so a layout is bounded
//! where its cost grows: its length ([`MAX_LEN`]), its components ([`MAX_COMPONENTS`]),
//! its brace nesting ([`MAX_BRACE_DEPTH`]), its `**` components ([`MAX_GLOBSTARS`]), and
//! the layouts of one policy ([`MAX_LAYOUTS`]).

mod building;
mod compile;
pub mod fields;

use std::fmt;
use std::sync::Arc;

use building::Building;
pub use compile::Component;
use fields::{Captured, FieldSet};

use crate::clock::Precision;
use regex::bytes::CaptureLocations;

/// The longest layout, in bytes. Compiling costs time in proportion to the text (a `?`
/// is a small UTF-8 automaton), and real layouts are a few dozen bytes.
pub const MAX_LEN: usize = 256;
/// The most components (`/`-separated parts) in one layout.
pub const MAX_COMPONENTS: usize = 64;
/// The deepest nesting of `{...}` alternatives; the compiler recurses once per level.
pub const MAX_BRACE_DEPTH: usize = 32;
/// The most `**` components in one layout (after `**/**` is merged into `**`). A field
/// after a `**` can match at any depth, and each further `**` multiplies the places a
/// path can stand in the layout by the depth; two keep that linear in the depth.
pub const MAX_GLOBSTARS: usize = 2;
/// The most layouts in one policy.
pub const MAX_LAYOUTS: usize = 64;

/// One compiled layout template.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    components: Vec<Component>,
    /// The text of each component, for messages and examples (shared: `trace` copies
    /// templates).
    parts: Arc<[String]>,
    precision: Option<Precision>,
}

/// Why a template does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Template {
    /// Compiles a template. Fields are optional here; whether a layout needs them depends
    /// on the policy's `date_from`, which the policy loader checks.
    pub fn compile(source: &str) -> Result<Template, TemplateError> {
        if source.is_empty() {
            return Err(TemplateError("empty layout".into()));
        }
        if source.len() > MAX_LEN {
            return Err(TemplateError(format!("{} bytes long; a layout is at most {MAX_LEN} bytes", source.len())));
        }
        if source.starts_with('/') {
            return Err(TemplateError("a layout is relative to the root; remove the leading `/`".into()));
        }
        let mut fields = FieldSet::default();
        let mut components = Vec::new();
        let mut parts: Vec<String> = Vec::new();
        for part in split_components(source).map_err(TemplateError)? {
            // `**/**` matches what `**` matches; one state instead of two per directory.
            if part == "**" && parts.last().is_some_and(|p| p == "**") {
                continue;
            }
            if components.len() == MAX_COMPONENTS {
                return Err(TemplateError(format!("more than {MAX_COMPONENTS} components")));
            }
            components.push(compile::component(&part, &mut fields).map_err(TemplateError)?);
            parts.push(part);
        }
        let globstars = components.iter().filter(|c| matches!(c, Component::Globstar)).count();
        if globstars > MAX_GLOBSTARS {
            return Err(TemplateError(format!(
                "{globstars} `**` components; a layout has at most {MAX_GLOBSTARS} (each one after a date field multiplies the work per directory)"
            )));
        }
        let precision = if fields.is_empty() { None } else { Some(fields.precision().map_err(TemplateError)?) };
        Ok(Template { source: source.to_string(), components, parts: parts.into(), precision })
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The partition period's length, or `None` for a plain glob (no date fields).
    pub fn precision(&self) -> Option<Precision> {
        self.precision
    }

    /// A path below the root that this template matches, dated `date` (its last
    /// component named `file` when that is a bare `*` or `**`), if one can be made.
    pub fn example(&self, date: chrono::NaiveDateTime, file: &str) -> Option<String> {
        let parts: Vec<String> = self
            .parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let last = i + 1 == self.components.len();
                if last && (p == "*" || p == "**") { file.to_string() } else { compile::example(p, date) }
            })
            .collect();
        let path = parts.join("/");
        let single = Layouts { templates: vec![self.clone()] };
        let comps: Vec<&[u8]> = path.split('/').map(str::as_bytes).collect();
        single.trace(&comps).matched.map(|_| path)
    }
}

/// Splits on `/` outside braces; a `/` inside `{...}` is an error, since alternatives
/// would then span components, and so is nesting braces more than [`MAX_BRACE_DEPTH`]
/// deep.
fn split_components(source: &str) -> Result<Vec<String>, String> {
    let mut parts = vec![String::new()];
    let mut depth = 0usize;
    let mut escaped = false;
    for c in source.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '{' => {
                depth += 1;
                if depth > MAX_BRACE_DEPTH {
                    return Err(format!("`{{...}}` nested more than {MAX_BRACE_DEPTH} levels deep"));
                }
            }
            '}' => depth = depth.saturating_sub(1),
            '/' if depth > 0 => return Err("`/` inside `{...}`: alternatives cannot span directories".into()),
            '/' => {
                parts.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = parts.last_mut() {
            last.push(c);
        }
    }
    if parts.last().is_some_and(|p| p.is_empty()) && parts.len() > 1 {
        return Err("a layout cannot end with `/`; use `dir/**` for everything inside a directory".into());
    }
    Ok(parts)
}

/// A policy's layouts in order: the first that matches a path wins.
#[derive(Debug, Clone)]
pub struct Layouts {
    templates: Vec<Template>,
}

/// Where one layout stands after some directories: the next component to match and the
/// fields captured so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct State {
    layout: u16,
    component: u16,
    captured: Captured,
}

/// Every live state after the directories from the root to some directory, in layout
/// order. Computed once per directory.
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    states: Vec<State>,
}

impl Cursor {
    /// True when no layout can match anything below this directory.
    pub fn is_dead(&self) -> bool {
        self.states.is_empty()
    }
}

/// A path matched a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Index of the layout in the policy.
    pub layout: usize,
    /// The captured fields.
    pub captured: Captured,
}

/// Reusable capture buffers, one per pattern component, so matching does not allocate.
#[derive(Debug)]
pub struct Scratch {
    locs: Vec<Vec<Option<CaptureLocations>>>,
}

impl Layouts {
    /// Wraps compiled templates: at most [`MAX_LAYOUTS`] (each has at most
    /// [`MAX_COMPONENTS`] components, so both fit a [`State`]).
    pub fn new(templates: Vec<Template>) -> Result<Layouts, String> {
        if templates.len() > MAX_LAYOUTS {
            return Err(format!("{} layouts; a policy has at most {MAX_LAYOUTS}", templates.len()));
        }
        Ok(Layouts { templates })
    }

    /// The templates, in order.
    pub fn templates(&self) -> &[Template] {
        &self.templates
    }

    /// Fresh capture buffers for this set of layouts.
    pub fn scratch(&self) -> Scratch {
        let locs = self
            .templates
            .iter()
            .map(|t| {
                t.components
                    .iter()
                    .map(|c| match c {
                        Component::Pattern(p) => Some(p.regex.capture_locations()),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        Scratch { locs }
    }

    /// The cursor at the root.
    pub fn start(&self) -> Cursor {
        let mut next = Building::new(self.templates.len());
        for layout in 0..self.templates.len() {
            let layout = u16::try_from(layout).unwrap_or(u16::MAX);
            self.push_closed(&mut next, State { layout, component: 0, captured: Captured::default() });
        }
        self.settle(next)
    }

    /// Adds `s`, and, while it stands before a `**` that is not last, the state after
    /// the `**` too (it may match zero directories).
    fn push_closed(&self, next: &mut Building, mut s: State) {
        let comps = &self.templates[usize::from(s.layout)].components;
        loop {
            next.push(s);
            let i = usize::from(s.component);
            if !(matches!(comps[i], Component::Globstar) && i + 1 < comps.len()) {
                break;
            }
            s.component += 1;
        }
    }

    /// The finished cursor. Under a settled trailing `**` every file matches the first
    /// state, so the others can never be chosen and are dropped: a deep tree below a
    /// dated directory then costs one state per directory, whatever the layouts.
    fn settle(&self, next: Building) -> Cursor {
        let mut cur = Cursor { states: next.states };
        if self.settled(&cur).is_some() {
            cur.states.truncate(1);
        }
        cur
    }

    fn is_last(&self, s: &State) -> bool {
        usize::from(s.component) + 1 == self.templates[usize::from(s.layout)].components.len()
    }

    /// Matches one component against `name`, extending `captured`.
    fn component_matches(&self, s: &State, name: &[u8], scratch: &mut Scratch) -> Option<Captured> {
        let (l, i) = (usize::from(s.layout), usize::from(s.component));
        match &self.templates[l].components[i] {
            Component::Globstar | Component::Any => Some(s.captured),
            Component::Literal(text) => (**text == *name).then_some(s.captured),
            Component::Pattern(p) => {
                if p.groups.is_empty() {
                    return p.regex.is_match(name).then_some(s.captured);
                }
                let locs = scratch.locs.get_mut(l)?.get_mut(i)?.as_mut()?;
                p.regex.captures_read(locs, name)?;
                let mut captured = s.captured;
                for &(group, field) in p.groups.iter() {
                    if let Some((a, b)) = locs.get(group)
                        && !captured.put(field, &name[a..b])
                    {
                        return None;
                    }
                }
                Some(captured)
            }
        }
    }

    /// The cursor for the sub-directory `name` of the directory at `cur`.
    pub fn descend(&self, cur: &Cursor, name: &[u8], scratch: &mut Scratch) -> Cursor {
        let mut next = Building::new(cur.states.len());
        for s in &cur.states {
            let comps = &self.templates[usize::from(s.layout)].components;
            match comps[usize::from(s.component)] {
                // `**` swallows this directory and stays put (its closure adds the next
                // component again).
                Component::Globstar => self.push_closed(&mut next, *s),
                // A last component names files, not directories.
                _ if self.is_last(s) => {}
                _ => {
                    if let Some(captured) = self.component_matches(s, name, scratch) {
                        self.push_closed(&mut next, State { component: s.component + 1, captured, ..*s });
                    }
                }
            }
        }
        self.settle(next)
    }

    /// The first layout that matches the file `name` in the directory at `cur`.
    pub fn match_file(&self, cur: &Cursor, name: &[u8], scratch: &mut Scratch) -> Option<Match> {
        cur.states.iter().filter(|s| self.is_last(s)).find_map(|s| {
            self.component_matches(s, name, scratch).map(|captured| Match { layout: usize::from(s.layout), captured })
        })
    }

    /// When every file at or below the directory at `cur` is bound to match the same
    /// layout with the same fields (the first live state is a trailing `**`), that match.
    /// The caller can then decide once for the whole directory.
    pub fn settled(&self, cur: &Cursor) -> Option<Match> {
        let s = cur.states.first()?;
        let comps = &self.templates[usize::from(s.layout)].components;
        (self.is_last(s) && matches!(comps[usize::from(s.component)], Component::Globstar))
            .then_some(Match { layout: usize::from(s.layout), captured: s.captured })
    }

    /// Matches a whole relative path (for `explain` and policy tests), and for each layout
    /// that does not match, says where it stopped.
    pub fn trace(&self, components: &[&[u8]]) -> Trace {
        let mut misses = Vec::new();
        let (dirs, file) = match components.split_last() {
            Some((file, dirs)) => (dirs, *file),
            None => (&[][..], &b""[..]),
        };
        for (l, t) in self.templates.iter().enumerate() {
            // One layout at a time, so that each miss can be explained on its own.
            let single = Layouts { templates: vec![t.clone()] };
            let mut scratch = single.scratch();
            let mut cur = single.start();
            let mut failed = None;
            for (depth, name) in dirs.iter().enumerate() {
                let next = single.descend(&cur, name, &mut scratch);
                if next.is_dead() {
                    failed = Some(format!(
                        "directory `{}` (component {}) matches no {}",
                        String::from_utf8_lossy(name),
                        depth + 1,
                        single.expected(&cur)
                    ));
                    break;
                }
                cur = next;
            }
            let miss = match failed {
                Some(miss) => miss,
                None => match single.match_file(&cur, file, &mut scratch) {
                    Some(m) => return Trace { matched: Some(Match { layout: l, captured: m.captured }), misses },
                    None => format!("file `{}` matches no {}", String::from_utf8_lossy(file), single.expected(&cur)),
                },
            };
            misses.push((l, miss));
        }
        Trace { matched: None, misses }
    }

    /// The components a cursor's states would accept next, for messages.
    fn expected(&self, cur: &Cursor) -> String {
        let mut want: Vec<String> = Vec::new();
        for s in &cur.states {
            let t = &self.templates[usize::from(s.layout)];
            let part = t.parts.get(usize::from(s.component)).map_or("", String::as_str);
            let text = if self.is_last(s) { format!("`{part}` (last component)") } else { format!("`{part}`") };
            if !want.contains(&text) {
                want.push(text);
            }
        }
        if want.is_empty() { "component (the layout ends before this path does)".into() } else { want.join(" or ") }
    }
}

/// The result of matching a whole path.
#[derive(Debug, Clone)]
pub struct Trace {
    /// The first layout that matched.
    pub matched: Option<Match>,
    /// For each layout tried before it (or all, when none matched): where it stopped.
    pub misses: Vec<(usize, String)>,
}

#[cfg(test)]
mod tests {
    use std::ops::Add;

    use super::*;

    fn layouts(srcs: &[&str]) -> Layouts {
        Layouts::new(srcs.iter().map(|s| Template::compile(s).unwrap()).collect()).unwrap()
    }

    /// Matches a whole path the way the walk does: descend, then match the file.
    fn walk_match(l: &Layouts, path: &str) -> Option<(usize, String)> {
        let mut scratch = l.scratch();
        let parts: Vec<&str> = path.split('/').collect();
        let mut cur = l.start();
        for d in &parts[..parts.len() - 1] {
            cur = l.descend(&cur, d.as_bytes(), &mut scratch);
        }
        let m = l.match_file(&cur, parts.last().unwrap().as_bytes(), &mut scratch)?;
        let p = l.templates()[m.layout].precision();
        let label = p.map(|p| m.captured.resolve(p).map(|d| d.label()).unwrap_or_else(|e| e)).unwrap_or_default();
        Some((m.layout, label))
    }

    #[test]
    fn layout_families() {
        let l = layouts(&[
            "%Y-%m-%d/**",
            "dt=%Y-%m-%d/hour=%H/*",
            "%Y/%m/%d/*.csv",
            "ticker_%Y%m%d.csv",
            "dag_id=*/run_id=*__%Y-%m-%dT*/**",
            "archive/%Y/%m/**",
        ]);
        assert_eq!(walk_match(&l, "2024-07-12/part-1.csv"), Some((0, "2024-07-12".into())));
        assert_eq!(walk_match(&l, "2024-07-12/a/b/c.csv"), Some((0, "2024-07-12".into())));
        assert_eq!(walk_match(&l, "dt=2024-07-12/hour=03/x.parquet"), Some((1, "2024-07-12T03".into())));
        assert_eq!(walk_match(&l, "2024/07/12/x.csv"), Some((2, "2024-07-12".into())));
        assert_eq!(walk_match(&l, "2024/07/12/x.tmp"), None);
        assert_eq!(walk_match(&l, "ticker_20240712.csv"), Some((3, "2024-07-12".into())));
        assert_eq!(
            walk_match(&l, "dag_id=etl/run_id=scheduled__2024-07-11T00:00:00+00:00/task_id=load/attempt=1.log"),
            Some((4, "2024-07-11".into()))
        );
        assert_eq!(walk_match(&l, "archive/2024/02/x/y.gz"), Some((5, "2024-02".into())));
        assert_eq!(walk_match(&l, "staging/x.csv"), None);
        assert_eq!(walk_match(&l, "2024-07-12"), None, "a trailing ** needs something inside");
    }

    #[test]
    fn globstar_matches_zero_or_more_directories() {
        let l = layouts(&["**/%Y%m%d.log"]);
        assert_eq!(walk_match(&l, "20240712.log"), Some((0, "2024-07-12".into())));
        assert_eq!(walk_match(&l, "a/b/c/20240712.log"), Some((0, "2024-07-12".into())));
        let l = layouts(&["logs/**/%Y/**"]);
        assert_eq!(walk_match(&l, "logs/2024/x"), Some((0, "2024".into())));
        assert_eq!(walk_match(&l, "logs/a/b/2023/c/d"), Some((0, "2023".into())));
    }

    #[test]
    fn first_matching_layout_wins() {
        let l = layouts(&["%Y-%m-%d/*.csv", "%Y-%m-%d/**"]);
        assert_eq!(walk_match(&l, "2024-07-12/a.csv").unwrap().0, 0);
        assert_eq!(walk_match(&l, "2024-07-12/a.tmp").unwrap().0, 1);
    }

    #[test]
    fn impossible_dates_match_the_shape() {
        let l = layouts(&["%Y-%m-%d/**"]);
        assert_eq!(walk_match(&l, "2024-02-30/x"), Some((0, "impossible date: 2024-02-30".into())));
        assert_eq!(walk_match(&l, "2024-02-29/x"), Some((0, "2024-02-29".into())));
        assert_eq!(walk_match(&l, "2023-02-29/x"), Some((0, "impossible date: 2023-02-29".into())));
    }

    #[test]
    fn settled_directories_decide_once() {
        let l = layouts(&["%Y-%m-%d/**", "*"]);
        let mut scratch = l.scratch();
        let cur = l.descend(&l.start(), b"2024-07-12", &mut scratch);
        let m = l.settled(&cur).expect("settled");
        assert_eq!(m.layout, 0);
        let cur = l.descend(&l.start(), b"staging", &mut scratch);
        assert!(l.settled(&cur).is_none());
        assert!(cur.is_dead());
    }

    #[test]
    fn non_utf8_and_newline_names_match_globs() {
        let l = layouts(&["%Y-%m-%d/*"]);
        let mut scratch = l.scratch();
        let cur = l.descend(&l.start(), b"2024-07-12", &mut scratch);
        assert!(l.match_file(&cur, b"bad\xffname", &mut scratch).is_some());
        assert!(l.match_file(&cur, b"new\nline", &mut scratch).is_some());
    }

    #[test]
    fn examples_are_paths_the_template_matches() {
        let d = chrono::NaiveDate::from_ymd_opt(2024, 7, 5).unwrap().and_hms_opt(3, 0, 0).unwrap();
        let ex = |s: &str| Template::compile(s).unwrap().example(d, "part-0001.csv");
        assert_eq!(ex("%Y-%m-%d/**").as_deref(), Some("2024-07-05/part-0001.csv"));
        assert_eq!(ex("dt=%Y-%m-%d/hour=%H/*").as_deref(), Some("dt=2024-07-05/hour=03/part-0001.csv"));
        assert_eq!(ex("ticker_%Y%m%d.csv").as_deref(), Some("ticker_20240705.csv"));
        assert_eq!(ex("app.log.%Y-%m-%d{,.gz}").as_deref(), Some("app.log.2024-07-05"));
        assert_eq!(
            ex("dag_id=*/run_id=*__%Y-%m-%dT*/**").as_deref(),
            Some("dag_id=x/run_id=x__2024-07-05Tx/part-0001.csv")
        );
        assert_eq!(ex("logs/**/%Y/[ab]?.log").as_deref(), Some("logs/sub/2024/ax.log"));
    }

    #[test]
    fn template_errors() {
        let err = |s| Template::compile(s).unwrap_err().0;
        assert!(err("/data/%Y").contains("relative"));
        assert!(err("%Y/{a,b/c}").contains("inside `{...}`"));
        assert!(err("%Y-%d/*").contains("%d without %m"));
        assert!(err("%Y/").contains("cannot end with `/`"));
        assert!(err("a//b").contains("empty path component"));
        assert!(Template::compile("*.log").unwrap().precision().is_none());
    }

    #[test]
    fn hostile_layouts_are_refused_with_the_limit() {
        let err = |s: &str| Template::compile(s).unwrap_err().0;
        let nested = format!("{}%Y{}", "{".repeat(MAX_BRACE_DEPTH + 1), "}".repeat(MAX_BRACE_DEPTH + 1));
        assert!(err(&nested).contains("nested more than 32 levels"), "{}", err(&nested));
        let deep = "{".repeat(36_000);
        assert!(err(&deep).contains("at most 256 bytes"));
        let ok = format!("{}%Y{}/**", "{".repeat(MAX_BRACE_DEPTH), "}".repeat(MAX_BRACE_DEPTH));
        assert!(Template::compile(&ok).is_ok());
        assert!(err(&"a/".repeat(MAX_COMPONENTS).add("%Y")).contains("more than 64 components"));
        assert!(err("**/%Y/**/%m/**/*").contains("3 `**` components; a layout has at most 2"));
        // The compiler's own guard, for callers that do not split first.
        let mut fields = FieldSet::default();
        assert!(compile::component(&"{".repeat(100), &mut fields).unwrap_err().contains("nested more than"));
    }

    #[test]
    fn consecutive_globstars_are_one() {
        let t = Template::compile(&"**/".repeat(60).add("%Y/**")).unwrap();
        assert_eq!(t.components.len(), 3);
        let l = Layouts::new(vec![t]).unwrap();
        assert_eq!(walk_match(&l, "a/b/2024/x"), Some((0, "2024".into())));
        assert_eq!(walk_match(&l, "2024/x"), Some((0, "2024".into())));
        let t = l.trace(&[b"a", b"x"]);
        assert!(t.misses[0].1.contains("`%Y`"), "{:?}", t.misses);
    }

    #[test]
    fn live_states_stay_few_on_deep_paths() {
        // Every directory matches the field, each with another value: at most one state
        // per value seen, never one per combination.
        let l = layouts(&["**/%Y/**/%m%d.log"]);
        let mut scratch = l.scratch();
        let mut cur = l.start();
        for i in 0..400 {
            cur = l.descend(&cur, format!("{:04}", 1000 + i).as_bytes(), &mut scratch);
        }
        assert!(cur.states.len() <= 2 * 400 + 2, "{}", cur.states.len());
        assert!(l.match_file(&cur, b"0712.log", &mut scratch).is_some());
        // Under a settled trailing `**`, one state whatever the depth.
        let l = layouts(&["%Y/**", "*/*/%Y/**"]);
        let mut scratch = l.scratch();
        let mut cur = l.descend(&l.start(), b"2024", &mut scratch);
        for _ in 0..100 {
            cur = l.descend(&cur, b"2023", &mut scratch);
        }
        assert_eq!(cur.states.len(), 1);
        assert_eq!(l.settled(&cur).map(|m| m.layout), Some(0));
    }

    #[test]
    fn trace_says_where_matching_stopped() {
        let l = layouts(&["%Y-%m-%d/**", "ticker_%Y%m%d.csv"]);
        let t = l.trace(&[b"staging", b"x.csv"]);
        assert!(t.matched.is_none());
        assert!(t.misses[0].1.contains("directory `staging` (component 1) matches no `%Y-%m-%d`"), "{:?}", t.misses);
        assert!(t.misses[1].1.contains("`ticker_%Y%m%d.csv` (last component)"), "{:?}", t.misses);
        let t = l.trace(&[b"ticker_20240711.csv"]);
        assert_eq!(t.matched.unwrap().layout, 1);
        assert_eq!(t.misses.len(), 1);
    }
}
