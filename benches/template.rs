//! Layout matching cost, in nanoseconds per path: `cargo bench --bench template`.
//!
//! Two ways a path is matched: from scratch (every component, as `explain` and policy
//! tests do), and the way the walk does it, where a directory's state is computed once
//! and each file costs one match against it (or nothing, under a settled `**`). Prints the
//! median of several samples. Plain `std::time` keeps this free of bench-only
//! dependencies; the numbers are for comparing builds on one machine.

#![allow(clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use sweep::layout::{Layouts, Template};

const SAMPLES: usize = 7;

fn layouts(srcs: &[&str]) -> Layouts {
    Layouts::new(srcs.iter().map(|s| Template::compile(s).expect("valid layout")).collect()).expect("few layouts")
}

/// Median ns per iteration of `f` run `n` times per sample.
fn time(n: usize, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[SAMPLES / 2]
}

fn main() {
    let cases: &[(&str, &[&str], &str)] = &[
        ("daily dir, trailing **", &["%Y-%m-%d/**"], "2024-07-12/part-00001.csv"),
        ("daily dir, *.csv", &["%Y-%m-%d/*.csv"], "2024-07-12/part-00001.csv"),
        ("hive dt=/hour=", &["dt=%Y-%m-%d/hour=%H/*"], "dt=2024-07-12/hour=03/part-00001.parquet"),
        ("%Y/%m/%d", &["%Y/%m/%d/*"], "2024/07/12/file-00001.csv"),
        ("dated file name", &["ticker_%Y%m%d_*.csv"], "ticker_20240712_00001.csv"),
        (
            "airflow logs",
            &["dag_id=*/run_id=*__%Y-%m-%dT*/**"],
            "dag_id=etl/run_id=scheduled__2024-07-12T00:00:00+00:00/task_id=load/attempt=1.log",
        ),
        ("3 layouts, last matches", &["%Y-%m-%d/**", "ticker_%Y%m%d.csv", "archive/%Y/%m/**"], "archive/2024/07/x.gz"),
        ("unmatched", &["%Y-%m-%d/**", "ticker_%Y%m%d.csv"], "staging/tmp/x.csv"),
    ];
    println!("{:<28} {:>14} {:>16} {:>14}", "layout", "full path ns", "per file ns", "per dir ns");
    for (name, srcs, path) in cases {
        let l = layouts(srcs);
        let parts: Vec<&[u8]> = path.split('/').map(str::as_bytes).collect();
        let (file, dirs) = parts.split_last().expect("a path");
        let mut scratch = l.scratch();
        // From scratch: descend every directory, then match the file.
        let full = time(200_000, || {
            let mut cur = l.start();
            for d in dirs {
                cur = l.descend(&cur, black_box(d), &mut scratch);
            }
            black_box(l.match_file(&cur, black_box(file), &mut scratch));
        });
        // The walk: the directory state exists already; one file costs this.
        let mut cur = l.start();
        for d in dirs {
            cur = l.descend(&cur, d, &mut scratch);
        }
        let per_file = time(1_000_000, || {
            let m = match l.settled(&cur) {
                Some(m) => Some(m),
                None => l.match_file(&cur, black_box(file), &mut scratch),
            };
            black_box(m);
        });
        // Entering the deepest directory, once per directory.
        let parent = {
            let mut c = l.start();
            for d in &dirs[..dirs.len().saturating_sub(1)] {
                c = l.descend(&c, d, &mut scratch);
            }
            c
        };
        let per_dir = match dirs.last() {
            Some(last) => time(200_000, || {
                black_box(l.descend(&parent, black_box(last), &mut scratch));
            }),
            None => 0.0,
        };
        println!("{name:<28} {full:>14.1} {per_file:>16.1} {per_dir:>14.1}");
    }
}
