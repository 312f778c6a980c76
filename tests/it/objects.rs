//! Object storage roots against real servers on 127.0.0.1: moto (S3), Azurite (Azure
//! Blob) and fake-gcs-server (GCS), installed by `tests/servers/install.sh` (which
//! `.ci/run` runs) and started here, once per test binary; a test that kills its server
//! starts its own. Buckets are filled and listed afterwards with an independent client
//! (`tests/servers/objstore.py`, Python's standard library), never with sweep's.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::servers::*;
use crate::support::*;

/// A dated tree: hive partitions, daily directories, dated names, unmatched keys and
/// directory markers; and what `keep: 2d` at NOW deletes of it.
fn lake() -> (Vec<String>, BTreeSet<String>) {
    let mut keys = Vec::new();
    let mut gone = BTreeSet::new();
    for d in 8..=12 {
        let expired = d <= 10;
        let mut add = |k: String| {
            if expired {
                gone.insert(k.clone());
            }
            keys.push(k);
        };
        for h in ["00", "13"] {
            add(format!("lake/events/dt=2024-07-{d:02}/hour={h}/part-0.parquet"));
        }
        add(format!("lake/events/dt=2024-07-{d:02}/_SUCCESS"));
        add(format!("lake/daily/2024-07-{d:02}/a.csv"));
        add(format!("lake/daily/2024-07-{d:02}/sub/b.csv"));
        add(format!("lake/ticker_2024-07-{d:02}.csv"));
    }
    // Directory markers: one in an expired daily partition (removed once emptied), one in a
    // kept one, one at the top (never removed: never emptied).
    keys.push("lake/daily/2024-07-09/".into());
    gone.insert("lake/daily/2024-07-09/".into());
    keys.push("lake/daily/2024-07-11/".into());
    keys.push("lake/daily/".into());
    keys.push("lake/staging/upload-3f2a.tmp".into());
    keys.push("lake/README".into());
    (keys, gone)
}

fn lake_policy(t: &Tree, kind: Kind, bucket: &str, extra: &str) -> PathBuf {
    let root = format!("{}://{bucket}/lake", kind.scheme());
    t.policy(&format!(
        "version: 1\npolicies:\n  - name: lake\n    root: {root}\n    timezone: UTC\n    layouts: [\"events/dt=%Y-%m-%d/hour=%H/*\", \"events/dt=%Y-%m-%d/_SUCCESS\", \"daily/%Y-%m-%d/**\", \"ticker_%Y-%m-%d.csv\"]\n    keep: 2d\n    markers: [\"_SUCCESS\"]\n    on_unmatched: warn\n{extra}"
    ))
}

fn plan_and_apply(kind: Kind, test: &str) {
    let Some(server) = shared(kind, test) else { return };
    let t = Tree::new();
    let (keys, gone) = lake();
    let bucket = server.bucket(&keys, 100);
    let p = lake_policy(&t, kind, &bucket, "");
    let url = |k: &str| format!("{}://{bucket}/{k}", kind.scheme());

    let plan = server.sweep("plan", &p, &t).args(["--format", "json"]).code(0);
    let lines = plan.json();
    let files: Vec<&serde_json::Value> = lines.iter().filter(|l| l["type"] == "file").collect();
    // Every object but the markers is classified, with its full URL.
    assert_eq!(files.len(), keys.iter().filter(|k| !k.ends_with('/')).count(), "{lines:?}");
    let deletes: BTreeSet<String> =
        files.iter().filter(|l| l["action"] == "delete").map(|l| l["path"].as_str().unwrap().to_string()).collect();
    let want: BTreeSet<String> = gone.iter().filter(|k| !k.ends_with('/')).map(|k| url(k)).collect();
    assert_eq!(deletes, want);
    let unmatched: BTreeSet<&str> =
        files.iter().filter(|l| l["action"] == "unmatched").map(|l| l["path"].as_str().unwrap()).collect();
    assert_eq!(
        unmatched,
        [url("lake/README"), url("lake/staging/upload-3f2a.tmp")].iter().map(String::as_str).collect()
    );
    let s = &plan.summary()["policies"][0];
    assert_eq!(s["root"], url("lake"));
    assert_eq!(s["files"]["delete"], want.len());
    assert_eq!(server.list(&bucket).len(), keys.len(), "plan deletes nothing");

    let done = server.sweep("apply", &p, &t).args(["--format", "json"]).code(0);
    let s = &done.summary()["policies"][0];
    assert_eq!(s["deleted"], want.len());
    assert_eq!(s["failed"], 0);
    let mut left: Vec<String> = keys.iter().filter(|k| !gone.contains(*k)).cloned().collect();
    left.sort();
    assert_eq!(server.list(&bucket), left, "exactly the expired objects (and the marker they emptied) went");
    // The emptied marker is reported as a removed directory.
    let dirs: Vec<String> =
        done.json().iter().filter(|l| l["type"] == "dir").map(|l| l["path"].as_str().unwrap().to_string()).collect();
    assert!(dirs.contains(&url("lake/daily/2024-07-09")), "{dirs:?}");

    // The next night finds nothing to do.
    let again = server.sweep("apply", &p, &t).args(["--format", "json"]).code(0);
    assert_eq!(again.summary()["policies"][0]["files"]["delete"], 0);
}

#[test]
fn s3_plan_and_apply_on_a_dated_tree() {
    plan_and_apply(Kind::S3, "s3_plan_and_apply_on_a_dated_tree");
}

#[test]
fn azure_plan_and_apply_on_a_dated_tree() {
    plan_and_apply(Kind::Az, "azure_plan_and_apply_on_a_dated_tree");
}

#[test]
fn gcs_plan_and_apply_on_a_dated_tree() {
    plan_and_apply(Kind::Gcs, "gcs_plan_and_apply_on_a_dated_tree");
}

#[test]
fn pagination_over_more_than_1000_keys_in_one_partition() {
    let Some(server) = shared(Kind::S3, "pagination_over_more_than_1000_keys_in_one_partition") else { return };
    let t = Tree::new();
    let mut keys: Vec<String> = (0..1500).map(|i| format!("lake/daily/2024-07-01/part-{i:05}.csv")).collect();
    keys.push("lake/daily/2024-07-12/part-0.csv".into());
    let bucket = server.bucket(&keys, 1);
    let p = lake_policy(&t, Kind::S3, &bucket, "");
    let done = server.sweep("apply", &p, &t).args(["--format", "json"]).code(0);
    assert_eq!(done.summary()["policies"][0]["deleted"], 1500);
    assert_eq!(server.list(&bucket), vec!["lake/daily/2024-07-12/part-0.csv".to_string()]);
}

#[test]
fn max_delete_refuses_and_nothing_is_deleted() {
    let Some(server) = shared(Kind::S3, "max_delete_refuses_and_nothing_is_deleted") else { return };
    let t = Tree::new();
    let (keys, _) = lake();
    let bucket = server.bucket(&keys, 1);
    let p = lake_policy(&t, Kind::S3, &bucket, "    max_delete: 3\n");
    let done = server.sweep("apply", &p, &t).args(["--format", "json"]).code(6);
    assert_eq!(done.summary()["policies"][0]["refused"]["guard"], "max_delete");
    assert_eq!(server.list(&bucket).len(), keys.len());
}

#[test]
fn a_missing_bucket_is_an_error_with_the_services_message() {
    for kind in [Kind::S3, Kind::Az] {
        let Some(server) = shared(kind, "a_missing_bucket_is_an_error_with_the_services_message") else { return };
        let t = Tree::new();
        let p = lake_policy(&t, kind, "no-such-bucket", "");
        let done = server.sweep("apply", &p, &t).args(["--format", "json"]).code(5);
        let lines = done.json();
        let error = lines.iter().find(|l| l["action"] == "error").expect("an error line");
        let msg = error["reason"].as_str().unwrap();
        assert!(msg.contains("NoSuchBucket") || msg.contains("ContainerNotFound"), "{kind:?}: {msg}");
        assert_eq!(done.summary()["policies"][0]["files"]["error"], 1);
    }
}

#[test]
fn refused_credentials_are_an_error_and_no_secret_is_printed() {
    let Some(server) = shared(Kind::Az, "refused_credentials_are_an_error_and_no_secret_is_printed") else { return };
    let t = Tree::new();
    let (keys, _) = lake();
    let bucket = server.bucket(&keys, 1);
    let p = lake_policy(&t, Kind::Az, &bucket, "");
    let wrong = "c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1iZS1wcmludGVkLWFueXdoZXJlLTAxMjM0NQ==";
    for format in ["text", "json"] {
        let mut s = server.sweep("apply", &p, &t);
        s.env("AZURE_STORAGE_ACCOUNT_NAME", "devstoreaccount1")
            .env("AZURE_STORAGE_ACCOUNT_KEY", wrong)
            .env("AZURE_STORAGE_ENDPOINT", &format!("{}/devstoreaccount1", server.endpoint))
            .command()
            .env_remove("AZURE_STORAGE_CONNECTION_STRING");
        let done = s.args(["--format", format, "-v"]).code(5);
        let all = format!("{}{}", done.stdout(), done.stderr());
        assert!(
            all.contains("403")
                || all.contains("AuthorizationFailure")
                || all.contains("Server failed to authenticate"),
            "{all}"
        );
        assert!(!all.contains(wrong) && !all.contains(&wrong[..20]), "the key leaked:\n{all}");
    }
    assert_eq!(server.list(&bucket).len(), keys.len());
}

/// Kills the server of `kind` while sweep deletes from it (paced, so it is mid-run): the
/// run must end with exit 5 and a summary, within a bounded time.
fn killed_mid_run(kind: Kind, per_day: usize, rate: usize, test: &str) {
    let mut server = match Server::start(kind) {
        Ok(s) => s,
        Err(why) => return missing(test, &why),
    };
    let t = Tree::new();
    let keys: Vec<String> =
        (1..=6).flat_map(|d| (0..per_day).map(move |i| format!("lake/daily/2024-07-{d:02}/p{i}.csv"))).collect();
    let bucket = server.bucket(&keys, 1);
    let p = lake_policy(&t, kind, &bucket, &format!("    max_rate: {rate}/s\n"));
    let mut cmd = server.sweep("apply", &p, &t);
    let mut child =
        cmd.args(["--format", "json"]).command().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    // The server dies once sweep has reported its first deletion: mid-run, by the event
    // and not by a guess at how long starting takes.
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let started = Instant::now();
    loop {
        match lines_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains("\"outcome\":\"deleted\"") => break,
            Ok(_) => {}
            Err(_) => {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                panic!("{kind:?}: no deletion reported {:?} after apply started", started.elapsed());
            }
        }
    }
    server.kill();
    let killed = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let mut out = match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(o) => o.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{kind:?}: sweep still running 120 s after its server died");
        }
    };
    out.stdout = reader.join().unwrap().into_bytes();
    let done = Done { out };
    assert_eq!(done.out.status.code(), Some(5), "{kind:?}\n{}\n{}", done.stdout(), done.stderr());
    let s = done.summary();
    let p = &s["policies"][0];
    assert!(p["failed"].as_u64().unwrap() + p["files"]["error"].as_u64().unwrap() > 0, "{s}");
    assert!(p["deleted"].as_u64().unwrap() < keys.len() as u64, "{s}");
    // Bounded: the retries give up within their time limit, and what was not sent is
    // reported as not attempted rather than retried key by key.
    assert!(killed.elapsed() < Duration::from_secs(120));
}

#[test]
fn an_s3_server_killed_mid_run_ends_with_exit_5_and_a_summary() {
    killed_mid_run(Kind::S3, 300, 300, "an_s3_server_killed_mid_run_ends_with_exit_5_and_a_summary");
}

#[test]
fn a_gcs_server_killed_mid_run_ends_with_exit_5_and_a_summary() {
    killed_mid_run(Kind::Gcs, 100, 100, "a_gcs_server_killed_mid_run_ends_with_exit_5_and_a_summary");
}

#[test]
fn check_refuses_keys_that_mean_nothing_on_an_object_root() {
    let t = Tree::new();
    for (key, value) in [
        ("one_file_system", "true"),
        ("disk_fail_above", "90%"),
        ("min_free", "10%"),
        ("min_free_inodes", "5%"),
        ("skip_open", "false"),
        ("compress", "{after: 2d}"),
    ] {
        let p = t.policy(&format!(
            "version: 1\npolicies:\n  - name: lake\n    root: s3://bucket/lake\n    layouts: [\"%Y-%m-%d/*\"]\n    keep: 7d\n    {key}: {value}\n"
        ));
        let mut s = Sweep::new();
        let done = s.args(["check", "-c"]).arg(&p).code(3);
        done.stdout_has(&format!("`{key}` means nothing on an object storage root (s3://bucket/lake)"));
    }
}

#[test]
fn explain_and_policy_tests_work_without_network() {
    let t = Tree::new();
    let p = t.policy(
        "version: 1\npolicies:\n  - name: lake\n    root: s3://bucket/lake\n    timezone: UTC\n    layouts: [\"dt=%Y-%m-%d/*\"]\n    keep: 2d\ntests:\n  - now: 2024-07-12T12:00:00Z\n    expect:\n      s3://bucket/lake/dt=2024-07-10/part-0.parquet: delete\n      s3://bucket/lake/dt=2024-07-11/part-0.parquet: keep\n      s3://bucket/lake/other/x: unmatched\n",
    );
    let mut s = Sweep::new();
    s.args(["check", "-c"])
        .arg(&p)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .code(0)
        .stdout_has("3 of 3 test expectations pass");
    let mut e = Sweep::new();
    e.args(["explain", "-c"]).arg(&p).args(["--now", NOW, "s3://bucket/lake/dt=2024-07-10/x/../part-0.parquet"]);
    let done = e.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9").code(0);
    done.stdout_has("s3://bucket/lake/dt=2024-07-10/x/../part-0.parquet").stdout_has("decision  delete");
}

#[test]
fn the_bucket_cronjob_runs_once_with_secrets_from_the_cluster_and_cleans_a_bucket() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kubernetes/cronjob-bucket.yaml"))
            .unwrap();
    let docs = yaml_documents(&text);
    let kind = |k: &str| docs.iter().find(|d| d["kind"] == k).unwrap_or_else(|| panic!("no {k} document"));
    let (cm, cj) = (kind("ConfigMap"), kind("CronJob"));
    let job = &cj["spec"]["jobTemplate"]["spec"];
    assert_eq!((cj["spec"]["concurrencyPolicy"].as_str(), job["backoffLimit"].as_u64()), (Some("Forbid"), Some(0)));
    let pod = &job["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let c = &pod["containers"][0];
    // No secret in the manifest: credentials come from a Secret.
    for e in c["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        if name.contains("SECRET") || name.contains("KEY_ID") {
            assert!(
                e.get("value").is_none() && e["valueFrom"]["secretKeyRef"].is_object(),
                "{name} must come from a Secret"
            );
        }
    }
    let policy = cm["data"]["lake.yaml"].as_str().unwrap();
    let t = Tree::new();
    let p = t.policy_named("lake.yaml", policy);
    Sweep::new().args(["check", "-c"]).arg(&p).code(0).stdout_has("4 of 4 test expectations pass");

    // The container's arguments, against a bucket on a local S3 server.
    let Some(server) =
        shared(Kind::S3, "the_bucket_cronjob_runs_once_with_secrets_from_the_cluster_and_cleans_a_bucket")
    else {
        return;
    };
    let day = |n: i64| (chrono::Utc::now() - chrono::Duration::days(n)).format("%Y-%m-%d").to_string();
    let keys: Vec<String> = [31, 30, 1, 0]
        .iter()
        .flat_map(|n| {
            let d = day(*n);
            [format!("events/dt={d}/hour=00/part-0000.parquet"), format!("events/dt={d}/_SUCCESS")]
        })
        .collect();
    let bucket = server.bucket(&keys, 10);
    let p = t.policy_named("lake.yaml", &policy.replace("s3://lake/", &format!("s3://{bucket}/")));
    let mut args: Vec<String> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
    let at = |flag: &str, args: &Vec<String>| args.iter().position(|a| a == flag).unwrap() + 1;
    let i = at("-c", &args);
    args[i] = p.display().to_string();
    let i = at("--lock-file", &args);
    args[i] = t.dir.path().join("sweep.lock").display().to_string();
    let mut s = Sweep::new();
    s.args(&args);
    server.env(&mut s);
    let done = s.output();
    assert_eq!(done.out.status.code(), Some(0), "{}\n{}", done.stdout(), done.stderr());
    let mut left = server.list(&bucket);
    left.sort();
    let mut want: Vec<String> =
        keys.iter().filter(|k| !k.contains(&day(31)) && !k.contains(&day(30))).cloned().collect();
    want.sort();
    assert_eq!(left, want, "the expired days went, markers first; the recent ones stayed");
}

/// A Delta table in a bucket (its `_delta_log/` prefix) refuses the policy, as on a
/// local root; a directory exclude lets the rest run.
#[test]
fn a_delta_table_in_a_bucket_is_refused_and_left_alone() {
    let test = "a_delta_table_in_a_bucket_is_refused_and_left_alone";
    let Some(server) = shared(Kind::S3, test) else { return };
    let t = Tree::new();
    let keys: Vec<String> = [
        "lake/events/_delta_log/00000000000000000000.json",
        "lake/events/_delta_log/00000000000000000001.json",
        "lake/events/dt=2024-07-01/part-0.parquet",
        "lake/events/dt=2024-07-12/part-0.parquet",
        "lake/daily/2024-07-01/a.csv",
        "lake/daily/2024-07-12/a.csv",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let bucket = server.bucket(&keys, 10);
    let layouts = "    layouts: [\"events/dt=%Y-%m-%d/*\", \"daily/%Y-%m-%d/*\"]\n";
    let policy = |extra: &str| {
        t.policy(&format!(
            "version: 1\npolicies:\n  - name: lake\n    root: s3://{bucket}/lake\n    timezone: UTC\n{layouts}    keep: 1d\n{extra}"
        ))
    };
    let p = policy("");
    for sub in ["plan", "apply"] {
        let done = server.sweep(sub, &p, &t).args(["--format", "json"]).code(6);
        let tables: Vec<serde_json::Value> = done.json().into_iter().filter(|l| l["type"] == "table").collect();
        assert_eq!(tables.len(), 1, "{sub}: {}", done.stdout());
        assert_eq!(tables[0]["path"], format!("s3://{bucket}/lake/events"));
        assert_eq!(done.summary()["policies"][0]["refused"]["guard"], "table");
    }
    let mut all = keys.clone();
    all.sort();
    assert_eq!(server.list(&bucket), all, "nothing deleted");
    let p = policy("    exclude: [\"events\"]\n");
    server.sweep("apply", &p, &t).code(0);
    assert!(!server.list(&bucket).contains(&"lake/daily/2024-07-01/a.csv".to_string()));
    assert_eq!(server.list(&bucket).len(), 5);
}
