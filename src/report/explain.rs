//! `sweep explain`'s report: for each path, its owner, layout, date, period, cutoff and
//! decision with its reason, or why nothing matched.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde::Serialize;

use super::json::json_path;
use super::{Printer, display_path, reason};
use crate::act::explain::Decision;
use crate::bucket::Action;

#[derive(Serialize)]
struct ExplainLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_base64: Option<&'a str>,
    decisions: Vec<DecisionJson<'a>>,
}

#[derive(Serialize)]
struct DecisionJson<'a> {
    policy: &'a str,
    origin: String,
    selected: bool,
    directory: bool,
    action: Option<Action>,
    reason: String,
    layout: Option<&'a str>,
    date: Option<&'a str>,
    period: Option<&'a (String, String)>,
    cutoff: String,
    cutoff_basis: String,
    misses: &'a [String],
    notes: &'a [String],
}

fn reason_of(d: &Decision) -> String {
    let why = match (&d.observed, &d.verdict, d.undecided) {
        (Some(o), _, _) => o.reason.clone(),
        (None, _, Some(why)) => why.to_string(),
        (None, Some(v), None) => reason::text(v, &d.facts),
        (None, None, None) => String::new(),
    };
    match (&d.refusal, d.action()) {
        (Some(r), Some(a @ (Action::Delete | Action::Move | Action::Compress))) => {
            format!(
                "would {a}, but the policy is refused: {}: {} (the file alone: {why})",
                r.guard(),
                reason::refusal(r)
            )
        }
        _ => why,
    }
}

fn date_of<'a>(d: &'a Decision) -> Option<&'a str> {
    match &d.observed {
        Some(o) => o.date.as_deref(),
        None => d.verdict.as_ref().and_then(|v| v.date.as_deref()),
    }
}

fn basis(d: &Decision) -> String {
    reason::business(&d.cutoff).unwrap_or_else(|| format!("keep {} in {}", d.policy.keep, d.policy.zone))
}

/// Prints the decision for one path (`None`: no root contains it).
pub fn print(out: &mut Printer, path: &Path, d: Option<&Decision>) {
    let bytes = path.as_os_str().as_bytes();
    if out.style.json {
        let p = json_path(bytes);
        let decisions = d
            .map(|d| DecisionJson {
                policy: &d.policy.name,
                origin: d.policy.origin.to_string(),
                selected: d.selected,
                directory: d.directory,
                action: d.action(),
                reason: reason_of(d),
                layout: d.layout.as_deref(),
                date: date_of(d),
                period: d.period.as_ref(),
                cutoff: d.cutoff.rfc3339(),
                cutoff_basis: basis(d),
                misses: &d.misses,
                notes: &d.notes,
            })
            .into_iter()
            .collect();
        out.json(&ExplainLine { kind: "explain", path: &p.text, path_base64: p.base64.as_deref(), decisions });
        return;
    }
    out.line(display_path(bytes));
    let Some(d) = d else {
        out.line("  no policy's root contains this path: sweep never touches it");
        return;
    };
    let kind = if d.directory { " — a directory" } else { "" };
    out.line(format_args!("  policy    {} ({}){kind}", d.policy.name, d.policy.origin));
    if let Some(l) = &d.layout {
        out.line(format_args!("  layout    {l}"));
    }
    if let Some(date) = date_of(d) {
        let partition = if d.directory { "partition " } else { "" };
        match &d.period {
            Some((a, b)) => out.line(format_args!("  date      {partition}{date}  (period {a} .. {b})")),
            None => out.line(format_args!("  date      {partition}{date}")),
        }
    }
    out.line(format_args!("  cutoff    {}  ({})", d.cutoff.rfc3339(), basis(d)));
    let action = d.action().map_or("undecided", Action::as_str);
    let files = if d.directory { " (its files)" } else { "" };
    out.line(format_args!("  decision  {action}{files}: {}", reason_of(d)));
    if d.layout.is_none() || d.action() == Some(Action::Unmatched) {
        for m in &d.misses {
            out.line(format_args!("    {m}"));
        }
    }
    for n in &d.notes {
        out.line(format_args!("  note      {n}"));
    }
}
