//! `sweep demo`: the incident, reproduced in a scratch directory, and the fix.
//!
//! A nightly `rm -f /data/ticker/*` cleaned yesterday's files until upstream started
//! writing one directory per date. The demo builds that tree (old flat files plus the new
//! per-date directories), runs `plan` with a policy that knows only the old layout (the
//! new files show up as UNMATCHED and the exit code is 7, instead of a disk that fills
//! in silence), then the fixed policy, then `apply`, and shows what is left and where.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::{ClockArgs, DemoArgs, OutputArgs, PolicyArgs, RunArgs, When};
use crate::exit::Exit;

/// The time the demo evaluates at: 02:00 in New York, when the nightly job runs.
const NOW: &str = "2024-07-12T02:00:00-04:00";

/// Runs the demo.
pub fn demo(args: &DemoArgs) -> Exit {
    match build_and_run(args) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("sweep: error: demo: {e}");
            Exit::Internal
        }
    }
}

fn build_and_run(args: &DemoArgs) -> std::io::Result<Exit> {
    let base = match &args.dir {
        Some(d) => {
            fs::create_dir_all(d)?;
            d.canonicalize()?
        }
        None => tempfile::Builder::new().prefix("sweep-demo-").tempdir()?.keep(),
    };
    let root = base.join("data/ticker");
    let files = build_tree(&root)?;
    let policies = base.join("policies");
    fs::create_dir_all(&policies)?;
    let old = policies.join("ticker-old.yaml");
    let fixed = policies.join("ticker.yaml");
    fs::write(&old, policy_text(&root, "ticker-old", &["ticker_%Y-%m-%d.csv"]))?;
    fs::write(&fixed, policy_text(&root, "ticker", &["%Y-%m-%d/**", "ticker_%Y-%m-%d.csv"]))?;

    let mut out = std::io::stdout().lock();
    writeln!(out, "sweep demo — the incident sweep was written for, in a scratch directory\n")?;
    writeln!(
        out,
        "A nightly `rm -f /data/ticker/*` deleted yesterday's files. Upstream switched to one\n\
         directory per date; rm refused the directories on a stderr nobody read, and the disk\n\
         filled for two weeks until the morning batch failed at market open.\n"
    )?;
    writeln!(out, "Tree: {} ({files} files: 3 old flat files, 9 per-date directories)", root.display())?;
    writeln!(out, "Every run below evaluates as of {NOW} (--now), keep: 1d (T-1 and older go).\n")?;
    drop(out);

    let lock = base.join("sweep.lock");
    let step = |title: &str, cmd: &str, policy: &Path, apply: bool| -> Exit {
        println!("── {title}\n$ sweep {cmd} -c {} --now {NOW}\n", policy.display());
        let args = run_args(policy, &args.output);
        let exit = crate::demo_run(&args, apply, &lock);
        println!();
        exit
    };
    let first = step("1. plan with the old policy (it knows only ticker_%Y-%m-%d.csv)", "plan", &old, false);
    println!("   ↳ the per-date directories are UNMATCHED and the run exits {}: cron mail, metrics and", first.code());
    println!("     alerts all see it the same night, instead of a disk that fills in silence.\n");
    let second = step("2. plan with the fixed policy (new layout first, old one kept)", "plan", &fixed, false);
    let third = step("3. apply the fixed policy", "apply", &fixed, true);

    println!("── what is left under {}", root.display());
    let mut left = Vec::new();
    list(&root, &root, &mut left)?;
    left.sort();
    for f in &left {
        println!("   {f}");
    }
    println!("\nThe scratch tree and its policies stay in {} — try:", base.display());
    println!("   sweep explain -c {} --now {NOW} {}", fixed.display(), root.join("2024-07-11/part-0001.csv").display());
    println!("   sweep plan -c {} --now 2024-07-13T02:00:00-04:00 -v", fixed.display());
    let ok = first == Exit::Unmatched && second == Exit::Clean && third == Exit::Clean;
    Ok(if ok { Exit::Clean } else { Exit::Internal })
}

fn run_args(policy: &Path, output: &OutputArgs) -> RunArgs {
    RunArgs {
        policies: PolicyArgs { config: vec![policy.to_path_buf()], policy: Vec::new() },
        clock: ClockArgs { now: Some(NOW.to_string()) },
        output: OutputArgs {
            format: output.format,
            verbose: output.verbose,
            color: output.color,
            log_format: output.log_format,
        },
        progress: When::Never,
        metrics_file: None,
    }
}

fn policy_text(root: &Path, name: &str, layouts: &[&str]) -> String {
    let layouts: Vec<String> = layouts.iter().map(|l| format!("      - \"{l}\"")).collect();
    format!(
        "version: 1\npolicies:\n  - name: {name}\n    root: {}\n    timezone: America/New_York\n    layouts:\n{}\n    keep: 1d\n",
        root.display(),
        layouts.join("\n")
    )
}

/// Old flat files for 1–3 July, then one directory per date from 4 to 12 July.
fn build_tree(root: &Path) -> std::io::Result<usize> {
    fs::create_dir_all(root)?;
    let mut n = 0;
    for day in 1..=3 {
        fs::write(root.join(format!("ticker_2024-07-{day:02}.csv")), csv(day, 0))?;
        n += 1;
    }
    for day in 4..=12 {
        let dir = root.join(format!("2024-07-{day:02}"));
        fs::create_dir_all(&dir)?;
        for part in 1..=4 {
            fs::write(dir.join(format!("part-{part:04}.csv")), csv(day, part))?;
            n += 1;
        }
    }
    Ok(n)
}

fn csv(day: u32, part: u32) -> String {
    let mut s = String::from("symbol,price\n");
    for i in 0..200 {
        s.push_str(&format!("T{i:03},{}.{:02}\n", 100 + day, (part * 7 + i) % 100));
    }
    s
}

fn list(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for e in fs::read_dir(dir)? {
        let p: PathBuf = e?.path();
        if p.is_dir() {
            list(root, &p, out)?;
        } else {
            out.push(p.strip_prefix(root).unwrap_or(&p).display().to_string());
        }
    }
    Ok(())
}
