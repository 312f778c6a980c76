//! The man pages' own text: sweep.yaml(5), generated from the policy key table, and the
//! sections of sweep(1) that clap cannot know (exit status, files, environment).

use std::fmt::Write as _;

use crate::exit::Exit;
use crate::policy::keys::{self, Key, Place, Shape};

/// Escapes text for roff.
fn esc(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    s.lines()
        .map(|l| if l.starts_with('.') || l.starts_with('\'') { format!("\\&{l}") } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Inline `code` spans as bold.
fn doc(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in esc(s).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "\\fB{part}\\fR");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn shape(k: &Key) -> String {
    match k.shape {
        Shape::Text { .. } => "text".into(),
        Shape::Choice(c) => c.join(" | "),
        Shape::Bool => "true | false".into(),
        Shape::Count => "whole number".into(),
        Shape::List => "list".into(),
        Shape::Map(_) => "mapping".into(),
    }
}

/// sweep(1)'s EXIT STATUS, FILES, ENVIRONMENT and SEE ALSO sections.
pub fn section1_extra() -> String {
    let mut m = String::from(
        ".SH \"EXIT STATUS\"\nWhen several apply, the lowest non\\-zero code wins; an interruption overrides all.\n",
    );
    for e in Exit::TABLE {
        let _ = writeln!(m, ".TP\n\\fB{}\\fR\n{}", e.code(), esc(e.meaning()));
    }
    m.push_str(".TP\n\\fB130\\fR, \\fB143\\fR, \\fB129\\fR\ninterrupted by SIGINT, SIGTERM or SIGHUP: stopped at the next file, summary and metrics written\n");
    m.push_str(".TP\n\\fB141\\fR\nstdout was closed (the reader went away); nothing else is wrong\n");
    m.push_str(concat!(
        ".SH FILES\n",
        ".TP\n\\fI/etc/sweep/\\fR\nthe usual place for policy files (\\fB\\-c /etc/sweep/\\fR reads every *.yaml and *.yml there, in name order); see \\fBsweep.yaml\\fR(5)\n",
        ".TP\n\\fI/run/sweep/sweep.lock\\fR\nthe default lock file of \\fBapply\\fR when run as root (\\fB$XDG_RUNTIME_DIR/sweep.lock\\fR otherwise); its directory is created mode 0700\n",
        ".TP\n\\fIPATH\\fR of \\fB\\-\\-metrics\\-file\\fR\nPrometheus text format, replaced atomically; read back (without following links) for the last success time\n",
        ".TP\n\\fI/var/lib/sweep/history.json\\fR\nin the state directory (\\fB\\-\\-state\\-dir\\fR): the files and bytes of each policy's last 14 applies that deleted something, which \\fBmax_delete: auto\\fR compares a run with; written by \\fBapply\\fR only, atomically; not believed (\\fBauto\\fR then acts as \\fB2d\\fR, with a warning) when it or its directory belongs to another user than root (or the user sweep runs as), can be written by group or others, or is not valid JSON\n",
        ".SH FORECAST\n",
        "For each policy on a local root, \\fBplan\\fR and \\fBapply\\fR forecast whether its retention can fit on its filesystem. ",
        "\\fIbytes_per_period\\fR is the median bytes on disk (st_blocks \\(mu 512) of its newest 7 complete partitions, those whose period has ended. ",
        "\\fIfootprint\\fR is that times the partitions \\fBkeep\\fR holds: its window (N days or hours; a business day counts as a day) over the median spacing of those partitions, rounded up. ",
        "\\fIroom\\fR is the filesystem's size as \\fBdisk_fail_above\\fR measures it (used plus available, as df's Use%) times \\fBdisk_fail_above\\fR (all of it when unset), ",
        "minus the bytes used before the run that no policy's dated files account for, ",
        "minus the footprints of the run's other policies on the same filesystem (what they hold now, for one without a forecast): ",
        "policies that share a filesystem never count on the same free space. ",
        "\\fIfit\\fR is footprint / room. Above 1, a line after the policies says so ",
        "(forecast: keep 7d needs 280 GiB at 40 GiB/day; 250 GiB room below disk_fail_above 90%); the exit code does not change. ",
        "A policy with no complete partition has no forecast (null in JSON, no metric sample).\n",
        ".SH ENVIRONMENT\n",
        ".TP\n\\fBTZ\\fR\nthe zone of \\fBtimezone: local\\fR when it names an IANA zone\n",
        ".TP\n\\fBNO_COLOR\\fR\nset and not empty: no colour unless \\fB\\-\\-color always\\fR\n",
        ".SH \"SEE ALSO\"\n\\fBsweep.yaml\\fR(5), \\fBflock\\fR(1), \\fBcron\\fR(8), \\fBsystemd.timer\\fR(5)\n",
    ));
    m
}

fn keys_section(out: &mut String, title: &str, list: &[Key]) {
    let _ = writeln!(out, ".SH \"{title}\"");
    for k in list {
        let mut head = format!("\\fB{}\\fR: \\fI{}\\fR", k.name, esc(&shape(k)));
        if k.required {
            head.push_str(" (required)");
        }
        if let Some(d) = k.default {
            let _ = write!(head, " (default \\fB{}\\fR)", esc(d));
        }
        if k.place == Place::Policy && list.len() > 4 {
            head.push_str(" (not in defaults)");
        }
        if !k.object_root {
            head.push_str(" (local roots only)");
        }
        if !k.local_root {
            head.push_str(" (object roots only)");
        }
        let _ = writeln!(out, ".TP\n{head}\n{}", doc(k.doc));
        let _ = writeln!(out, ".br\nExample: \\fB{}: {}\\fR", k.name, esc(k.example));
    }
}

/// sweep.yaml(5): the policy file.
pub fn section5() -> String {
    let mut m = String::new();
    let _ = writeln!(m, ".TH SWEEP.YAML 5 \"\" \"sweep {}\" \"File Formats\"", env!("CARGO_PKG_VERSION"));
    m.push_str(".SH NAME\nsweep.yaml \\- retention policies for sweep\n");
    m.push_str(concat!(
        ".SH DESCRIPTION\n",
        "A policy file is YAML (one document, at most 1 MiB, nesting at most 32 levels). ",
        "\\fBsweep \\-c PATH\\fR reads a file, or every *.yaml and *.yml file of a directory in name order. ",
        "Unknown keys and duplicate keys are errors, and \\fBsweep check\\fR reports every problem of every file at once, ",
        "each with its file, line, column and key. Units are exactly those listed: \\fB7days\\fR is an error, not seven of anything.\n",
    ));
    keys_section(&mut m, "FILE KEYS", keys::FILE);
    keys_section(&mut m, "POLICY KEYS", keys::POLICY);
    keys_section(&mut m, "TEST KEYS", keys::TEST);
    m.push_str(concat!(
        ".SH LAYOUTS\n",
        "A layout is a path template relative to the root, \\fB/\\fR\\-separated. Each component is a glob ",
        "(\\fB*\\fR, \\fB?\\fR, \\fB[...]\\fR, \\fB{a,b}\\fR; \\fB*\\fR never crosses \\fB/\\fR; a component \\fB**\\fR matches zero or more directories, ",
        "and a trailing \\fB**\\fR everything inside the directory before it) in which strftime fields capture the date: ",
        "\\fB%Y %m %d %H %M %S %j %y %s\\fR, and \\fB%%\\fR for a literal \\fB%\\fR. ",
        "The partition's period is that of the finest field; a file expires when its whole period ends at or before the cutoff. ",
        "A name with the layout's shape but an impossible date is unmatched, and so is a date before \\fBmin_date\\fR ",
        "or starting later than now plus \\fBmax_future\\fR.\n",
        ".SH UNITS\n",
        ".TP\n\\fBkeep\\fR, spans of \\fBmax_delete\\fR\n\\fIN\\fBd\\fR (local days), \\fIN\\fBh\\fR (real hours), \\fIN\\fBbd\\fR (business days), N \\(>= 1\n",
        ".TP\n\\fBmin_age\\fR\n\\fIN\\fBs\\fR, \\fIN\\fBm\\fR, \\fIN\\fBh\\fR or \\fIN\\fBd\\fR\n",
        ".TP\n\\fBmax_future\\fR\n\\fIN\\fBd\\fR or \\fIN\\fBh\\fR\n",
        ".TP\nshares\n\\fIN\\fB%\\fR, from 0 to 100\n",
        ".SH OWNERSHIP\n",
        "Every path under any loaded policy's root belongs to exactly one policy: the one whose root is the deepest root containing it; ",
        "among policies with the same root, the first in load order whose layouts or exclude match it, else the first policy with that root. ",
        "This is decided over all loaded policies, whatever \\fB\\-\\-policy\\fR selects: an outer policy never enters an inner policy's root, ",
        "and reports it as nested.\n",
        ".SH EXAMPLE\n.nf\n",
    ));
    m.push_str(&esc(EXAMPLE));
    m.push_str("\n.fi\n.SH \"SEE ALSO\"\n\\fBsweep\\fR(1)\n");
    m
}

/// The full example of sweep.yaml(5).
pub const EXAMPLE: &str = r#"version: 1
defaults:
  timezone: America/New_York
policies:
  - name: ticker-load
    root: /data/ticker
    layouts:
      - "%Y-%m-%d/**"
      - "ticker_%Y-%m-%d.csv"
    keep: 1d
    markers: ["_SUCCESS"]
    exclude: ["**/_temporary"]
    min_age: 30m
    max_delete: 2d
    disk_fail_above: 90%
tests:
  - now: 2024-07-12T02:00:00-04:00
    expect:
      /data/ticker/2024-07-11/part-0001.csv: delete
      /data/ticker/2024-07-12/part-0001.csv: keep
      /data/ticker/staging/x.csv: unmatched"#;
