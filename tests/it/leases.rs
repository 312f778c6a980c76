//! `lease: true` against a real S3 server (moto) on 127.0.0.1, which honours conditional
//! writes (`If-None-Match: *`, `If-Match`): runners on different hosts racing for one
//! bucket root, a lease left by a runner that died, a lease renewed while it is held.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::servers::*;
use crate::support::*;

fn policy(t: &Tree, bucket: &str, extra: &str) -> std::path::PathBuf {
    t.policy(&format!(
        "version: 1\npolicies:\n  - name: lake\n    root: s3://{bucket}/lake\n    timezone: UTC\n    layouts: [\"dt=%Y-%m-%d/*\"]\n    keep: 2d\n    lease: true\n{extra}"
    ))
}

/// `sweep apply` with its own lock file (runners on different hosts do not share one).
fn apply(server: &Server, p: &std::path::Path, t: &Tree, lock: &str) -> Sweep {
    let mut s = Sweep::new();
    s.args(["apply", "-c"]).arg(p).args(["--now", NOW, "--format", "json", "--lock-file"]).arg(t.dir.path().join(lock));
    server.env(&mut s);
    s
}

/// [`apply`], started in the background.
fn spawn(server: &Server, p: &std::path::Path, t: &Tree, lock: &str) -> Child {
    apply(server, p, t, lock).command().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

fn finish(child: Child, within: Duration) -> Done {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(within) {
        Ok(out) => Done { out: out.unwrap() },
        Err(_) => {
            let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("a runner still ran after {within:?}");
        }
    }
}

#[test]
fn two_runners_race_for_the_lease_and_exactly_one_acts_a_hundred_times() {
    let test = "two_runners_race_for_the_lease_and_exactly_one_acts_a_hundred_times";
    let Some(server) = shared(Kind::S3, test) else { return };
    let t = Tree::new();
    let keys: Vec<String> = (0..3).map(|i| format!("lake/dt=2024-07-01/part-{i}.parquet")).collect();
    let started = Instant::now();
    for trial in 0..100 {
        let bucket = server.bucket(&keys, 1);
        // Paced, so that the winner still acts when the loser asks.
        let p = policy(&t, &bucket, "    max_rate: 3/s\n");
        let (a, b) = (spawn(server, &p, &t, "a.lock"), spawn(server, &p, &t, "b.lock"));
        let (a, b) = (finish(a, Duration::from_secs(60)), finish(b, Duration::from_secs(60)));
        let mut codes = [a.out.status.code(), b.out.status.code()];
        codes.sort();
        assert_eq!(
            codes,
            [Some(0), Some(4)],
            "trial {trial}\n{}\n{}\n{}\n{}",
            a.stdout(),
            a.stderr(),
            b.stdout(),
            b.stderr()
        );
        let (winner, loser) = if a.out.status.code() == Some(0) { (&a, &b) } else { (&b, &a) };
        assert_eq!(winner.summary()["policies"][0]["deleted"], 3, "trial {trial}");
        let l = loser.summary();
        assert_eq!(l["policies"][0]["problem_codes"][0], "lease_held", "trial {trial}: {l}");
        assert!(l["policies"][0]["problems"][0].as_str().unwrap().contains("is held by host"), "{l}");
        assert!(!loser.json().iter().any(|x| x["type"] == "file"), "the loser listed nothing: {}", loser.stdout());
        assert!(server.list(&bucket).is_empty(), "trial {trial}: the keys went once, the lease was released");
    }
    assert!(started.elapsed() < Duration::from_secs(600), "{:?}", started.elapsed());
}

/// Puts a lease object as another runner would have left it.
fn plant(server: &Server, bucket: &str, ttl: u64) {
    let body = format!(r#"{{"host":"dead-host","pid":4242,"started":"2024-07-12T00:00:00Z","ttl_seconds":{ttl}}}"#);
    server.objstore(&["write", bucket, "lake/.sweep-lease"], Some(&body));
}

#[test]
fn a_lease_past_its_ttl_is_taken_over_and_a_live_one_is_not() {
    let test = "a_lease_past_its_ttl_is_taken_over_and_a_live_one_is_not";
    let Some(server) = shared(Kind::S3, test) else { return };
    let t = Tree::new();
    let keys: Vec<String> =
        vec!["lake/dt=2024-07-01/part-0.parquet".into(), "lake/dt=2024-07-12/part-0.parquet".into()];
    let bucket = server.bucket(&keys, 1);
    let p = policy(&t, &bucket, "");
    plant(server, &bucket, 3600);
    let held = server.sweep("apply", &p, &t).args(["--format", "json"]).code(4);
    let problem = held.summary()["policies"][0]["problems"][0].as_str().unwrap().to_string();
    assert!(problem.contains("dead-host pid 4242"), "{problem}");
    assert_eq!(server.list(&bucket).len(), 3, "nothing touched");
    // plan takes no lease: it acts on nothing.
    server.sweep("plan", &p, &t).code(0);

    plant(server, &bucket, 1);
    std::thread::sleep(Duration::from_millis(2100));
    let done = server.sweep("apply", &p, &t).args(["--format", "json"]).code(0);
    let s = done.summary();
    let lease = &s["policies"][0]["lease"];
    assert_eq!(lease["object"], format!("s3://{bucket}/lake/.sweep-lease"));
    assert!(lease["took_over"].as_str().unwrap().contains("dead-host pid 4242"), "{lease}");
    assert!(done.stderr().contains("took over the stale lease"), "{}", done.stderr());
    // The lease object is sweep's, not a file of the policy: never classified.
    assert!(!done.json().iter().any(|l| l["path"].as_str().is_some_and(|p| p.contains(".sweep-lease"))));
    assert_eq!(server.list(&bucket), ["lake/dt=2024-07-12/part-0.parquet"], "acted, then released the lease");
}

#[test]
fn a_lease_is_renewed_while_its_runner_works() {
    let Some(server) = shared(Kind::S3, "a_lease_is_renewed_while_its_runner_works") else { return };
    let t = Tree::new();
    let keys: Vec<String> = (0..14).map(|i| format!("lake/dt=2024-07-01/part-{i:02}.parquet")).collect();
    let bucket = server.bucket(&keys, 1);
    // A 10 s lease over a run of about 14 s (14 deletions at 1/s): without renewal it
    // would be stale when the second runner asks, at 12 s.
    let p = policy(&t, &bucket, "    lease_ttl: 10s\n    max_rate: 1/s\n");
    let first = spawn(server, &p, &t, "a.lock");
    std::thread::sleep(Duration::from_secs(12));
    let second = apply(server, &p, &t, "b.lock").code(4);
    assert!(second.summary()["policies"][0]["problems"][0].as_str().unwrap().contains("renewed until"));
    let first = finish(first, Duration::from_secs(60));
    assert_eq!(first.out.status.code(), Some(0), "{}\n{}", first.stdout(), first.stderr());
    assert_eq!(first.summary()["policies"][0]["deleted"], 14);
    assert!(server.list(&bucket).is_empty());
}

#[test]
fn lease_keys_mean_nothing_on_a_local_root() {
    let t = Tree::new();
    let p = t.policy("version: 1\npolicies:\n  - name: x\n    root: {root}\n    layouts: [\"%Y-%m-%d/*\"]\n    keep: 1d\n    lease: true\n    lease_ttl: 5s\n    inventory: s3://inv/x/\n");
    let done = Sweep::new().args(["check", "-c"]).arg(&p).code(3);
    for k in ["lease", "inventory", "lease_ttl"] {
        done.stdout_has(&format!("`{k}` means something on an object storage root only"));
    }
    let p = t.policy("version: 1\npolicies:\n  - name: x\n    root: s3://lake/x\n    layouts: [\"%Y-%m-%d/*\"]\n    keep: 1d\n    lease_ttl: 5s\n");
    Sweep::new().args(["check", "-c"]).arg(&p).code(3).stdout_has("a lease_ttl is at least 10s");
    let p = t.policy("version: 1\npolicies:\n  - name: x\n    root: gs://lake/x\n    layouts: [\"%Y-%m-%d/*\"]\n    keep: 1d\n    inventory: s3://inv/x/\n");
    Sweep::new().args(["check", "-c"]).arg(&p).code(3).stdout_has("is not an s3:// root");
}
