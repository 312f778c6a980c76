//! `sweep init` and `sweep schema`: the starter policy is accepted by `check` as it is,
//! and the schema — checked by a real JSON Schema validator (Python's `jsonschema`,
//! draft 2020-12) — accepts every shipped policy and the starter, and rejects a typo.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::support::*;

/// Validates `instances` (JSON files) against `schema`; returns the validator's report
/// per instance (empty when valid), or `None` when the validator is missing here.
fn validate(schema: &Path, instances: &[&Path]) -> Option<Vec<String>> {
    const TEST: &str = "schema: validation by Python's jsonschema";
    let python = required("python3", TEST)?;
    let probe = Command::new(&python).args(["-c", "import jsonschema"]).status().unwrap();
    if !probe.success() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{TEST}: the jsonschema module is not installed, and CI must run every test"
        );
        loud(&format!("SKIPPED {TEST}: pip install jsonschema"));
        return None;
    }
    let script = r#"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
v = Draft202012Validator(schema)
for path in sys.argv[2:]:
    errors = sorted(v.iter_errors(json.load(open(path))), key=str)
    print(json.dumps([f"{list(e.path)}: {e.message}" for e in errors]))
"#;
    let out = Command::new(python).arg("-c").arg(script).arg(schema).args(instances).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let errs: Vec<String> = serde_json::from_str(l).unwrap();
                errs.join("; ")
            })
            .collect(),
    )
}

/// A YAML file as a JSON file beside it (YAML 1.2 core scalars, as sweep reads them).
fn as_json(t: &Tree, name: &str, yaml_text: &str) -> std::path::PathBuf {
    let p = t.dir.path().join(format!("{name}.json"));
    fs::write(&p, serde_json::to_string(&yaml(yaml_text).unwrap()).unwrap()).unwrap();
    p
}

#[test]
fn the_schema_accepts_the_shipped_policies_and_the_starter_and_rejects_a_typo() {
    let t = Tree::new();
    let schema = t.dir.path().join("sweep.schema.json");
    fs::write(&schema, Sweep::new().arg("schema").code(0).out.stdout).unwrap();
    let mut files = Vec::new();
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for e in fs::read_dir(&policies).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        files.push((name.clone(), as_json(&t, &name, &fs::read_to_string(&p).unwrap())));
    }
    let starter =
        Sweep::new().args(["init", "--layout", "dt=%Y-%m-%d/hour=%H/*", "--root", "/srv/events"]).code(0).stdout();
    files.push(("init".into(), as_json(&t, "init", &starter)));
    let typo = starter.replace("    layouts:", "    layout:");
    files.push(("typo".into(), as_json(&t, "typo", &typo)));
    // A format the loader refuses is refused by the schema too.
    let xz = starter.replace("    keep: 7d", "    keep: 7d\n    compress: {after: 2d, format: xz}");
    assert_ne!(xz, starter, "the starter keeps 7d");
    files.push(("xz".into(), as_json(&t, "xz", &xz)));
    let paths: Vec<&Path> = files.iter().map(|(_, p)| p.as_path()).collect();
    let Some(report) = validate(&schema, &paths) else { return };
    for ((name, _), errors) in files.iter().zip(&report) {
        if name == "typo" {
            assert!(errors.contains("'layout' was unexpected"), "the typo must fail validation: {errors}");
            assert!(errors.contains("'layouts' is a required property"), "{errors}");
        } else if name == "xz" {
            assert!(errors.contains("'xz' is not one of"), "compress.format: xz must fail: {errors}");
        } else {
            assert!(errors.is_empty(), "{name}: {errors}");
        }
    }
}

#[test]
fn init_prints_a_policy_check_accepts_for_every_layout_family() {
    for layout in
        ["%Y-%m-%d/**", "dt=%Y-%m-%d/hour=%H/*", "%Y/%m/%d/*.csv", "ticker_%Y%m%d.csv", "%Y/%m/**", "dump-%s.bin"]
    {
        let t = Tree::new();
        let text = Sweep::new().args(["init", "--layout", layout, "--root"]).arg(&t.root).code(0).stdout();
        assert!(text.contains("max_delete: 2d"), "the starter ships the span guard");
        let p = t.policy_named("init.yaml", &text);
        let check = Sweep::new().arg("check").arg("-c").arg(&p).code(0);
        check.stdout_has("ok: 1 policy in 1 file; 3 of 3 test expectations pass");
    }
    Sweep::new().args(["init", "--layout", "*.log"]).code(2).stderr_has("no date fields");
    Sweep::new().args(["init", "--root", "relative"]).code(2).stderr_has("absolute");
}

/// The starter's tests are dated from today, not from a fixed year.
#[test]
fn the_starters_tests_are_dated_from_today() {
    let starter = Sweep::new().args(["init", "--root", "/srv/x"]).code(0).stdout();
    let today = chrono::Utc::now().date_naive().format("%Y-%m-%d").to_string();
    assert!(starter.contains(&format!("now: {today}T")), "{starter}");
}
