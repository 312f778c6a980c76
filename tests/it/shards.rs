//! `--shard I/N` against a real S3 server (moto) on 127.0.0.1: N runners started at once
//! on one bucket delete exactly what one run deletes on its identical twin, each key
//! once (a proxy in front of the server logs every key of every DeleteObjects request),
//! and every shard judges the whole plan with the guards. The Kubernetes Indexed Job
//! example runs its pods' arguments the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Stdio};

use serde_json::json;

use crate::support::servers::*;
use crate::support::*;

/// Five expired days of hourly partitions (6 hours × 5 keys, a `_SUCCESS` per day and a
/// marker object per hour), and a kept day.
fn hours() -> Vec<String> {
    let mut keys = Vec::new();
    for d in [1, 2, 3, 4, 5, 12] {
        keys.push(format!("lake/events/dt=2024-07-{d:02}/_SUCCESS"));
        for h in 0..6 {
            keys.push(format!("lake/events/dt=2024-07-{d:02}/hour={h:02}/"));
            keys.extend((0..5).map(|i| format!("lake/events/dt=2024-07-{d:02}/hour={h:02}/part-{i}.parquet")));
        }
    }
    keys
}

fn policy(t: &Tree, name: &str, bucket: &str, extra: &str) -> std::path::PathBuf {
    t.policy_named(
        name,
        &format!(
            "version: 1\npolicies:\n  - name: lake\n    root: s3://{bucket}/lake/events\n    timezone: UTC\n    layouts: [\"dt=%Y-%m-%d/hour=%H/*\", \"dt=%Y-%m-%d/_SUCCESS\"]\n    keep: 2d\n    markers: [\"_SUCCESS\"]\n{extra}"
        ),
    )
}

fn spawn(s: &mut Sweep) -> Child {
    s.command().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

/// The file lines of a run: (path with the bucket renamed, action, outcome).
fn lines(done: &Done, bucket: &str) -> Vec<(String, String, String)> {
    done.json()
        .into_iter()
        .filter(|l| l["type"] == "file")
        .map(|l| {
            (
                l["path"].as_str().unwrap().replacen(bucket, "B", 1),
                l["action"].as_str().unwrap().to_string(),
                l["outcome"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn four_shards_at_once_delete_what_one_run_deletes_each_key_once() {
    let test = "four_shards_at_once_delete_what_one_run_deletes_each_key_once";
    let Some(server) = shared(Kind::S3, test) else { return };
    let t = Tree::new();
    let keys = hours();
    let (one, many) = (server.bucket(&keys, 3), server.bucket(&keys, 3));
    let (p1, p4) = (Proxy::start(server, &json!({})), Proxy::start(server, &json!({})));
    let solo = policy(&t, "one.yaml", &one, "");
    let shared_policy = policy(&t, "many.yaml", &many, "    lease: true\n");

    // plan: the shards' lines together are the one run's, each once, and each shard's
    // summary gives the whole plan's totals.
    let whole = p1.sweep(server, "plan", &solo, &t).args(["--format", "json"]).code(0);
    let totals = whole.summary()["policies"][0]["files"].clone();
    let mut planned = Vec::new();
    for i in 0..4 {
        let d = p4
            .sweep(server, "plan", &shared_policy, &t)
            .args(["--format", "json", "--shard", &format!("{i}/4")])
            .code(0);
        assert_eq!(d.summary()["policies"][0]["shard"]["plan"]["files"], totals, "shard {i}");
        planned.extend(lines(&d, &many));
    }
    let mut want = lines(&whole, &one);
    want.sort();
    planned.sort();
    assert_eq!(planned, want);

    let one_run = p1.sweep(server, "apply", &solo, &t).args(["--format", "json"]).code(0);
    let mut children = Vec::new();
    for i in 0..4 {
        let mut s = Sweep::new();
        s.args(["apply", "-c"]).arg(&shared_policy).args([
            "--now",
            NOW,
            "--format",
            "json",
            "--shard",
            &format!("{i}/4"),
        ]);
        s.arg("--lock-file").arg(t.dir.path().join(format!("{i}.lock")));
        server.env(&mut s);
        s.env("AWS_ENDPOINT_URL", &p4.endpoint);
        children.push(spawn(&mut s));
    }
    let shards: Vec<Done> = children.into_iter().map(|c| Done { out: c.wait_with_output().unwrap() }).collect();
    let whole = one_run.summary()["policies"][0].clone();
    let mut deleted = Vec::new();
    let mut share = 0;
    for (i, d) in shards.iter().enumerate() {
        assert_eq!(d.out.status.code(), Some(0), "shard {i}\n{}\n{}", d.stdout(), d.stderr());
        let s = &d.summary()["policies"][0];
        assert_eq!((s["shard"]["index"].as_u64(), s["shard"]["count"].as_u64()), (Some(i as u64), Some(4)));
        // Running at once, a shard that lists a directory after another deleted in it
        // sees less of the whole plan; never more.
        let seen = s["shard"]["plan"]["files"]["delete"].as_u64().unwrap();
        assert!(seen >= s["files"]["delete"].as_u64().unwrap() && seen <= whole["files"]["delete"].as_u64().unwrap());
        share += s["files"]["delete"].as_u64().unwrap();
        assert!(
            s["files"]["delete"].as_u64().unwrap() < whole["files"]["delete"].as_u64().unwrap(),
            "shard {i} did all"
        );
        deleted.extend(lines(d, &many).into_iter().filter(|l| l.2 == "deleted").map(|l| l.0));
    }
    assert_eq!(share, whole["files"]["delete"].as_u64().unwrap());
    let mut want: Vec<String> = lines(&one_run, &one).into_iter().filter(|l| l.2 == "deleted").map(|l| l.0).collect();
    want.sort();
    let unique: BTreeSet<&String> = deleted.iter().collect();
    assert_eq!(unique.len(), deleted.len(), "a key reported deleted by two shards");
    deleted.sort();
    assert_eq!(deleted, want);

    // On the wire: every key of the one run's DeleteObjects requests, each sent once.
    let sent: Vec<String> = p4.deleted_keys().into_iter().filter(|k| !k.contains(".sweep-lease")).collect();
    let mut counts: BTreeMap<&String, usize> = BTreeMap::new();
    for k in &sent {
        *counts.entry(k).or_default() += 1;
    }
    assert!(
        counts.values().all(|n| *n == 1),
        "keys sent twice: {:?}",
        counts.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    let sent: BTreeSet<String> = sent.into_iter().collect();
    let one_sent: BTreeSet<String> = p1.deleted_keys().into_iter().collect();
    assert_eq!(sent, one_sent);
    assert_eq!(server.list(&many), server.list(&one), "the twins end alike");
    assert!(server.list(&many).iter().all(|k| k.contains("dt=2024-07-12")), "{:?}", server.list(&many));
}

#[test]
fn every_shard_judges_the_whole_plan() {
    let Some(server) = shared(Kind::S3, "every_shard_judges_the_whole_plan") else { return };
    let t = Tree::new();
    let bucket = server.bucket(&hours(), 1);
    let p = policy(&t, "lake.yaml", &bucket, "    max_delete: 40\n");
    for i in 0..4 {
        let done = server.sweep("apply", &p, &t).args(["--format", "json", "--shard", &format!("{i}/4")]).code(6);
        let s = &done.summary()["policies"][0];
        assert_eq!(s["refused"]["guard"], "max_delete");
        assert_eq!(s["refused"]["would_delete"], 5 * 31, "shard {i}: the whole plan is judged, not its share");
    }
    assert_eq!(server.list(&bucket).len(), hours().len());
}

#[test]
fn a_shard_is_named_on_the_command_line_or_by_the_job() {
    let Some(server) = shared(Kind::S3, "a_shard_is_named_on_the_command_line_or_by_the_job") else { return };
    let t = Tree::new();
    let bucket = server.bucket(&hours(), 1);
    let p = policy(&t, "lake.yaml", &bucket, "");
    let done = server
        .sweep("plan", &p, &t)
        .args(["--format", "json", "--shard", "JOB_COMPLETION_INDEX/3"])
        .env("JOB_COMPLETION_INDEX", "2")
        .code(0);
    assert_eq!(done.summary()["policies"][0]["shard"]["index"], 2);
    let mut s = server.sweep("plan", &p, &t);
    s.args(["--shard", "JOB_COMPLETION_INDEX/3"]).command().env_remove("JOB_COMPLETION_INDEX");
    s.code(2).stderr_has("JOB_COMPLETION_INDEX is not set");
    server.sweep("plan", &p, &t).args(["--shard", "3/3"]).code(2).stderr_has("must be below 3");
    let local = t.policy_named(
        "local.yaml",
        "version: 1\npolicies:\n  - name: disk\n    root: {root}\n    layouts: [\"%Y-%m-%d/*\"]\n    keep: 1d\n",
    );
    Sweep::new()
        .args(["plan", "-c"])
        .arg(&local)
        .args(["--shard", "0/2"])
        .code(2)
        .stderr_has("policy disk cleans the local root");
}

#[test]
fn the_indexed_job_example_shares_a_night_between_its_pods() {
    let test = "the_indexed_job_example_shares_a_night_between_its_pods";
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kubernetes/indexed-job-bucket.yaml"),
    )
    .unwrap();
    let docs = yaml_documents(&text);
    let kind = |k: &str| docs.iter().find(|d| d["kind"] == k).unwrap_or_else(|| panic!("no {k} document"));
    let (cm, cj) = (kind("ConfigMap"), kind("CronJob"));
    assert_eq!(cj["spec"]["concurrencyPolicy"], "Forbid");
    let job = &cj["spec"]["jobTemplate"]["spec"];
    assert_eq!(job["completionMode"], "Indexed");
    let n = job["completions"].as_u64().expect("completions");
    assert_eq!(job["parallelism"].as_u64(), Some(n), "every pod at once");
    let pod = &job["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let c = &pod["containers"][0];
    for e in c["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        if name.contains("SECRET") || name.contains("KEY_ID") {
            assert!(e.get("value").is_none() && e["valueFrom"]["secretKeyRef"].is_object(), "{name} from a Secret");
        }
    }
    let mut args: Vec<String> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
    let at = |flag: &str, args: &Vec<String>| args.iter().position(|a| a == flag).unwrap() + 1;
    assert_eq!(args[at("--shard", &args)], format!("JOB_COMPLETION_INDEX/{n}"), "the shard comes from the Job");
    let policy_text = cm["data"]["lake.yaml"].as_str().unwrap();
    let t = Tree::new();
    let checked = t.policy_named("lake.yaml", policy_text);
    Sweep::new().args(["check", "-c"]).arg(&checked).code(0);

    // The pods' arguments, all at once, against a bucket on a local S3 server.
    let Some(server) = shared(Kind::S3, test) else { return };
    let day = |k: i64| (chrono::Utc::now() - chrono::Duration::days(k)).format("%Y-%m-%d").to_string();
    let keys: Vec<String> = [31, 30, 1, 0]
        .iter()
        .flat_map(|k| {
            let d = day(*k);
            let mut v = vec![format!("events/dt={d}/_SUCCESS")];
            v.extend(
                (0..4)
                    .flat_map(|h| (0..3).map(move |i| (h, i)))
                    .map(|(h, i)| format!("events/dt={d}/hour={h:02}/part-{i}.parquet")),
            );
            v
        })
        .collect();
    let bucket = server.bucket(&keys, 10);
    let proxy = Proxy::start(server, &json!({}));
    let p = t.policy_named("lake.yaml", &policy_text.replace("s3://lake/", &format!("s3://{bucket}/")));
    let config = at("-c", &args);
    args[config] = p.display().to_string();
    let mut pods = Vec::new();
    for i in 0..n {
        let mut a = args.clone();
        a[at("--lock-file", &args)] = t.dir.path().join(format!("pod-{i}.lock")).display().to_string();
        let mut s = Sweep::new();
        s.args(&a);
        server.env(&mut s);
        s.env("AWS_ENDPOINT_URL", &proxy.endpoint).env("JOB_COMPLETION_INDEX", &i.to_string());
        pods.push(spawn(&mut s));
    }
    for (i, pod) in pods.into_iter().enumerate() {
        let d = Done { out: pod.wait_with_output().unwrap() };
        assert_eq!(d.out.status.code(), Some(0), "pod {i}\n{}\n{}", d.stdout(), d.stderr());
    }
    let mut left = server.list(&bucket);
    left.sort();
    let mut want: Vec<String> = keys.iter().filter(|k| k.contains(&day(0)) || k.contains(&day(1))).cloned().collect();
    want.sort();
    assert_eq!(left, want, "the expired days went, and nothing else; keys sent: {:#?}", proxy.deleted_keys());
    let (leases, sent): (Vec<String>, Vec<String>) =
        proxy.deleted_keys().into_iter().partition(|k| k.contains(".sweep-lease"));
    let unique: BTreeSet<&String> = sent.iter().collect();
    assert_eq!(unique.len(), sent.len(), "each key sent once");
    assert_eq!(sent.len(), keys.len() - want.len(), "{sent:#?}");
    let leases: BTreeSet<String> = leases.into_iter().collect();
    let each: BTreeSet<String> = (0..n).map(|i| format!("events/.sweep-lease.shard-{i}-of-{n}")).collect();
    assert_eq!(leases, each, "each pod held its shard's lease and released it");
}
