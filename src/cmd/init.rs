//! `sweep init` and `sweep schema`: a starter policy file that `sweep check` accepts as
//! it is (with tests that pass), and the JSON Schema of the policy file.

use std::path::Path;

use chrono::NaiveDate;

use crate::exit::Exit;
use crate::layout::Template;
use crate::policy;
use crate::report::{Printer, Style};

const PLAIN: Style = Style { json: false, verbose: false, color: false, json_log: false };

/// Prints a starter policy for `layout` under `root`.
pub fn run(layout: &str, root: &Path) -> Exit {
    let mut out = Printer::new(PLAIN);
    let log = out.log();
    let template = match Template::compile(layout) {
        Ok(t) if t.precision().is_some() => t,
        Ok(_) => {
            log.error(&format!("--layout `{layout}` has no date fields (%Y, %m, %d, ...)"));
            return Exit::Usage;
        }
        Err(e) => {
            log.error(&format!("--layout `{layout}`: {e}"));
            return Exit::Usage;
        }
    };
    if !root.is_absolute() {
        log.error(&format!("--root {}: a root is an absolute path", root.display()));
        return Exit::Usage;
    }
    let text = starter(&template, layout, root);
    // What is printed must be what `sweep check` accepts.
    let (set, problems) = policy::load_text(Path::new("init.yaml"), text.as_bytes());
    if let Some(p) = problems.first() {
        log.error(&format!("cannot make a starter policy for this layout and root: {p}"));
        return Exit::Usage;
    }
    debug_assert_eq!(set.policies.len(), 1);
    out.line(text);
    out.finish(Exit::Clean)
}

/// The starter: the keys a first policy needs, the guards every policy should have, and
/// the rest commented out; tests rendered from the layout.
fn starter(template: &Template, layout: &str, root: &Path) -> String {
    let root_text = root.display().to_string();
    let quoted = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    // The tests evaluate at today's date, so they read as this year's data does. Two
    // years ago expires at every precision (a year partition too); today never does.
    let today = chrono::Utc::now().date_naive();
    let at = |d: NaiveDate| d.and_hms_opt(1, 0, 0);
    let old =
        today.checked_sub_days(chrono::Days::new(730)).and_then(at).and_then(|d| template.example(d, "part-0001.csv"));
    let new = at(today).and_then(|d| template.example(d, "part-0001.csv"));
    let now = format!("{}T02:00:00Z", today.format("%Y-%m-%d"));
    let tests = match (old, new) {
        (Some(old), Some(new)) => format!(
            "tests:                           # examples `sweep check` verifies; paths need not exist\n  - now: {now}\n    expect:\n      {}: delete\n      {}: keep\n      {}: unmatched\n",
            quoted(&format!("{root_text}/{old}")),
            quoted(&format!("{root_text}/{new}")),
            quoted(&format!("{root_text}/not-a-partition/x.tmp")),
        ),
        _ => String::new(),
    };
    format!(
        r#"# yaml-language-server: $schema=./sweep.schema.json
# A starter sweep policy. Edit the root, the layout and `keep`, then:
#   sweep check -c THIS_FILE     validates it and runs the tests at the end
#   sweep plan  -c THIS_FILE     shows what would be deleted, and why; deletes nothing
# Every key: `sweep man --section 5`. For editors, the first line points at the
# schema that `sweep schema > sweep.schema.json` writes.
version: 1
policies:
  - name: example
    {root:<29} # the directory to clean (never a system directory)
    timezone: UTC                 # dates in names, `keep` and --now: an IANA zone, or local
    layouts:                      # where the date is in each path; the first match wins
      - {layout}
    keep: 7d                      # today and the 6 days before stay; older partitions go
    max_delete: 2d                # refuse (exit 6) when anything dated more than 2 days
                                  # before the cutoff would go: after a clock jump or a
                                  # retention typo, nothing is deleted instead of everything
                                  # (or auto: more than 3x what recent applies deleted)
    on_unmatched: fail            # files no layout matches fail the run (exit 7): a new
                                  # upstream layout is noticed the same night
    # markers: ["_SUCCESS"]       # completion markers, deleted first in each directory
    # exclude: ["**/_temporary"]  # never deleted; a directory protects everything below it
    # min_age: 30m                # spare files modified this recently (still being written)
    # keep_last: 3                # the newest 3 partitions stay whatever their age
    # min_free: 15%               # delete the oldest kept partitions to keep this much free
    # expect_fresh: 26h           # exit 9 when the newest partition is older than this
{tests}"#,
        root = format!("root: {}", quoted(&root_text)),
        layout = quoted(layout),
    )
}

/// Prints the JSON Schema of the policy file.
pub fn schema() -> Exit {
    let mut out = Printer::new(PLAIN);
    match serde_json::to_string_pretty(&policy::schema::schema()) {
        Ok(s) => out.line(s),
        Err(e) => {
            out.log().error(&format!("cannot render the schema: {e}"));
            return Exit::Internal;
        }
    }
    out.finish(Exit::Clean)
}
