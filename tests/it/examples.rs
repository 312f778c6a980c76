//! `examples/`: what an operator copies into cron, systemd, Kubernetes, CI and Prometheus,
//! checked as far as this machine allows. Units go through `systemd-analyze`, alert rules
//! through `promtool`, the CI job's and the pre-commit hook's `sweep check` run for real, and
//! every command line an example holds runs against a scratch tree, so an example cannot
//! drift from the flags, metrics and exit codes the binary really has. A test whose tool is
//! missing says so on stderr and returns (`.ci/run` installs `systemd-analyze` and `promtool`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";

/// The repository's root.
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn example(rel: &str) -> PathBuf {
    repo().join("examples").join(rel)
}

fn read_example(rel: &str) -> String {
    fs::read_to_string(example(rel)).unwrap_or_else(|e| panic!("examples/{rel}: {e}"))
}

/// `name` on `PATH`, or `None` after saying loudly that `test` checks nothing here.
#[track_caller]
fn require(name: &str, test: &str) -> Option<PathBuf> {
    required(name, test)
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// stdout and stderr of a finished command, for messages and searches.
fn both(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `text` with `from` replaced by `to`, which must be there: an edit to an example that
/// makes a test's surgery miss fails loudly instead of testing the unbroken file.
#[track_caller]
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "expected {from:?} in:\n{text}");
    text.replacen(from, to, 1)
}

/// A one-policy file for a scratch tree: daily partitions in UTC, `keep: 1d`.
/// The UTC date `offset` days from today, as a `%Y-%m-%d` partition name: runs that use
/// the real clock (as cron does) need partitions dated around it.
fn utc_day(offset: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(offset)).format("%Y-%m-%d").to_string()
}

fn daily_policy() -> String {
    one_policy(&["%Y-%m-%d/**"], "1d", "")
}

/// Writes `yaml` (with `{root}` replaced) to `<tree>/<dir>/policy.yaml`; returns `<tree>/<dir>`.
fn policy_dir(t: &Tree, dir: &str, yaml: &str) -> PathBuf {
    fs::create_dir_all(t.dir.path().join(dir)).unwrap();
    t.policy_named(&format!("{dir}/policy.yaml"), yaml);
    t.dir.path().join(dir)
}

/// The value following `flag` in `tokens`.
#[track_caller]
fn flag_value<'a>(tokens: &[&'a str], flag: &str) -> &'a str {
    let i = tokens.iter().position(|t| *t == flag).unwrap_or_else(|| panic!("{flag} missing from {tokens:?}"));
    tokens.get(i + 1).unwrap_or_else(|| panic!("{flag} has no value in {tokens:?}"))
}

/// A sweep command line from an example, pointed at scratch paths: the program becomes the
/// binary under test, `-c`, `--metrics-file` and `--lock-file` values the given paths
/// (`--lock-file` is added after the sub-command when the example relies on the default).
fn retarget(tokens: &[&str], config: &Path, metrics: Option<&Path>, lock: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut prev = "";
    for (i, tok) in tokens.iter().enumerate() {
        let new = match prev {
            "-c" | "--config" => format!("{}/", config.display()),
            "--metrics-file" => metrics.expect("a metrics path").display().to_string(),
            "--lock-file" => lock.display().to_string(),
            _ if i == 0 => BIN.to_string(),
            _ => tok.to_string(),
        };
        out.push(new);
        if i == 1 && *tok == "apply" && !tokens.contains(&"--lock-file") {
            out.extend(["--lock-file".to_string(), lock.display().to_string()]);
        }
        prev = tok;
    }
    out
}

/// `(name, labels)` of every sample in a Prometheus text-format file.
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>)> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let series = l.rsplit_once(' ').map_or(l, |(s, _)| s);
            parse_series(series)
        })
        .collect()
}

/// `name{a="b",c="d"}` → `(name, {a: b, c: d})`. Label values here never hold `,` or `"`.
fn parse_series(s: &str) -> (String, BTreeMap<String, String>) {
    let Some((name, rest)) = s.split_once('{') else { return (s.trim().to_string(), BTreeMap::new()) };
    let inner = rest.trim_end().strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels in {s}"));
    let labels = inner
        .split(',')
        .filter(|kv| !kv.trim().is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("bad label {kv} in {s}"));
            (k.trim().to_string(), v.trim().trim_matches('"').to_string())
        })
        .collect();
    (name.trim().to_string(), labels)
}

/// A metrics file written by a real run: `plan` on a tree with an expired partition, a kept
/// one and an unmatched file (exit 7).
fn real_metrics(t: &Tree) -> String {
    t.files(&["2024-07-01/a.csv", "2024-07-12/a.csv", "staging/x.csv"]);
    // Freshness and a capacity target too, so that every family the rules use has samples.
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "expect_fresh: 26h\nmax_bytes: 1T\nkeep_min: 1d"));
    let m = t.dir.path().join("sweep.prom");
    t.sweep("plan", &p, NOW).arg("--metrics-file").arg(&m).code(7);
    fs::read_to_string(&m).unwrap()
}

fn str_of<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str().unwrap_or_else(|| panic!("{what}: expected a string, got {v:?}"))
}

// ---------------------------------------------------------------------------------------
// crontab

#[test]
fn crontab_line_keeps_sweeps_exit_code_through_logger() {
    let text = read_example("crontab");
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let is_env =
        |l: &str| l.split_once('=').is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    let env: BTreeMap<&str, &str> = lines.iter().filter(|l| is_env(l)).filter_map(|l| l.split_once('=')).collect();
    let jobs: Vec<&str> = lines.iter().copied().filter(|l| !is_env(l)).collect();
    assert_eq!(jobs.len(), 1, "one job line: {jobs:?}");
    assert_eq!(env.get("SHELL"), Some(&"/bin/bash"), "pipefail needs bash");

    // Five time fields, each within its range; the rest is the command.
    let mut command = jobs[0];
    let ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
    for (i, (lo, hi)) in ranges.into_iter().enumerate() {
        let end = command.find(char::is_whitespace).expect("five time fields and a command");
        let field = &command[..end];
        assert!(field.chars().all(|c| c.is_ascii_digit() || "*/,-".contains(c)), "time field {}: {field}", i + 1);
        for n in field.split(|c: char| !c.is_ascii_digit()).filter(|n| !n.is_empty()) {
            let n: u32 = n.parse().unwrap();
            assert!((lo..=hi).contains(&n), "time field {}: {n} outside {lo}-{hi}", i + 1);
        }
        command = command[end..].trim_start();
    }
    for needle in ["set -o pipefail", "sweep apply", "--metrics-file", "2>&1 | logger", "-t sweep"] {
        assert!(command.contains(needle), "the command lacks {needle:?}: {command}");
    }
    assert!(!command.contains("flock"), "sweep takes its own lock: {command}");
    let unescaped_percent = command.char_indices().any(|(i, c)| c == '%' && !command[..i].ends_with('\\'));
    assert!(!unescaped_percent, "cron turns an unescaped % into a newline: {command}");
    let syntax = run(Command::new("bash").arg("-n").arg("-c").arg(command));
    assert!(syntax.status.success(), "bash -n: {}", both(&syntax));

    // Run the line as cron would ($SHELL -c), with a stand-in logger that records its input,
    // on a tree with an expired partition and an unmatched file: the status must be sweep's 7.
    let t = Tree::new();
    t.files(&["2000-01-01/a.csv", "staging/x.csv"]);
    let config = policy_dir(&t, "etc-sweep", &daily_policy());
    let bin = t.dir.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let logger = bin.join("logger");
    fs::write(&logger, "#!/bin/sh\necho \"logger $*\" >> \"$LOGGED\"\ncat >> \"$LOGGED\"\n").unwrap();
    fs::set_permissions(&logger, fs::Permissions::from_mode(0o755)).unwrap();
    let (logged, metrics, lock) =
        (t.dir.path().join("logged"), t.dir.path().join("sweep.prom"), t.dir.path().join("sweep.lock"));
    // Tokens from the program on; what precedes it (`set -o pipefail;`) is kept as written.
    let program_at = command.find("/sweep apply").map(|i| command[..i].rfind(' ').map_or(0, |s| s + 1)).unwrap();
    let tokens: Vec<&str> = command[program_at..].split_whitespace().collect();
    let line = format!("{}{}", &command[..program_at], retarget(&tokens, &config, Some(&metrics), &lock).join(" "));
    let cron = |line: &str| {
        run(Command::new(env["SHELL"])
            .arg("-c")
            .arg(line)
            .env_clear()
            .env("PATH", format!("{}:{}", bin.display(), env.get("PATH").unwrap_or(&"/usr/bin:/bin")))
            .env("HOME", t.dir.path())
            .env("LOGGED", &logged))
    };
    let out = cron(&line);
    assert_eq!(out.status.code(), Some(7), "{line}\n{}", both(&out));
    let log = fs::read_to_string(&logged).unwrap();
    assert!(log.starts_with("logger -t sweep"), "{log}");
    assert!(log.contains("exit 7: unmatched files"), "stdout reaches syslog: {log}");
    assert!(log.contains("sweep: error: policy t:"), "stderr reaches syslog: {log}");
    let prom = fs::read_to_string(&metrics).unwrap();
    assert!(prom.contains("\nsweep_last_run_exit_code 7\n"), "{prom}");
    assert!(!t.exists("2000-01-01/a.csv"), "apply deleted the expired partition");

    // Without pipefail the same line reports logger's 0: the failure would be lost.
    let out = cron(&replace_once(&line, "set -o pipefail", "true"));
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
}

// ---------------------------------------------------------------------------------------
// systemd

/// The values of `key=` in a unit file, in order.
fn unit_values(text: &str, key: &str) -> Vec<String> {
    let prefix = format!("{key}=");
    text.lines().filter_map(|l| l.trim().strip_prefix(&prefix)).map(str::to_string).collect()
}

#[track_caller]
fn unit_value(text: &str, key: &str) -> String {
    let v = unit_values(text, key);
    assert_eq!(v.len(), 1, "one {key}= line, found {v:?}");
    v[0].clone()
}

/// `ExecStart=` of the service, split into words (it has no quoting).
fn exec_start(service: &str) -> Vec<String> {
    let line = unit_value(service, "ExecStart");
    assert!(!line.contains(['"', '\'', '$', '%']), "ExecStart= without quoting or specifiers: {line}");
    line.split_whitespace().map(str::to_string).collect()
}

/// Writes the units to `dir` with `ExecStart=` pointing at the binary under test (verify
/// requires the program to exist). Returns the service's and the timer's paths.
fn installable_units(dir: &Path, service: &str) -> (PathBuf, PathBuf) {
    fs::create_dir_all(dir).unwrap();
    let program = exec_start(service)[0].clone();
    let (s, t) = (dir.join("sweep.service"), dir.join("sweep.timer"));
    fs::write(&s, service.replace(&format!("ExecStart={program} "), &format!("ExecStart={BIN} "))).unwrap();
    fs::copy(example("systemd/sweep.timer"), &t).unwrap();
    (s, t)
}

/// Lines of `systemd-analyze` output about our units (it may also talk about the host's).
fn about_our_units(output: &str, dir: &Path) -> Vec<String> {
    let dir = dir.display().to_string();
    output
        .lines()
        .filter(|l| l.contains("sweep.service") || l.contains("sweep.timer") || l.contains(&dir))
        .map(str::to_string)
        .collect()
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    const TEST: &str = "examples::systemd_units_pass_systemd_analyze_verify";
    let service = read_example("systemd/sweep.service");
    let timer = read_example("systemd/sweep.timer");
    assert_eq!(unit_value(&service, "Type"), "oneshot");
    assert_eq!(unit_value(&service, "ProtectSystem"), "strict");
    assert!(!unit_value(&service, "ReadWritePaths").is_empty());
    for (key, want) in [("PrivateTmp", "yes"), ("NoNewPrivileges", "yes"), ("ProtectHome", "read-only")] {
        assert_eq!(unit_value(&service, key), want, "{key}=");
    }
    assert!(unit_values(&service, "SuccessExitStatus").is_empty(), "a non-zero exit must fail the unit");
    assert_eq!(unit_value(&timer, "OnCalendar"), "*-*-* 02:15:00");
    assert_eq!(unit_value(&timer, "Persistent"), "true");
    assert!(unit_values(&timer, "Unit").is_empty(), "the timer starts sweep.service by its name");
    assert_eq!(unit_value(&timer, "WantedBy"), "timers.target");

    let Some(analyze) = require("systemd-analyze", TEST) else { return };
    let t = Tree::new();
    let units = t.dir.path().join("units");
    let (s, tm) = installable_units(&units, &service);
    // Documentation=man:sweep(1) is checked against the man page sweep generates.
    let manpath = required("man", TEST).map(|_| {
        let man1 = t.dir.path().join("man/man1");
        fs::create_dir_all(&man1).unwrap();
        fs::write(man1.join("sweep.1"), Sweep::new().arg("man").code(0).out.stdout).unwrap();
        t.dir.path().join("man")
    });
    let verify = |service: &Path| {
        let mut cmd = Command::new(&analyze);
        match &manpath {
            Some(m) => cmd.arg("verify").env("MANPATH", m),
            None => cmd.args(["verify", "--man=no"]),
        };
        run(cmd.arg(service).arg(&tm))
    };
    let out = verify(&s);
    let ours = about_our_units(&both(&out), &units);
    assert!(out.status.success() && ours.is_empty(), "systemd-analyze verify:\n{}", both(&out));

    // The same check catches a misspelt directive (verify only warns, exit 0).
    let broken = t.dir.path().join("broken");
    let (bs, _) =
        installable_units(&broken, &replace_once(&service, "[Service]\n", "[Service]\nNoNewPrivilegez=yes\n"));
    let out = verify(&bs);
    assert!(about_our_units(&both(&out), &broken).iter().any(|l| l.contains("NoNewPrivilegez")), "{}", both(&out));

    let out = run(Command::new(&analyze).args(["calendar", "--iterations=2"]).arg(unit_value(&timer, "OnCalendar")));
    assert!(out.status.success(), "{}", both(&out));
    assert!(both(&out).contains("Normalized form: *-*-* 02:15:00"), "{}", both(&out));

    // The hardening, as systemd rates it (0 safest, 10 unprotected). `--offline` is from
    // systemd 250.
    let out = run(Command::new(&analyze).args(["security", "--offline=true", "--no-pager"]).arg(&s));
    let report = both(&out);
    match report.lines().find_map(|l| l.split_once("Overall exposure level for sweep.service: ")) {
        Some((_, rest)) => {
            let score: f64 = rest.split_whitespace().next().unwrap().parse().unwrap();
            assert!(score < 4.0, "exposure {score}:\n{report}");
        }
        None => loud(&format!("{TEST}: this systemd-analyze has no offline `security`; exposure not checked")),
    }
}

#[test]
fn systemd_service_exec_start_runs() {
    let service = read_example("systemd/sweep.service");
    let words = exec_start(&service);
    let tokens: Vec<&str> = words.iter().map(String::as_str).collect();
    assert!(tokens[0].starts_with('/'), "an absolute program: {tokens:?}");
    assert_eq!(tokens[1], "apply");
    let mut writable: Vec<String> = unit_values(&service, "ReadWritePaths")
        .iter()
        .flat_map(|l| l.split_whitespace().map(|p| p.trim_start_matches(['-', '+']).to_string()).collect::<Vec<_>>())
        .collect();
    // RuntimeDirectory= is created writable under /run, whatever ProtectSystem= says.
    writable.extend(unit_values(&service, "RuntimeDirectory").iter().map(|d| format!("/run/{d}")));
    assert_eq!(unit_values(&service, "RuntimeDirectoryMode"), vec!["0700"], "only root may write the lock's directory");
    // StateDirectory= is /var/lib/NAME, writable likewise: --state-dir's default, where
    // max_delete: auto keeps its history, writable by root alone (or it is not trusted).
    let state: Vec<String> = unit_values(&service, "StateDirectory").iter().map(|d| format!("/var/lib/{d}")).collect();
    assert_eq!(state, vec![sweep::state::DEFAULT_DIR.to_string()], "StateDirectory= is --state-dir's default");
    assert_eq!(unit_values(&service, "StateDirectoryMode"), vec!["0755"], "writable by root alone");
    assert!(!tokens.contains(&"--state-dir"), "the default, so that the unit and sweep cannot disagree");
    for flag in ["--metrics-file", "--lock-file"] {
        let dir = Path::new(flag_value(&tokens, flag)).parent().unwrap();
        assert!(
            writable.iter().any(|w| dir.starts_with(w)),
            "{flag}'s directory {} is read-only under ProtectSystem=strict: ReadWritePaths={writable:?}",
            dir.display()
        );
    }

    let t = Tree::new();
    let (old, today) = (format!("{}/a.csv", utc_day(-2)), format!("{}/a.csv", utc_day(0)));
    t.files(&[&old, &today]);
    let config = policy_dir(&t, "etc-sweep", &daily_policy());
    let metrics = t.dir.path().join("sweep.prom");
    let argv = retarget(&tokens, &config, Some(&metrics), &t.dir.path().join("sweep.lock"));
    let out = run(Command::new(&argv[0]).args(&argv[1..]).env("TZ", "UTC"));
    assert_eq!(out.status.code(), Some(0), "{argv:?}\n{}", both(&out));
    assert_eq!(t.listing(), vec![today]);
    let prom = fs::read_to_string(&metrics).unwrap();
    assert!(prom.contains("\nsweep_last_run_exit_code 0\n"), "{prom}");
}

// ---------------------------------------------------------------------------------------
// Kubernetes

#[test]
fn kubernetes_cronjob_runs_once_without_retries_and_its_policy_checks() {
    let docs = yaml_documents(&read_example("kubernetes/cronjob.yaml"));
    let kind = |k: &str| docs.iter().find(|d| d["kind"] == k).unwrap_or_else(|| panic!("no {k} document"));
    let (cm, cj) = (kind("ConfigMap"), kind("CronJob"));
    assert_eq!(cj["apiVersion"], "batch/v1");
    let spec = &cj["spec"];
    assert_eq!(spec["concurrencyPolicy"], "Forbid");
    assert!(spec["startingDeadlineSeconds"].as_u64().is_some_and(|s| s > 0), "startingDeadlineSeconds");
    let job = &spec["jobTemplate"]["spec"];
    assert_eq!(job["backoffLimit"], 0, "a failed run is not retried");
    let pod = &job["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never", "OnFailure would restart the container in a loop");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);

    // Where each mount comes from.
    let volumes: BTreeMap<&str, &Value> =
        pod["volumes"].as_array().expect("volumes").iter().map(|v| (str_of(&v["name"], "volume name"), v)).collect();
    let mounts: Vec<(&str, &Value)> = c["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
        .iter()
        .map(|m| (str_of(&m["mountPath"], "mountPath"), volumes[str_of(&m["name"], "mount name")]))
        .collect();
    let mount_of =
        |path: &Path| mounts.iter().filter(|(m, _)| path.starts_with(m)).max_by_key(|(m, _)| m.len()).map(|(_, v)| *v);

    let mut words: Vec<&str> = vec![str_of(&c["command"][0], "command")];
    words.extend(c["args"].as_array().expect("args").iter().map(|a| str_of(a, "arg")));
    assert!(words[0].ends_with("/sweep") && words[1] == "apply", "{words:?}");
    let config = flag_value(&words, "-c");
    let policy_volume = mount_of(Path::new(config)).expect("-c is a mounted directory");
    assert_eq!(policy_volume["configMap"]["name"], cm["metadata"]["name"], "-c is the ConfigMap");
    let lock = Path::new(flag_value(&words, "--lock-file"));
    assert!(
        mount_of(lock).is_some_and(|v| v.get("emptyDir").is_some()),
        "the root filesystem is read-only: --lock-file {} must be on a writable volume",
        lock.display()
    );

    // The policies: each root is where the data volume is mounted.
    let files: Vec<(&str, &str)> = cm["data"]
        .as_object()
        .expect("ConfigMap data")
        .iter()
        .map(|(k, v)| (k.as_str(), str_of(v, "policy")))
        .collect();
    assert!(!files.is_empty() && files.iter().all(|(k, _)| k.ends_with(".yaml") || k.ends_with(".yml")), "{files:?}");
    let mut roots = Vec::new();
    for (name, text) in &files {
        let doc: Value = yaml(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        for p in doc["policies"].as_array().expect("policies") {
            let root = str_of(&p["root"], "root");
            let data = mount_of(Path::new(root)).unwrap_or_else(|| panic!("root {root} is not on a mounted volume"));
            assert!(data.get("persistentVolumeClaim").is_some(), "root {root} is on the data volume");
            assert!(mounts.iter().any(|(m, _)| *m == root), "the volume is mounted at the root {root} itself");
            roots.push(root.to_string());
        }
    }

    // `sweep check` on the ConfigMap as Kubernetes mounts it: each key a symlink into `..data`,
    // itself a symlink to a hidden timestamped directory.
    let t = Tree::new();
    let mount = |dir: &str, rewrite: &dyn Fn(&str) -> String| -> PathBuf {
        let m = t.dir.path().join(dir);
        let stamp = m.join("..2024_07_12_02_15_00.000000001");
        fs::create_dir_all(&stamp).unwrap();
        for (name, text) in &files {
            fs::write(stamp.join(name), rewrite(text)).unwrap();
            std::os::unix::fs::symlink(Path::new("..data").join(name), m.join(name)).unwrap();
        }
        std::os::unix::fs::symlink(stamp.file_name().unwrap(), m.join("..data")).unwrap();
        m
    };
    let etc = mount("etc-sweep", &|text| text.to_string());
    Sweep::new().arg("check").arg("-c").arg(format!("{}/", etc.display())).code(0).stdout_has("ok:");

    // The container's arguments on a scratch tree standing in for the volume.
    assert_eq!(roots.len(), 1, "one data volume, one root");
    let here = t.root.display().to_string();
    let scratch = mount("etc-sweep-scratch", &|text| text.replace(roots[0].as_str(), &here));
    // Two days ago (UTC) is expired in New York too, and inside the `max_delete` span;
    // today (UTC) is today or tomorrow there: kept.
    let (old, today) = (utc_day(-2), utc_day(0));
    let (old_part, old_marker, new_part) =
        (format!("{old}/part-0001.csv"), format!("{old}/_SUCCESS"), format!("{today}/part-0001.csv"));
    t.files(&[&old_part, &old_marker, &new_part]);
    let hour_ago = chrono::Utc::now().timestamp() - 3600; // older than min_age
    t.mtime(&old_part, hour_ago).mtime(&old_marker, hour_ago);
    let argv = retarget(&words, &scratch, None, &t.dir.path().join("sweep.lock"));
    let out = run(Command::new(&argv[0]).args(&argv[1..]));
    let text = both(&out);
    // Exit 8 only when the filesystem this test runs on is itself above disk_fail_above.
    let code = out.status.code();
    assert!(code == Some(0) || (code == Some(8) && text.contains("ABOVE disk_fail_above")), "{argv:?}\n{text}");
    assert_eq!(t.listing(), vec![new_part], "the expired partition went, marker and all");
    assert!(!t.exists(&old), "and its directory");
}

// ---------------------------------------------------------------------------------------
// CI: the GitHub workflow and the pre-commit hook

#[test]
fn ci_workflow_checks_the_policies() {
    let wf: Value = yaml(&read_example("ci/github-workflow.yml")).expect("the workflow is YAML");
    assert!(wf["on"].get("pull_request").is_some(), "runs on pull requests");
    let runs: Vec<&str> = wf["jobs"]
        .as_object()
        .expect("jobs")
        .values()
        .flat_map(|j| j["steps"].as_array().expect("steps"))
        .filter_map(|s| s["run"].as_str())
        .collect();
    assert!(runs.iter().any(|r| r.contains("cargo install --locked")), "installs sweep: {runs:?}");
    let checks: Vec<&str> =
        runs.iter().flat_map(|r| r.lines()).map(str::trim).filter(|l| l.starts_with("sweep check")).collect();
    assert_eq!(checks.len(), 1, "one `sweep check` line: {runs:?}");
    assert!(!checks[0].contains(['"', '\'', '$', '|', ';', '&']), "a plain command: {}", checks[0]);
    let args: Vec<&str> = checks[0].split_whitespace().skip(1).collect();
    assert_eq!(flag_value(&args, "-c"), "policies/");

    // From the repository's root, as the job runs it: this repository's policies pass.
    let mut s = Sweep::new();
    s.args(&args).command().current_dir(repo());
    s.code(0).stdout_has("ok:");

    // A copy with one broken policy fails the job with 3, naming the place.
    let t = Tree::new();
    fs::create_dir(t.dir.path().join("policies")).unwrap();
    for e in fs::read_dir(repo().join("policies")).unwrap() {
        let p = e.unwrap().path();
        let mut text = fs::read_to_string(&p).unwrap();
        if p.file_name().unwrap() == "ticker.yaml" {
            text = replace_once(&text, "keep: 1d", "keep: 0d");
        }
        fs::write(t.dir.path().join("policies").join(p.file_name().unwrap()), text).unwrap();
    }
    let mut s = Sweep::new();
    s.args(&args).command().current_dir(t.dir.path());
    s.code(3).stdout_has("policies/ticker.yaml:").stdout_has("keep must be at least 1");
}

#[test]
fn pre_commit_hook_refuses_invalid_staged_policies() {
    const TEST: &str = "examples::pre_commit_hook_refuses_invalid_staged_policies";
    let hook = example("ci/pre-commit");
    let mode = fs::metadata(&hook).unwrap().permissions().mode();
    assert!(mode & 0o111 != 0, "git ignores a hook that is not executable (mode {mode:o})");
    assert!(read_example("ci/pre-commit").starts_with("#!/usr/bin/env bash\n"));
    let syntax = run(Command::new("bash").arg("-n").arg(&hook));
    assert!(syntax.status.success(), "bash -n: {}", both(&syntax));
    let Some(git_bin) = require("git", TEST) else { return };

    let t = Tree::new();
    let work = t.dir.path().join("repo");
    fs::create_dir(&work).unwrap();
    let path = format!("{}:{}", Path::new(BIN).parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let git = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(&git_bin);
        cmd.args(args).current_dir(&work);
        for v in ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "SWEEP", "SWEEP_POLICY_DIR"] {
            cmd.env_remove(v);
        }
        cmd.env("GIT_CONFIG_GLOBAL", "/dev/null").env("GIT_CONFIG_NOSYSTEM", "1").env("HOME", t.dir.path());
        cmd.env("PATH", &path).envs(env.iter().copied());
        run(&mut cmd)
    };
    let ok = |args: &[&str]| {
        let out = git(args, &[]);
        assert!(out.status.success(), "git {args:?}: {}", both(&out));
    };
    let commits = || String::from_utf8(git(&["rev-list", "--count", "HEAD"], &[]).stdout).unwrap().trim().to_string();
    let write = |rel: &str, text: &str| {
        fs::create_dir_all(work.join(rel).parent().unwrap()).unwrap();
        fs::write(work.join(rel), text).unwrap();
    };
    let commit = |msg: &str, env: &[(&str, &str)]| git(&["commit", "-q", "-m", msg], env);

    ok(&["init", "-q"]);
    ok(&["config", "user.name", "Policy Author"]);
    ok(&["config", "user.email", "author@example.com"]);
    fs::copy(&hook, work.join(".git/hooks/pre-commit")).unwrap();

    // Commits that touch no policy are not checked.
    write("README", "policies for the data hosts\n");
    ok(&["add", "README"]);
    let out = commit("readme", &[("SWEEP", "/nonexistent/sweep")]);
    assert!(out.status.success(), "{}", both(&out));

    // A valid policy commits.
    let valid = fs::read_to_string(repo().join("policies/ticker.yaml")).unwrap();
    let invalid = replace_once(&valid, "keep: 1d", "keep: 0d");
    write("policies/ticker.yaml", &valid);
    ok(&["add", "policies/ticker.yaml"]);
    let out = commit("ticker", &[]);
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(commits(), "2");

    // An invalid one is refused, naming the file as it is in the repository.
    write("policies/ticker.yaml", &invalid);
    ok(&["add", "policies/ticker.yaml"]);
    let out = commit("break it", &[]);
    assert!(!out.status.success(), "{}", both(&out));
    let said = both(&out);
    assert!(said.contains("policies/ticker.yaml:") && said.contains("policies[0].keep"), "{said}");
    assert!(said.contains("commit refused"), "{said}");
    assert_eq!(commits(), "2", "nothing committed");

    // What counts is what is staged: a fixed working tree does not let the staged error in...
    let revised = format!("{valid}# reviewed\n");
    write("policies/ticker.yaml", &revised);
    let out = commit("still broken", &[]);
    assert!(!out.status.success() && both(&out).contains("commit refused"), "{}", both(&out));
    assert_eq!(commits(), "2");
    // ...and a broken working tree (a changed file, an untracked draft) does not block a
    // valid staged file.
    ok(&["add", "policies/ticker.yaml"]);
    write("policies/ticker.yaml", &invalid);
    write("policies/draft.yaml", &invalid);
    let out = commit("fixed", &[]);
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(commits(), "3");
    let committed = git(&["show", "HEAD:policies/ticker.yaml"], &[]);
    assert_eq!(String::from_utf8_lossy(&committed.stdout), revised);

    // The directory is checked as a whole: a second file reusing a policy name is refused.
    write("policies/ticker-copy.yml", &valid);
    ok(&["add", "policies/ticker-copy.yml"]);
    let said = both(&commit("duplicate", &[]));
    assert!(said.contains("duplicate policy name `ticker-load`"), "{said}");
    assert_eq!(commits(), "3");

    // A sweep that cannot run refuses the commit too.
    let said = both(&commit("no sweep", &[("SWEEP", "/nonexistent/sweep")]));
    assert!(said.contains("'/nonexistent/sweep' not found"), "{said}");
    assert_eq!(commits(), "3");
}

// ---------------------------------------------------------------------------------------
// Prometheus

#[test]
fn prometheus_rules_pass_promtool_and_their_tests() {
    const TEST: &str = "examples::prometheus_rules_pass_promtool_and_their_tests";
    let Some(bin) = require("promtool", TEST) else { return };
    let promtool = |args: &[&str], file: &Path| run(Command::new(&bin).args(args).arg(file));
    let out = promtool(&["check", "rules"], &example("prometheus/sweep-alerts.yml"));
    assert!(out.status.success(), "{}", both(&out));
    let out = promtool(&["test", "rules"], &example("prometheus/sweep-alerts.test.yml"));
    assert!(out.status.success(), "{}", both(&out));

    // Broken copies fail: a syntax error fails `check`, a changed threshold fails the tests.
    let t = Tree::new();
    let rules = read_example("prometheus/sweep-alerts.yml");
    let (copy, tests) = (t.dir.path().join("sweep-alerts.yml"), t.dir.path().join("sweep-alerts.test.yml"));
    fs::copy(example("prometheus/sweep-alerts.test.yml"), &tests).unwrap();
    fs::write(&copy, replace_once(&rules, "expr: sweep_last_run_exit_code != 0", "expr: sweep_last_run_exit_code !="))
        .unwrap();
    assert!(!promtool(&["check", "rules"], &copy).status.success());
    fs::write(&copy, replace_once(&rules, "sweep_filesystem_used_ratio > 0.9", "sweep_filesystem_used_ratio > 0.99"))
        .unwrap();
    let out = promtool(&["test", "rules"], &tests);
    assert!(!out.status.success() && both(&out).contains("SweepDiskAboveThreshold"), "{}", both(&out));
    fs::write(&copy, replace_once(&rules, "sweep_forecast_fit_ratio > 1", "sweep_forecast_fit_ratio > 1.5")).unwrap();
    let out = promtool(&["test", "rules"], &tests);
    assert!(!out.status.success() && both(&out).contains("SweepRetentionWillNotFit"), "{}", both(&out));
}

/// One alerting rule of `sweep-alerts.yml`.
struct Rule {
    alert: String,
    expr: String,
    labels: BTreeMap<String, String>,
    /// Every annotation's template, one after the other.
    annotations: String,
}

fn alert_rules(doc: &Value) -> Vec<Rule> {
    let map = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), str_of(v, "value").to_string())).collect())
            .unwrap_or_default()
    };
    doc["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules"))
        .map(|r| Rule {
            alert: str_of(&r["alert"], "alert").to_string(),
            expr: str_of(&r["expr"], "expr").to_string(),
            labels: map(&r["labels"]),
            annotations: map(&r["annotations"]).into_values().collect::<Vec<_>>().join("\n"),
        })
        .collect()
}

/// Each `sweep_*` selector in a PromQL expression: its name and its `label="value"` matchers.
fn selectors(expr: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("sweep_") {
        let tail = &rest[i..];
        let end = tail.find(|c: char| !(c.is_ascii_lowercase() || c == '_')).unwrap_or(tail.len());
        let name = tail[..end].to_string();
        let mut matchers = Vec::new();
        if let Some(inner) = tail[end..].strip_prefix('{') {
            let close = inner.find('}').expect("closed selector");
            for m in inner[..close].split(',').filter(|m| !m.trim().is_empty()) {
                let (k, v) = m.split_once('=').unwrap_or_else(|| panic!("matcher {m}"));
                assert!(!v.starts_with(['~', '=']) && !k.ends_with('!'), "only exact matchers are checked: {m}");
                matchers.push((k.trim().to_string(), v.trim().trim_matches('"').to_string()));
            }
        }
        out.push((name, matchers));
        rest = &tail[end..];
    }
    out
}

#[test]
fn alert_rules_use_only_what_sweep_writes() {
    let t = Tree::new();
    let real = samples(&real_metrics(&t));
    let scrape = ["instance", "job"];
    let labels_of = |name: &str| -> BTreeSet<String> {
        real.iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, l)| l.keys().cloned())
            .chain(scrape.map(String::from))
            .collect()
    };
    let doc: Value = yaml(&read_example("prometheus/sweep-alerts.yml")).unwrap();
    let rules = alert_rules(&doc);
    assert!(rules.len() >= 4, "{} rules", rules.len());
    for Rule { alert, expr, annotations, .. } in &rules {
        let used = selectors(expr);
        assert!(!used.is_empty(), "{alert}: no sweep metric in {expr}");
        for (name, matchers) in &used {
            assert!(real.iter().any(|(n, _)| n == name), "{alert}: sweep writes no {name}");
            for (k, v) in matchers {
                assert!(
                    real.iter().any(|(n, l)| n == name && l.get(k) == Some(v)),
                    "{alert}: sweep writes no {name}{{{k}=\"{v}\"}}"
                );
            }
        }
        // `$labels.x` in the annotations must be a label the alert's series carry.
        let available: BTreeSet<String> = if expr.starts_with("absent(") {
            BTreeSet::new()
        } else {
            used.iter().flat_map(|(n, _)| labels_of(n)).collect()
        };
        for part in annotations.split("$labels.").skip(1) {
            let label: String = part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            assert!(available.contains(&label), "{alert}: $labels.{label} is not among {available:?}");
        }
    }

    // The rule tests feed series shaped like sweep's: real names, real label names and values.
    let tests: Value = yaml(&read_example("prometheus/sweep-alerts.test.yml")).unwrap();
    for case in tests["tests"].as_array().expect("tests") {
        for input in case["input_series"].as_array().expect("input_series") {
            let (name, labels) = parse_series(str_of(&input["series"], "series"));
            if !name.starts_with("sweep_") {
                continue;
            }
            assert!(real.iter().any(|(n, _)| *n == name), "sweep writes no {name}");
            let known = labels_of(&name);
            for (k, v) in &labels {
                assert!(known.contains(k), "{name}: sweep writes no label {k}");
                if !scrape.contains(&k.as_str()) && k != "policy" {
                    assert!(real.iter().any(|(n, l)| *n == name && l.get(k) == Some(v)), "{name}: no {k}=\"{v}\"");
                }
            }
        }
    }
}

#[test]
fn alert_rules_fire_on_real_metrics_files() {
    const TEST: &str = "examples::alert_rules_fire_on_real_metrics_files";
    let Some(promtool) = require("promtool", TEST) else { return };
    let mut doc: Value = yaml(&read_example("prometheus/sweep-alerts.yml")).unwrap();
    let severity: BTreeMap<String, String> = alert_rules(&doc)
        .into_iter()
        .map(|r| (r.alert, r.labels.get("severity").cloned().unwrap_or_default()))
        .collect();
    // Annotations are the rule tests' business; here only which alerts fire, with which labels.
    for g in doc["groups"].as_array_mut().unwrap() {
        for r in g["rules"].as_array_mut().unwrap() {
            r.as_object_mut().unwrap().remove("annotations");
        }
    }
    let t = Tree::new();
    fs::write(t.dir.path().join("rules.yml"), serde_json::to_string_pretty(&doc).unwrap()).unwrap();

    // A failing run (an unmatched file: exit 7) and a clean one, each a real metrics file.
    let failing = real_metrics(&t);
    let clean_tree = Tree::new();
    clean_tree.files(&["2024-07-01/a.csv", "2024-07-12/a.csv"]);
    let p = clean_tree.policy(&daily_policy());
    let m = clean_tree.dir.path().join("sweep.prom");
    clean_tree.sweep("apply", &p, NOW).arg("--metrics-file").arg(&m).code(0);
    let clean = fs::read_to_string(&m).unwrap();
    // A retention that cannot fit: five daily partitions of 512 KiB on a 4 MiB tmpfs, and
    // keep: 10d below disk_fail_above 90% (5 MiB needed, 3.6 MiB of room). Exit 0.
    let full = Tree::new();
    let _tmpfs = Tmpfs::mount(&full.root, "size=4m");
    for d in 7..=11 {
        full.file_sized(&format!("2024-07-{d:02}/a.bin"), 512 * 1024);
    }
    let p = full.policy(&one_policy(&["%Y-%m-%d/**"], "10d", "disk_fail_above: 90%"));
    let m = full.dir.path().join("sweep.prom");
    full.sweep("plan", &p, NOW).arg("--metrics-file").arg(&m).code(0);
    let will_not_fit = fs::read_to_string(&m).unwrap();

    let scrape = "instance=\"db1:9100\",job=\"node\"";
    let series = |prom: &str| -> String {
        prom.lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (s, v) = l.rsplit_once(' ').unwrap();
                let s = match s.split_once('{') {
                    Some((name, rest)) => format!("{name}{{{scrape},{rest}"),
                    None => format!("{s}{{{scrape}}}"),
                };
                format!("      - series: '{s}'\n        values: '{v}x30'\n")
            })
            .collect()
    };
    let expect = |alert: &str, fired: &[&[(&str, &str)]]| -> String {
        let mut s = format!("      - eval_time: 10m\n        alertname: {alert}\n        exp_alerts:");
        if fired.is_empty() {
            s.push_str(" []\n");
        }
        for labels in fired {
            let mut all: BTreeMap<&str, &str> = [("instance", "db1:9100"), ("job", "node")].into();
            all.insert("severity", &severity[alert]);
            all.extend(labels.iter().copied());
            let body: Vec<String> = all.iter().map(|(k, v)| format!("{k}: \"{v}\"")).collect();
            s.push_str(&format!("\n          - exp_labels: {{{}}}\n", body.join(", ")));
        }
        s
    };
    let quiet = ["SweepNoRecentSuccess", "SweepMetricsMissing"].map(|a| expect(a, &[])).concat();
    let fits = expect("SweepRetentionWillNotFit", &[]);
    let test = format!(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n\
         \x20 - name: failing run\n    interval: 1m\n    input_series:\n{}    alert_rule_test:\n{}{}{}{fits}\
         \x20 - name: clean run\n    interval: 1m\n    input_series:\n{}    alert_rule_test:\n{}{}{}{fits}\
         \x20 - name: retention will not fit\n    interval: 1m\n    input_series:\n{}    alert_rule_test:\n{}{}",
        series(&failing),
        expect("SweepCleanupFailed", &[&[]]),
        expect("SweepUnmatchedFiles", &[&[("policy", "t"), ("action", "unmatched")]]),
        quiet,
        series(&clean),
        expect("SweepCleanupFailed", &[]),
        expect("SweepUnmatchedFiles", &[]),
        quiet,
        series(&will_not_fit),
        expect("SweepRetentionWillNotFit", &[&[("policy", "t")]]),
        expect("SweepCleanupFailed", &[]),
    );
    let file = t.dir.path().join("real.test.yml");
    fs::write(&file, &test).unwrap();
    let out = run(Command::new(&promtool).args(["test", "rules"]).arg(&file));
    assert!(out.status.success(), "{}\n--- {}\n{test}", both(&out), file.display());
}

// ---------------------------------------------------------------------------------------

#[test]
fn examples_readme_names_every_file_and_test() {
    let readme = read_example("README.md");
    let mut files = Vec::new();
    let mut dirs = vec![example("")];
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                files.push(p.strip_prefix(example("")).unwrap().display().to_string());
            }
        }
    }
    for f in files.iter().filter(|f| *f != "README.md") {
        assert!(readme.contains(&format!("`{f}`")), "examples/README.md does not describe {f}");
    }
    let this = fs::read_to_string(repo().join("tests/it/examples.rs")).unwrap();
    let tests = this.split("#[test]\nfn ").skip(1).map(|s| &s[..s.find('(').unwrap()]);
    for name in tests.filter(|n| *n != "examples_readme_names_every_file_and_test") {
        assert!(readme.contains(&format!("`{name}`")), "examples/README.md does not name the test {name}");
    }
}

/// `setpriv` arguments that give a command exactly the capabilities of the unit's
/// `CapabilityBoundingSet=` (and nothing else, as systemd would), optionally without one.
fn unit_capabilities(without: Option<&str>) -> Vec<String> {
    let service = read_example("systemd/sweep.service");
    let caps: Vec<String> = unit_value(&service, "CapabilityBoundingSet")
        .split_whitespace()
        .map(|c| c.trim_start_matches("CAP_").to_lowercase())
        .filter(|c| Some(c.as_str()) != without)
        .collect();
    let set = format!("-all,{}", caps.iter().map(|c| format!("+{c}")).collect::<Vec<_>>().join(","));
    vec![format!("--bounding-set={set}"), format!("--inh-caps={set}")]
}

/// The shipped unit grants what the shipped features need: under exactly its capability
/// set, `skip_open` sees another user's open (and memory-mapped) files, and `compress`
/// gives a file its owner back. Without CAP_SYS_PTRACE, skip_open cannot judge and
/// refuses; without CAP_CHOWN, the compression fails rather than leave a root-owned file.
#[test]
fn the_units_capabilities_cover_open_files_and_tiers() {
    let test = "examples::the_units_capabilities_cover_open_files_and_tiers";
    let Some(setpriv) = require("setpriv", test) else { return };
    let Some(nobody) = User::new(65534, 65534, test) else { return };
    let t = Tree::new();
    for d in [t.dir.path(), t.root.as_path()] {
        fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    t.file_sized("2024-07-01/held.log", 100);
    t.file_sized("2024-07-01/mapped.bin", 4096);
    t.file_bytes("2024-07-05/report.csv", &b"date,value\n".repeat(200));
    for f in ["2024-07-01/held.log", "2024-07-01/mapped.bin", "2024-07-05/report.csv"] {
        std::os::unix::fs::chown(t.path(f), Some(2), Some(2)).unwrap();
        fs::set_permissions(t.path(f), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    }
    // nobody holds one file open and maps another (then closes its descriptor).
    let holder = nobody
        .command("sleep")
        .arg("60")
        .stdin(fs::File::open(t.path("2024-07-01/held.log")).unwrap())
        .spawn()
        .unwrap();
    let mapper = nobody
        .command("python3")
        .args(["-c", "import mmap,sys,time\nf=open(sys.argv[1],'rb')\nm=mmap.mmap(f.fileno(),0,prot=mmap.PROT_READ)\nf.close()\nprint('ok',flush=True)\ntime.sleep(60)"])
        .arg(t.path("2024-07-01/mapped.bin"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut mapper = mapper;
    let mut ready = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(mapper.stdout.take().unwrap()), &mut ready).unwrap();
    assert_eq!(ready.trim(), "ok", "the mapping process is ready");
    let p = t.policy(&one_policy(&["%Y-%m-%d/*"], "10d", "compress: {after: 3d, format: zstd}"));
    let run = |without: Option<&str>, sub: &str| {
        let mut c = Command::new(&setpriv);
        c.args(unit_capabilities(without)).arg(BIN).arg(sub).arg("-c").arg(&p).args(["--now", NOW, "--format", "json"]);
        if sub == "apply" {
            c.arg("--lock-file").arg(t.dir.path().join("sweep.lock"));
        }
        c.env("TZ", "UTC").output().unwrap()
    };
    // Without CAP_SYS_PTRACE: blind, refused.
    let blind = run(Some("sys_ptrace"), "plan");
    let text = String::from_utf8_lossy(&blind.stdout);
    assert_eq!(blind.status.code(), Some(6), "{text}\n{}", String::from_utf8_lossy(&blind.stderr));
    assert!(text.contains("\"guard\":\"skip_open\"") && text.contains("CAP_SYS_PTRACE"), "{text}");
    // With the unit's set: both files are seen as in use, the rest goes on.
    let done = run(None, "apply");
    let text = String::from_utf8_lossy(&done.stdout).into_owned();
    let _ = (nobody, holder.id());
    let mut holder = holder;
    let _ = holder.kill();
    let _ = mapper.kill();
    let _ = holder.wait();
    let _ = mapper.wait();
    assert_eq!(done.status.code(), Some(0), "{text}\n{}", String::from_utf8_lossy(&done.stderr));
    for (f, pid) in [("held.log", holder.id()), ("mapped.bin", mapper.id())] {
        let line = text.lines().find(|l| l.contains(f)).unwrap_or_else(|| panic!("{f}: {text}"));
        assert!(line.contains("\"action\":\"protect\"") && line.contains(&format!("open by {pid}")), "{line}");
    }
    let z = t.path("2024-07-05/report.csv.zst");
    let meta = fs::metadata(&z).unwrap_or_else(|e| panic!("compressed under the unit's capabilities: {e}\n{text}"));
    assert_eq!((std::os::unix::fs::MetadataExt::uid(&meta), std::os::unix::fs::MetadataExt::gid(&meta)), (2, 2));
}
