//! What people and log shippers see: progress only where asked or on a terminal, colour
//! only on a terminal and never with NO_COLOR, diagnostics as JSON on request.

use std::process::Command;

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";

fn tree() -> (Tree, std::path::PathBuf) {
    let t = Tree::new();
    t.files(&["2024-07-01/a", "2024-07-12/a", "staging/x"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    (t, p)
}

/// Runs `sh -c CMD` on a pseudo-terminal (util-linux `script`); returns what the terminal showed.
fn on_a_terminal(cmd: &str, env: &[(&str, &str)]) -> String {
    let mut c = Command::new("script");
    c.args(["-q", "-e", "-c", cmd, "/dev/null"]).env_remove("NO_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("script(1) from util-linux runs commands on a pty");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn progress_is_drawn_only_when_asked_or_on_a_terminal() {
    let (t, p) = tree();
    let always = t.sweep("plan", &p, NOW).args(["--progress", "always"]).code(7);
    always.stderr_has("t: 3 files");
    for mode in ["never", "auto"] {
        let quiet = t.sweep("plan", &p, NOW).args(["--progress", mode]).code(7);
        assert!(!quiet.stderr().contains("files,"), "{mode}: no bar in a pipe:\n{}", quiet.stderr());
    }
    let cmd = format!("{BIN} plan -c {} --now {NOW}", p.display());
    let screen = on_a_terminal(&cmd, &[]);
    assert!(screen.contains("t: 3 files"), "auto draws on a terminal:\n{screen}");
    let screen = on_a_terminal(&format!("{cmd} --progress never"), &[]);
    assert!(!screen.contains("t: 3 files"), "never means never:\n{screen}");
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let (t, p) = tree();
    let piped = t.sweep("plan", &p, NOW).code(7);
    assert!(!piped.stdout().contains('\x1b'), "no escapes in a pipe");
    let forced = t.sweep("plan", &p, NOW).args(["--color", "always"]).code(7);
    assert!(forced.stdout().contains("\x1b[1;31m!! UNMATCHED"), "unmatched is loudest:\n{}", forced.stdout());
    let cmd = format!("{BIN} plan -c {} --now {NOW} --progress never", p.display());
    assert!(on_a_terminal(&cmd, &[]).contains("\x1b["), "colour on a terminal");
    assert!(!on_a_terminal(&cmd, &[("NO_COLOR", "1")]).contains("\x1b["), "NO_COLOR wins over auto");
}

#[test]
fn text_output_puts_unmatched_first_and_ends_with_the_exit_code() {
    let (t, p) = tree();
    let out = t.sweep("plan", &p, NOW).code(7).stdout();
    let unmatched = out.find("UNMATCHED").unwrap();
    let delete = out.find("delete    2024-07-01").unwrap();
    assert!(unmatched < delete, "unmatched groups come before partitions:\n{out}");
    assert!(out.trim_end().ends_with("exit 7: unmatched files under a root with on_unmatched: fail"), "{out}");
    assert!(out.contains("cutoff 2024-07-12T00:00:00+00:00"));
}

#[test]
fn diagnostics_can_be_json_lines() {
    let (t, p) = tree();
    let done = t.sweep("plan", &p, NOW).args(["--log-format", "json"]).code(7);
    let lines: Vec<serde_json::Value> =
        done.stderr().lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert!(!lines.is_empty());
    let l = lines.iter().find(|l| l["level"] == "error").expect("an error line");
    assert_eq!(l["policy"], "t");
    assert!(l["message"].as_str().unwrap().contains("match no layout"));
    assert!(l["ts"].as_str().unwrap().ends_with('Z'));
    // Policy errors too.
    let bad = t.policy_named("bad.yaml", &one_policy(&["%Y-%m-%d/**"], "0d", ""));
    let done = Sweep::new().args(["plan", "--log-format", "json", "-c"]).arg(&bad).code(3);
    let l: serde_json::Value = serde_json::from_str(done.stderr().lines().next().unwrap()).unwrap();
    assert!(l["message"].as_str().unwrap().contains("keep must be at least 1"));
}
