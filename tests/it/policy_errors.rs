//! Every class of invalid policy: a clear message naming file, line and column, exit 3,
//! nothing touched.

use crate::support::*;

/// Runs `check` and `apply` on `yaml`; both must exit 3 with `needle` and `file:line:`.
#[track_caller]
fn rejected(yaml: &str, needle: &str, line: usize) {
    let t = Tree::new();
    t.file("2024-01-01/a");
    let p = t.policy(yaml);
    let check = Sweep::new().arg("check").arg("-c").arg(&p).code(3);
    let at = format!("{}:{line}:", p.display());
    // check reports problems on stdout (its report); plan and apply on stderr.
    check.stdout_has(needle).stdout_has(&at);
    t.sweep("apply", &p, "2024-07-12").code(3).stderr_has(needle).stderr_has(&at);
    assert!(t.exists("2024-01-01/a"), "nothing touched");
}

const HEAD: &str = "version: 1\npolicies:\n  - name: t\n    root: {root}\n";

#[test]
fn unknown_key() {
    rejected(
        &format!("{HEAD}    layouts: ['%Y/**']\n    keep: 1d\n    keep_lats: 3\n"),
        "unknown key `keep_lats`; did you mean keep_last?",
        7,
    );
}

#[test]
fn wrong_type() {
    rejected(&format!("{HEAD}    layouts: '%Y/**'\n    keep: 1d\n"), "expected a list", 5);
    rejected(&format!("{HEAD}    layouts: ['%Y/**']\n    keep: 1d\n    keep_last: many\n"), "keep_last", 7);
}

#[test]
fn keep_zero_or_bad_unit() {
    rejected(&format!("{HEAD}    layouts: ['%Y/**']\n    keep: 0d\n"), "keep must be at least 1", 6);
    rejected(&format!("{HEAD}    layouts: ['%Y/**']\n    keep: 7days\n"), "`7days` is not a retention", 6);
    rejected(&format!("{HEAD}    layouts: ['%Y/**']\n    keep: 1d\n    min_age: 7days\n"), "not a duration", 7);
}

#[test]
fn relative_root() {
    rejected(
        "version: 1\npolicies:\n  - name: t\n    root: data/x\n    layouts: ['%Y/**']\n    keep: 1d\n",
        "a root must be an absolute path",
        4,
    );
}

#[test]
fn bad_globs() {
    rejected(&format!("{HEAD}    layouts: ['%Y/{{a,b']\n    keep: 1d\n"), "unclosed `{`", 5);
    rejected(&format!("{HEAD}    layouts: ['%Y/**']\n    keep: 1d\n    exclude: ['[z-a']\n"), "exclude[0]", 7);
    rejected(&format!("{HEAD}    layouts: ['%Q/**']\n    keep: 1d\n"), "unknown field `%Q`", 5);
}

#[test]
fn layout_without_fields_under_date_from_path() {
    rejected(&format!("{HEAD}    layouts:\n      - '%Y/**'\n      - '*.csv'\n    keep: 1d\n"), "has no date fields", 7);
}

#[test]
fn unknown_time_zone() {
    rejected(
        &format!("{HEAD}    layouts: ['%Y/**']\n    keep: 1d\n    timezone: Mars/Olympus\n"),
        "unknown time zone `Mars/Olympus`",
        7,
    );
}

#[test]
fn duplicate_keys() {
    rejected(
        &format!("{HEAD}    layouts: ['%Y/**']\n    keep: 1d\n    keep: 2d\n"),
        "duplicate key (first at line 6)",
        7,
    );
    rejected(
        &format!(
            "{HEAD}    layouts: ['%Y/**']\n    keep: 1d\ntests:\n  - now: 2024-07-12\n    expect:\n      /x/a: keep\n      /x/a: delete\n"
        ),
        "duplicate key",
        11,
    );
}

#[test]
fn duplicate_names_across_files() {
    let t = Tree::new();
    let a = t.policy_named("a.yaml", &one_policy(&["%Y/**"], "1d", ""));
    let b = t.policy_named("b.yaml", &one_policy(&["%Y/**"], "1d", ""));
    let done = Sweep::new().arg("check").arg("-c").arg(&a).arg("-c").arg(&b).code(3);
    done.stdout_has("duplicate policy name `t`").stdout_has(&format!("{}:3:", b.display()));
    // A directory is read in name order and gives the same error.
    Sweep::new().arg("check").arg("-c").arg(t.dir.path()).code(3).stdout_has("duplicate policy name");
}

#[test]
fn defaults_merge_and_are_located() {
    let t = Tree::new();
    let p = t.policy("version: 1\ndefaults:\n  timezone: Nowhere/Land\npolicies:\n  - name: t\n    root: {root}\n    layouts: ['%Y/**']\n    keep: 1d\n");
    Sweep::new().arg("check").arg("-c").arg(&p).code(3).stdout_has(":3:13: defaults.timezone");
    let ok = t.policy("version: 1\ndefaults:\n  keep: 2d\n  timezone: Asia/Kolkata\npolicies:\n  - name: t\n    root: {root}\n    layouts: ['%Y/**']\n");
    Sweep::new().arg("check").arg("-c").arg(&ok).code(0).stdout_has("ok: 1 policy in 1 file");
}

#[test]
fn unsupported_version_and_empty_files() {
    rejected("version: 2\npolicies: []\n", "unsupported version 2", 1);
    rejected("version: 1\npolicies: []\n", "no policies", 2);
}
