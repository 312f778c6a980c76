//! `sweep demo`: the incident, reproduced in a scratch directory, and the fix.
//!
//! A nightly `rm -f /data/ticker/*` cleaned yesterday's files until upstream started
//! writing one directory per date. The demo builds that tree (old flat files plus the new
//! per-date directories), runs `plan` with a policy that knows only the old layout (the
//! new files show up as UNMATCHED and the exit code is 7, instead of a disk that fills
//! in silence), then the fixed policy, then `apply`, and shows what is left and where.
//! Then the next incidents: a burst a capacity target absorbs, and the forecast that
//! says, before the disk fills, whether a retention can fit at all.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;

use crate::clock::Now;
use crate::config::{DemoConfig, RunConfig, Selection};
use crate::exit::Exit;
use crate::report::Printer;
use crate::tree::Mode;

/// The time the demo evaluates at: 02:00 in New York, when the nightly job runs.
const NOW: &str = "2024-07-12T02:00:00-04:00";

/// Runs the demo.
pub fn run(cfg: &DemoConfig, signal: &AtomicUsize) -> Exit {
    let mut out = Printer::new(cfg.style);
    match build_and_run(cfg, signal, &mut out) {
        Ok(e) => out.finish(e),
        Err(e) => {
            out.log().error(&format!("demo: {e}"));
            out.finish(Exit::Internal)
        }
    }
}

fn build_and_run(args: &DemoConfig, signal: &AtomicUsize, out: &mut Printer) -> std::io::Result<Exit> {
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

    out.line("sweep demo — the incident sweep was written for, in a scratch directory\n");
    out.line(
        "A nightly `rm -f /data/ticker/*` deleted yesterday's files. Upstream switched to one\n\
         directory per date; rm refused the directories on a stderr nobody read, and the disk\n\
         filled for two weeks until the morning batch failed at market open.\n",
    );
    out.line(format_args!("Tree: {} ({files} files: 3 old flat files, 9 per-date directories)", root.display()));
    out.line(format_args!("Every run below evaluates as of {NOW} (--now), keep: 1d (T-1 and older go).\n"));

    let lock = base.join("sweep.lock");
    let step = |out: &mut Printer, title: &str, cmd: &str, policy: &Path, mode: Mode| -> Exit {
        out.line(format_args!("── {title}\n$ sweep {cmd} -c {} --now {NOW}\n", policy.display()));
        let _ = std::io::Write::flush(out);
        let cfg = run_config(policy, args, mode, &lock);
        let exit = super::plan::run(&cfg, signal);
        out.line("");
        exit
    };
    let first = step(out, "1. plan with the old policy (it knows only ticker_%Y-%m-%d.csv)", "plan", &old, Mode::Plan);
    out.line(format_args!(
        "   ↳ the per-date directories are UNMATCHED and the run exits {}: cron mail, metrics and",
        first.code()
    ));
    out.line("     alerts all see it the same night, instead of a disk that fills in silence.\n");
    let second =
        step(out, "2. plan with the fixed policy (new layout first, old one kept)", "plan", &fixed, Mode::Plan);
    let third = step(out, "3. apply the fixed policy", "apply", &fixed, Mode::Apply);

    out.line(format_args!("── what is left under {}", root.display()));
    let mut left = Vec::new();
    list(&root, &root, &mut left)?;
    left.sort();
    for f in &left {
        out.line(format_args!("   {f}"));
    }

    // The next incident: a burst the age rule alone cannot absorb.
    let events = base.join("data/events");
    build_events(&events)?;
    let capped = policies.join("events.yaml");
    fs::write(&capped, events_policy(&events))?;
    out.line("");
    out.line(
        "   data/events holds a week of daily partitions; keep: 7d deletes none of them. Upstream\n   \
         wrote a burst today, and the volume has room for 1 MiB of events (max_bytes: 1M):",
    );
    let fourth = step(out, "4. apply a policy with a capacity target", "apply", &capped, Mode::Apply);
    out.line("   ↳ the oldest partitions outside keep_min went, one whole partition at a time, until the");
    out.line("     events fit; with min_free: 15% instead, the same happens against the real filesystem.");

    // Foresight: the arithmetic that would have caught the incident on its first night.
    let orders = base.join("data/orders");
    build_orders(&orders)?;
    let foreseen = policies.join("orders.yaml");
    fs::write(&foreseen, orders_policy(&orders))?;
    out.line("");
    out.line(
        "   Every plan and apply also forecasts whether keep can fit at all: the median bytes of the\n   \
         newest complete partitions, times the partitions keep holds, against the room below\n   \
         disk_fail_above that the rest of the filesystem leaves.",
    );
    out.line(format_args!(
        "── 5. plan a policy that keeps 30 days of orders\n$ sweep plan -c {} --now {NOW}\n",
        foreseen.display()
    ));
    let _ = std::io::Write::flush(out);
    let fifth = match super::plan::summary(&run_config(&foreseen, args, Mode::Plan, &lock), signal) {
        Ok(s) => {
            out.line("");
            if let Some(f) = s.policies.iter().find_map(|p| p.forecast) {
                out.line(format_args!(
                    "   ↳ keep 30d fits: the forecast (JSON summary, metric sweep_forecast_fit_ratio) has fit {:.6}",
                    f.fit
                ));
                out.line(format_args!(
                    "     ({} needed at {} a day, {} of room), so plan printed no forecast line.",
                    crate::report::reason::size(f.footprint),
                    crate::report::reason::size(f.bytes_per_period),
                    crate::report::reason::size(f.room)
                ));
                out.line("     On the incident's disk the same arithmetic prints, on the first night, two weeks");
                out.line("     before the disk filled:");
                out.line(format_args!("     {}", crate::report::reason::forecast("ticker-load", &incident())));
            }
            s.exit
        }
        Err(e) => e,
    };

    out.line(format_args!("\nThe scratch tree and its policies stay in {} — try:", base.display()));
    out.line(format_args!(
        "   sweep explain -c {} --now {NOW} {}",
        fixed.display(),
        root.join("2024-07-11/part-0001.csv").display()
    ));
    out.line(format_args!("   sweep plan -c {} --now 2024-07-13T02:00:00-04:00 -v", fixed.display()));
    let ok = first == Exit::Unmatched
        && second == Exit::Clean
        && third == Exit::Clean
        && fourth == Exit::Clean
        && fifth == Exit::Clean;
    Ok(if ok { Exit::Clean } else { Exit::Internal })
}

/// The configuration `sweep plan|apply -c POLICY --now NOW` would have.
fn run_config(policy: &Path, args: &DemoConfig, mode: Mode, lock: &Path) -> RunConfig {
    RunConfig {
        mode,
        lock: (mode == Mode::Apply).then(|| lock.to_path_buf()),
        selection: Selection { config: vec![policy.to_path_buf()], policy: Vec::new() },
        now: Now::parse(NOW).unwrap_or_else(|_| Now::system()),
        system_clock: false,
        style: args.style,
        progress: None,
        metrics_file: None,
        max_delete: None,
        jobs: crate::config::default_jobs(),
        max_rate: None,
        state_dir: lock.with_file_name("state"),
        shard: None,
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

/// A week of 200 KiB daily partitions, and a 600 KiB burst today.
fn build_events(root: &Path) -> std::io::Result<()> {
    for day in 6..=12 {
        let dir = root.join(format!("2024-07-{day:02}"));
        fs::create_dir_all(&dir)?;
        let size = if day == 12 { 600 * 1024 } else { 200 * 1024 };
        fs::write(dir.join("events.bin"), vec![b'e'; size])?;
    }
    Ok(())
}

fn events_policy(root: &Path) -> String {
    format!(
        "version: 1\npolicies:\n  - name: events\n    root: {}\n    timezone: America/New_York\n    layouts: [\"%Y-%m-%d/**\"]\n    keep: 7d\n    max_bytes: 1M\n    keep_min: 2d\n",
        root.display()
    )
}

/// Ten days of orders, about 200 KiB a day, the 12th still being written.
fn build_orders(root: &Path) -> std::io::Result<()> {
    for day in 3..=12u32 {
        let dir = root.join(format!("2024-07-{day:02}"));
        fs::create_dir_all(&dir)?;
        let size = if day == 12 { 60 * 1024 } else { (180 + 8 * (day as usize % 5)) * 1024 };
        fs::write(dir.join("orders.csv"), vec![b'o'; size])?;
    }
    Ok(())
}

fn orders_policy(root: &Path) -> String {
    format!(
        "version: 1\npolicies:\n  - name: orders\n    root: {}\n    timezone: America/New_York\n    layouts: [\"%Y-%m-%d/**\"]\n    keep: 30d\n",
        root.display()
    )
}

/// The incident's disk, on its first night: 40 GiB a day, `keep: 7d`, and 250 GiB below
/// `disk_fail_above: 90%` once the rest of the filesystem was counted.
fn incident() -> crate::guard::forecast::Forecast {
    const GIB: u64 = 1 << 30;
    crate::guard::forecast::Forecast {
        bytes_per_period: 40 * GIB,
        spacing: 86_400,
        partitions: 7,
        footprint: 280 * GIB,
        room: 250 * GIB,
        fit: 280.0 / 250.0,
        keep: crate::clock::Keep {
            count: std::num::NonZeroU32::MIN.saturating_add(6),
            unit: crate::clock::KeepUnit::Days,
        },
        threshold: Some(crate::policy::Share(90.0)),
    }
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
