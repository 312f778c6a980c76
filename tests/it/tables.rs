//! Lakehouse tables under a root: a real Delta Lake table written by delta-rs (the
//! `deltalake` Python package), and the directory shapes of Iceberg and Hudi. Their
//! data files belong to the table's log: sweep deletes, moves and compresses nothing
//! below a table, and refuses the policy (exit 6, guard `table`) unless a directory
//! `exclude` covers the table, which lets the rest of the policy run.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";

/// `tests/tools/delta.py` with `args`; `None` after a loud skip (a failure under CI) when
/// the `deltalake` package is not installed.
fn delta(args: &[&str], test: &str) -> Option<String> {
    let ok = Command::new("python3").args(["-c", "import deltalake, arro3.core"]).status().is_ok_and(|s| s.success());
    if !ok {
        missing(test, "the deltalake Python package (pip install deltalake)");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/delta.py");
    let out = Command::new("python3").arg(script).args(args).output().unwrap();
    assert!(out.status.success(), "delta.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8(out.stdout).unwrap())
}

fn of_type(done: &Done, kind: &str) -> Vec<Value> {
    done.json().into_iter().filter(|l| l["type"] == kind).collect()
}

#[test]
fn a_real_delta_table_is_refused_and_still_reads_after_apply() {
    let test = "a_real_delta_table_is_refused_and_still_reads_after_apply";
    let t = Tree::new();
    let table = t.path("events");
    let table_s = table.to_str().unwrap();
    let Some(_) = delta(&[table_s, "write", "2024-07-01", "2024-07-02", "2024-07-11", "2024-07-12"], test) else {
        return;
    };
    t.files(&["logs/2024-07-01/app.log", "logs/2024-07-12/app.log"]);
    let before = t.listing();
    assert!(before.iter().any(|f| f.starts_with("events/_delta_log/")), "{before:?}");
    let p = t.policy(&one_policy(&["events/dt=%Y-%m-%d/*", "logs/%Y-%m-%d/*"], "1d", ""));

    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(6);
    let apply = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(6);
    for done in [&plan, &apply] {
        let tables = of_type(done, "table");
        assert_eq!(tables.len(), 1, "{}", done.stdout());
        assert_eq!(tables[0]["format"], "delta");
        assert_eq!(tables[0]["path"], table_s);
        let s = &done.summary()["policies"][0];
        assert_eq!(s["refused"]["guard"], "table");
        assert_eq!(s["tables"], 1);
        assert!(s["refused"]["reason"].as_str().unwrap().contains("VACUUM"), "{s}");
        // Nothing below the table is even a candidate: its files are protected.
        for l in of_type(done, "file").iter().filter(|l| l["path"].as_str().unwrap().starts_with(table_s)) {
            assert_eq!(l["action"], "protect", "{l}");
        }
    }
    assert_eq!(t.listing(), before, "nothing deleted: the policy is refused as a whole");
    assert_eq!(delta(&[table_s, "read"], test).unwrap().trim(), "12", "the table reads, all four partitions");
    let text = t.sweep("plan", &p, NOW).code(6);
    text.stdout_has(&format!("table {table_s}: a Delta Lake table (_delta_log/)")).stdout_has("REFUSED by table");

    // A directory exclude of the table lets the rest of the policy run.
    let p = t.policy(&one_policy(&["events/dt=%Y-%m-%d/*", "logs/%Y-%m-%d/*"], "1d", "exclude: ['events']"));
    let apply = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
    assert!(of_type(&apply, "table").is_empty());
    assert!(!t.exists("logs/2024-07-01/app.log") && t.exists("logs/2024-07-12/app.log"));
    assert_eq!(delta(&[table_s, "read"], test).unwrap().trim(), "12");
}

#[test]
fn a_root_that_is_a_delta_table_is_refused() {
    let test = "a_root_that_is_a_delta_table_is_refused";
    let t = Tree::new();
    let root = t.root.to_str().unwrap();
    let Some(_) = delta(&[root, "write", "2024-07-01", "2024-07-12"], test) else { return };
    let before = t.listing();
    let p = t.policy(&one_policy(&["dt=%Y-%m-%d/*"], "1d", "max_delete: 2d"));
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(6);
    let apply = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(6);
    assert_eq!(of_type(&plan, "table").len(), 1);
    assert_eq!(apply.summary()["policies"][0]["refused"]["guard"], "table");
    assert_eq!(t.listing(), before);
    assert_eq!(delta(&[root, "read"], test).unwrap().trim(), "6");
    // explain says the same for one of its files.
    let file = before.iter().find(|f| f.starts_with("dt=2024-07-01/")).unwrap();
    let e = Sweep::new().args(["explain", "--now", NOW, "-c"]).arg(&p).arg(t.path(file)).code(0);
    e.stdout_has("decision  protect: inside the Delta Lake table");
}

/// Iceberg and Hudi by the shape of their directories (their writers need a JVM).
#[test]
fn iceberg_and_hudi_tables_are_recognised_by_their_metadata() {
    for (marker, format) in [("metadata/00001-4f1c.metadata.json", "iceberg"), (".hoodie/hoodie.properties", "hudi")] {
        let t = Tree::new();
        t.files(&[
            &format!("warehouse/sales/{marker}"),
            "warehouse/sales/data/dt=2024-07-01/part-0.parquet",
            "warehouse/sales/data/dt=2024-07-12/part-0.parquet",
            "scratch/2024-07-01/x.tmp",
        ]);
        let p = t.policy(&one_policy(
            &["warehouse/*/data/dt=%Y-%m-%d/*", "scratch/%Y-%m-%d/*"],
            "1d",
            "on_unmatched: warn",
        ));
        let before = t.listing();
        let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(6);
        let apply = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(6);
        for done in [&plan, &apply] {
            let tables = of_type(done, "table");
            assert_eq!(tables.len(), 1, "{format}: {}", done.stdout());
            assert_eq!(tables[0]["format"], format);
            assert!(tables[0]["path"].as_str().unwrap().ends_with("/warehouse/sales"));
        }
        assert_eq!(t.listing(), before, "{format}: nothing deleted");
    }
    // A directory named metadata without Iceberg's metadata file is no table.
    let t = Tree::new();
    t.files(&["jobs/metadata/owner.txt", "jobs/2024-07-01/x.csv"]);
    let p = t.policy(&one_policy(&["jobs/%Y-%m-%d/*"], "1d", "on_unmatched: warn"));
    t.sweep("apply", &p, NOW).code(0);
    assert!(!t.exists("jobs/2024-07-01/x.csv"));
}
