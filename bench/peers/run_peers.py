#!/usr/bin/env python3
"""Time the existing ways of deleting expired date partitions, side by side.

Every timed run gets its OWN freshly generated, identical tree (gen_tree.py is
deterministic), made before the timing starts.  Trees are generated in batches
(--pool deleting runs per batch, plus spares and one read-only copy for the
dry runs), then `sync`ed; for each run the harness waits until the machine is
quiet, times ONE command with /usr/bin/time (wall from a monotonic clock around
the child; user/sys/peak RSS from the kernel's rusage of the reaped child),
checks what is left against the expected tree, and times a `sync` right after
(reported separately, not in the wall).  Tools run in rotating order each
round (A B C, B C A, ...) so drift hits all of them.  A run during which other
processes burnt CPU (> --noise-frac of its wall) is flagged and re-run on a
spare copy.

Why batches and not `rm -rf WORK; cp -a PRISTINE WORK` before each run: on an
ext4 WITHOUT a journal (this machine's), the inode allocator skips inodes whose
deletion time is < 60 s old (ext4 recently_deleted(), only checked when there
is no journal), so creating a tree right after deleting one costs ~15x more
(a 100k-file restore went from 4 s to 55-60 s).  Batches are generated only
after --settle seconds have passed since this harness last deleted anything (the
window is 60 s once the inode-table blocks are clean, 360 s while they are
dirty, so --settle 0 is fine when generation speed does not matter).

Stdlib + GNU findutils/coreutils; optional peers: fdfind, tmpreaper,
systemd-tmpfiles (skipped if missing).

  run_peers.py --layout hive-hourly --days 100 --files-per-leaf 42 --runs 5 --out results/h100k
"""
import argparse
import calendar
import csv
import datetime as dt
import json
import os
import shutil
import stat
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
sys.path.insert(0, BENCH)
import gen_tree  # noqa: E402  (bench/gen_tree.py: the one tree generator)


# ----------------------------------------------------------------- tree model
def expected_tree(layout, days, fpl, end_date, hours, cutoff):
    """Return (all_files, all_dirs, kept_files, kept_dirs, expired_dirs_minimal)."""
    all_days = gen_tree.partition_days(end_date, days)
    dirs = set()
    kept_dirs = set()
    n_files = n_kept = 0
    for d in all_days:
        for parts in gen_tree.leaf_dirs(layout, d, hours):
            for k in range(1, len(parts) + 1):
                rel = "/".join(parts[:k])
                dirs.add(rel)
                if d >= cutoff:
                    kept_dirs.add(rel)
            n_files += fpl
            if d >= cutoff:
                n_kept += fpl
    # minimal set of directories that hold only expired data (what rm -rf needs)
    expired = sorted(r for r in dirs if r not in kept_dirs
                     and ("/" not in r or r.rsplit("/", 1)[0] in kept_dirs))
    return n_files, len(dirs), n_kept, len(kept_dirs), expired


def count_tree(root):
    files = dirs = 0
    for _dp, dns, fns in os.walk(root):
        dirs += len(dns)
        files += len(fns)
    return files, dirs


# ----------------------------------------------------------------- machine state
def cpu_busy(interval=0.5):
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + v[4]  # idle + iowait
        return sum(v), idle
    t1, i1 = snap()
    time.sleep(interval)
    t2, i2 = snap()
    return 1.0 - (i2 - i1) / max(1, (t2 - t1))


def cpu_jiffies():
    """(busy, total) jiffies over all CPUs since boot (busy excludes idle+iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)


CLK_TCK = os.sysconf("SC_CLK_TCK")


def blockdev_stat_path(path):
    st = os.stat(path)
    p = "/sys/dev/block/%d:%d" % (os.major(st.st_dev), os.minor(st.st_dev))
    if os.path.exists(p + "/partition"):          # a partition: counters of the whole disk
        p = p + "/.."
    return p + "/stat" if os.path.exists(p + "/stat") else None


def disk_counters(statpath):
    """(write I/Os, discard I/Os, discard ms) of the disk under the scratch dir."""
    if not statpath:
        return (0, 0, 0)
    with open(statpath) as f:
        v = [int(x) for x in f.read().split()]
    v += [0] * (15 - len(v))
    return (v[4], v[11], v[14])


def dirty_kib():
    out = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(("Dirty:", "Writeback:")):
                out += int(line.split()[1])
    return out


def wait_quiet(max_wait, threshold):
    """Wait until CPU busy (all cores) < threshold; return (busy, waited_s)."""
    t0 = time.monotonic()
    busy = cpu_busy()
    while busy > threshold and time.monotonic() - t0 < max_wait:
        time.sleep(2)
        busy = cpu_busy()
    return busy, time.monotonic() - t0


# ----------------------------------------------------------------- tools
def tool_table(root, cutoff, expired_file, conf):
    """name -> (kind, function(now) -> argv).  kind: 'delete' or 'dryrun'."""
    c = cutoff.isoformat()
    cut00 = calendar.timegm((cutoff.year, cutoff.month, cutoff.day, 0, 0, 0))
    cut_noon = cut00 + 12 * 3600

    def mtime_n(now):
        # find -mtime +n  <=>  floor(age_days) > n ; files of day C (noon) must stay
        return int((now - cut_noon) // 86400)

    def age_h(now):
        # files are stamped at noon, so +-12h of slack on either side of the cutoff
        return int(round((now - cut00) / 3600.0))

    empty = "find %s -mindepth 1 -type d -empty -delete" % root
    t = {}
    t["rm-rf"] = ("delete", lambda now: [
        "sh", "-c", "xargs -d '\\n' -a %s rm -rf --" % expired_file])
    t["rm-rf-P2"] = ("delete", lambda now: [
        "sh", "-c", "xargs -d '\\n' -a %s -P 2 -n 8 rm -rf --" % expired_file])
    t["rm-rf-P8"] = ("delete", lambda now: [
        "sh", "-c", "xargs -d '\\n' -a %s -P 8 -n 4 rm -rf --" % expired_file])
    t["find-2pass"] = ("delete", lambda now: [
        "sh", "-c", "find %s -type f ! -newermt '%s' -delete && %s" % (root, c, empty)])
    t["find-mtime-1pass"] = ("delete", lambda now: [
        "find", root, "-mindepth", "1", "-mtime", "+%d" % mtime_n(now), "-delete"])
    t["find-dryrun"] = ("dryrun", lambda now: [
        "sh", "-c", "find %s -type f ! -newermt '%s' -printf '%%s %%p\\n' > /dev/null" % (root, c)])
    if shutil.which("fdfind"):
        t["fd-dryrun"] = ("dryrun", lambda now: [
            "sh", "-c", "fdfind -u -t f --changed-before '%s 00:00:00' '' %s > /dev/null" % (c, root)])
        t["fd-X-rm"] = ("delete", lambda now: [
            "sh", "-c", "fdfind -u -t f --changed-before '%s 00:00:00' '' %s -X rm -f && %s"
            % (c, root, empty)])
    if shutil.which("tmpreaper"):
        t["tmpreaper"] = ("delete", lambda now: [
            "tmpreaper", "--mtime", "--runtime=3600", "%dh" % age_h(now), root])
    if shutil.which("systemd-tmpfiles"):
        def st(now):
            with open(conf, "w") as f:
                f.write("d %s - - - mM:%dh\n" % (root, age_h(now)))
            return ["systemd-tmpfiles", "--clean", conf]
        t["systemd-tmpfiles"] = ("delete", st)
    sweep = os.environ.get("SWEEP_BIN")
    if sweep:
        # sweep itself, on the same tree: keep exactly the days from the cutoff to END_DATE.
        layout = {"hive-hourly": "dt=%Y-%m-%d/hour=%H/*", "flat-daily": "%Y-%m-%d/*",
                  "ymd": "%Y/%m/%d/*"}[SHAPE["layout"]]
        keep = (SHAPE["end_date"] - cutoff).days + 1
        pol = root + ".sweep.yaml"

        def sw(cmd, jobs=None, more=(), binary=sweep):
            def argv(now):
                with open(pol, "w") as f:
                    f.write("version: 1\npolicies:\n  - name: bench\n    root: %s\n"
                            "    layouts: [\"%s\"]\n    keep: %dd\n    timezone: UTC\n"
                            % (root, layout, keep))
                extra = os.environ.get("SWEEP_ARGS", "").split()
                if cmd == "apply":
                    extra += os.environ.get("SWEEP_APPLY_ARGS", "").split()
                if jobs:
                    extra += ["--jobs", str(jobs)]
                extra += list(more)
                return [binary, cmd, "-c", pol, "--now", SHAPE["end_date"].isoformat() + "T12:00:00Z",
                        "--progress", "never"] + extra
            return argv
        t["sweep-apply"] = ("delete", sw("apply"))
        # sweep-apply-jN: apply --jobs N, for N in SWEEP_JOBS (e.g. "2,8"), side by side.
        for n in filter(None, os.environ.get("SWEEP_JOBS", "").split(",")):
            t["sweep-apply-j%d" % int(n)] = ("delete", sw("apply", int(n)))
        t["sweep-plan"] = ("dryrun", sw("plan"))
        # sweep-plan-x / sweep-apply-x: the same with SWEEP_X_ARGS added (e.g. a guard that
        # forces the counting pass: "--max-delete 1000d"), to compare in one run.
        # sweep-b-apply / sweep-b-plan: another build (SWEEP_BIN_B), for an A/B in one run.
        other = os.environ.get("SWEEP_BIN_B")
        if other:
            t["sweep-b-apply"] = ("delete", sw("apply", binary=other))
            t["sweep-b-plan"] = ("dryrun", sw("plan", binary=other))
        x = os.environ.get("SWEEP_X_ARGS", "").split()
        if x:
            t["sweep-plan-x"] = ("dryrun", sw("plan", more=x))
            t["sweep-apply-x"] = ("delete", sw("apply", more=x))
    return t


SHAPE = {}




# ----------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layout", choices=gen_tree.LAYOUTS[:3], default="hive-hourly")
    ap.add_argument("--days", type=int, default=100)
    ap.add_argument("--files-per-leaf", type=int, default=42)
    ap.add_argument("--size", type=int, default=0)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--end-date", default="2024-07-12")
    ap.add_argument("--delete-frac", type=float, default=0.8,
                    help="fraction of (oldest) partitions to delete (default 0.8)")
    ap.add_argument("--runs", type=int, default=5, help="rounds; each tool runs once per round")
    ap.add_argument("--tools", default="all", help="comma list, or 'all'")
    ap.add_argument("--scratch", default="/tmp/benchtrees")
    ap.add_argument("--out", required=True, help="directory for runs.csv / summary.md / logs")
    ap.add_argument("--pool", type=int, default=40, help="deleting runs per generated batch (default 40)")
    ap.add_argument("--spares", type=int, default=2, help="spare copies per batch for re-runs (default 2)")
    ap.add_argument("--gen-jobs", type=int, default=2, help="gen_tree processes in parallel (default 2)")
    ap.add_argument("--settle", type=float, default=65,
                    help="seconds to let pass after deleting before generating (default 65)")
    ap.add_argument("--quiet-threshold", type=float, default=0.15,
                    help="wait before a run until all-core CPU busy < this (default 0.15)")
    ap.add_argument("--quiet-max-wait", type=float, default=120)
    ap.add_argument("--noise-frac", type=float, default=0.25,
                    help="a run is noisy if other CPU time during it > FRAC*wall + 0.05 s (default 0.25)")
    ap.add_argument("--max-retries", type=int, default=2, help="re-runs of a noisy run (default 2)")
    ap.add_argument("--dry-reuse", action="store_true",
                    help="run a batch's dry runs first, on the tree its first deleting run then uses "
                         "(saves one tree per batch; for the 1M-file shapes)")
    a = ap.parse_args()

    end_date = dt.date.fromisoformat(a.end_date)
    SHAPE.update(layout=a.layout, end_date=end_date)
    del_days = int(round(a.delete_frac * a.days))
    first = end_date - dt.timedelta(days=a.days - 1)
    cutoff = first + dt.timedelta(days=del_days)           # oldest KEPT partition
    os.makedirs(a.out, exist_ok=True)
    os.makedirs(a.scratch, exist_ok=True)
    # Trees are made and removed in here (as root): it must be ours, a real directory,
    # and writable by nobody else, so that no one can plant a symlink in it.
    st = os.lstat(a.scratch)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        sys.exit("run_peers.py: --scratch %s must be a directory owned by this user and "
                 "writable only by it" % a.scratch)
    n_files, n_dirs, kept_files, kept_dirs, expired = expected_tree(
        a.layout, a.days, a.files_per_leaf, end_date, a.hours, cutoff)

    probe = tool_table("/x", cutoff, "/x", "/x")
    names = list(probe) if a.tools == "all" else a.tools.split(",")
    for n in names:
        if n not in probe:
            sys.exit("unknown or unavailable tool %s (have %s)" % (n, ",".join(probe)))
    kinds = {n: probe[n][0] for n in names}

    meta = dict(layout=a.layout, days=a.days, files_per_leaf=a.files_per_leaf, size=a.size,
                hours=a.hours, end_date=a.end_date, cutoff=cutoff.isoformat(), delete_days=del_days,
                files=n_files, dirs=n_dirs, kept_files=kept_files, kept_dirs=kept_dirs,
                deleted_files=n_files - kept_files, deleted_dirs=n_dirs - kept_dirs,
                expired_top=len(expired), runs=a.runs, tools=names, scratch=a.scratch,
                started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                uname=os.uname().release, fs=subprocess.run(["stat", "-f", "-c", "%T", a.scratch],
                                                          capture_output=True, text=True).stdout.strip())
    print(json.dumps(meta), flush=True)
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)

    jobs = []
    for rnd in range(a.runs):
        k = rnd % len(names)
        jobs += [(rnd, n) for n in names[k:] + names[:k]]
    batches, cur, ndel = [], [], 0
    for j in jobs:
        if kinds[j[1]] == "delete" and ndel == a.pool:
            batches.append(cur)
            cur, ndel = [], 0
        cur.append(j)
        ndel += kinds[j[1]] == "delete"
    if cur:
        batches.append(cur)

    gen_cmd = [sys.executable, os.path.join(BENCH, "gen_tree.py"), "--layout", a.layout,
               "--days", str(a.days), "--files-per-leaf", str(a.files_per_leaf), "--size", str(a.size),
               "--end-date", a.end_date, "--hours", str(a.hours)]
    rows = []
    csv_path = os.path.join(a.out, "runs.csv")
    fields = ["batch", "round", "tool", "wall_s", "user_s", "sys_s", "maxrss_kib", "rc", "files_left",
              "dirs_left", "ok", "gen_s_per_tree", "post_sync_s", "bg_busy", "quiet_wait_s", "dirty_kib",
              "other_cpu_s", "noisy", "attempt", "used", "wr_ios", "discards", "discard_ms", "argv"]
    last_delete = time.monotonic()   # unknown history: assume something was just deleted
    dstat = blockdev_stat_path(a.scratch)
    copy_no = 0
    with open(csv_path, "w", newline="") as fcsv:
        w = csv.DictWriter(fcsv, fieldnames=fields)
        w.writeheader()
        for bi, batch in enumerate(batches):
            n_del = sum(kinds[n] == "delete" for _r, n in batch)
            n_copies = n_del + a.spares + (1 if n_del < len(batch) and not a.dry_reuse else 0)
            need = n_copies * (n_files + n_dirs + 1)
            st = os.statvfs(a.scratch)
            if st.f_favail < need + 500000:
                sys.exit("not enough free inodes: need %d, have %d" % (need, st.f_favail))
            wait = last_delete + a.settle - time.monotonic()
            if wait > 0:
                print("batch %d: settling %.0f s after the last deletion" % (bi, wait), flush=True)
                time.sleep(wait)
            paths = []
            for _ in range(n_copies):
                paths.append(os.path.join(a.scratch, "w%03d" % copy_no))
                copy_no += 1
            t0 = time.monotonic()
            pending = list(paths)
            running = []
            while pending or running:
                while pending and len(running) < a.gen_jobs:
                    pth = pending.pop(0)
                    running.append(subprocess.Popen(gen_cmd + [pth], stdout=subprocess.DEVNULL))
                running[0].wait()
                if running[0].returncode != 0:
                    sys.exit("gen_tree failed")
                running.pop(0)
            subprocess.run(["sync"], check=True)
            gen_s = (time.monotonic() - t0) / n_copies
            print("batch %d: generated %d trees in %.1f s (%.1f s each, synced)"
                  % (bi, n_copies, gen_s * n_copies, gen_s), flush=True)
            for pth in paths[:1]:
                got = count_tree(pth)
                if got != (n_files, n_dirs):
                    sys.exit("generated tree %s has %s, expected %s" % (pth, got, (n_files, n_dirs)))
            fresh = list(paths)
            if a.dry_reuse:
                # dry runs first, on the tree the first deleting run will then use
                batch = sorted(batch, key=lambda j: kinds[j[1]] != "dryrun")
                dry_copy = fresh[0]
            else:
                dry_copy = fresh.pop() if n_del < len(batch) else None
            dels_left = n_del
            for rnd, name in batch:
                kind = kinds[name]
                dels_left -= kind == "delete"
                for attempt in range(a.max_retries + 1):
                    root = dry_copy if kind == "dryrun" else fresh.pop(0)
                    expired_file = root + ".expired"
                    with open(expired_file, "w") as f:
                        for r in expired:
                            f.write(os.path.join(root, r) + "\n")
                    mk = tool_table(root, cutoff, expired_file, root + ".tmpfiles.conf")[name][1]
                    busy, waited = wait_quiet(a.quiet_max_wait, a.quiet_threshold)
                    dk = dirty_kib()
                    argv = mk(time.time())
                    tf = root + ".time"
                    with open(os.path.join(a.out, "%s.log" % name), "a") as log:
                        log.write("## round %d: %s\n" % (rnd, " ".join(argv)))
                        log.flush()
                        d1 = disk_counters(dstat)
                        j1 = cpu_jiffies()
                        t1 = time.monotonic()
                        p = subprocess.run(["/usr/bin/time", "-o", tf, "-f", "%e %U %S %M"] + argv,
                                           stdout=log, stderr=log)
                        wall = time.monotonic() - t1
                        j2 = cpu_jiffies()
                        d2 = disk_counters(dstat)
                    if kind == "delete":
                        last_delete = time.monotonic()
                    t2 = time.monotonic()
                    subprocess.run(["sync"], check=True)
                    post_sync = time.monotonic() - t2
                    with open(tf) as f:
                        last = f.read().strip().splitlines()[-1].split()
                    user, sys_, rss = float(last[1]), float(last[2]), int(last[3])
                    # CPU time burnt on the machine during the run by anything but the timed
                    # command (other processes, but also kernel threads: writeback, discard)
                    other = (j2[0] - j1[0]) / CLK_TCK - (user + sys_)
                    noisy = other > a.noise_frac * wall + 0.05
                    # a re-run of a deleting tool may only use a spare (copies beyond the
                    # ones reserved for the deleting runs still to come in this batch)
                    can_retry = attempt < a.max_retries and (kind == "dryrun" or len(fresh) > dels_left)
                    fl, dl = count_tree(root)
                    if kind == "dryrun":
                        ok = (fl, dl) == (n_files, n_dirs)
                    else:
                        ok = (fl, dl) == (kept_files, kept_dirs)
                    used = not noisy or not can_retry
                    row = dict(batch=bi, round=rnd, tool=name, wall_s="%.4f" % wall, user_s=user,
                               sys_s=sys_, maxrss_kib=rss, rc=p.returncode, files_left=fl,
                               dirs_left=dl, ok=int(ok and p.returncode == 0),
                               gen_s_per_tree="%.2f" % gen_s, post_sync_s="%.3f" % post_sync,
                               bg_busy="%.2f" % busy, quiet_wait_s="%.1f" % waited, dirty_kib=dk,
                               other_cpu_s="%.2f" % other, noisy=int(noisy), attempt=attempt,
                               used=int(used), wr_ios=d2[0] - d1[0], discards=d2[1] - d1[1],
                               discard_ms=d2[2] - d1[2], argv=" ".join(argv))
                    w.writerow(row)
                    fcsv.flush()
                    print("b%d r%d %-17s wall=%7.3fs user=%.2f sys=%.2f rss=%dKiB rc=%d left=%d/%d ok=%d "
                          "sync=%.2fs busy=%.2f other=%.2fs discards=%d (%d ms)%s"
                          % (bi, rnd, name, wall, user, sys_, rss, p.returncode, fl, dl, ok,
                             post_sync, busy, other, d2[1] - d1[1], d2[2] - d1[2],
                             " NOISY" if noisy else ""), flush=True)
                    if used:
                        rows.append(row)
                        break
            # clean up the whole batch (untimed), then let the deletions age before the next one
            t3 = time.monotonic()
            for pth in paths:
                for suffix in ("", ".expired", ".tmpfiles.conf", ".time"):
                    if os.path.lexists(pth + suffix):
                        subprocess.run(["rm", "-rf", pth + suffix], check=True)
            last_delete = time.monotonic()
            print("batch %d: cleanup %.1f s" % (bi, last_delete - t3), flush=True)
    summarize(rows, meta, names, os.path.join(a.out, "summary.md"))


def summarize(rows, meta, names, path):
    by = {n: [r for r in rows if r["tool"] == n] for n in names}
    ref = "rm-rf" if "rm-rf" in by else names[0]
    refwall = {r["round"]: float(r["wall_s"]) for r in by[ref]}
    lines = []
    shape = {"hive-hourly": "%d days x %d hours x %d files" % (meta["days"], meta["hours"], meta["files_per_leaf"]),
             "flat-daily": "%d days x %d files" % (meta["days"], meta["files_per_leaf"]),
             "ymd": "%d days x %d files (YYYY/MM/DD)" % (meta["days"], meta["files_per_leaf"])}[meta["layout"]]
    lines.append("%s: %d files + %d dirs (%s, %d B each); cutoff %s; deletes %d files + %d dirs "
                 "(%d of %d days); rounds=%d"
                 % (meta["layout"], meta["files"], meta["dirs"], shape, meta["size"], meta["cutoff"],
                    meta["deleted_files"], meta["deleted_dirs"], meta["delete_days"], meta["days"],
                    meta["runs"]))
    lines.append("")
    lines.append("| tool | wall median s | wall min-max s | user s | sys s | peak RSS MiB | "
                 "x %s (paired) | files/s | entries/s | post-sync s | discards | correct |" % ref)
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in names:
        rs = by[n]
        if not rs:
            continue
        walls = [float(r["wall_s"]) for r in rs]
        med = statistics.median(walls)
        ratios = [float(r["wall_s"]) / refwall[r["round"]] for r in rs if r["round"] in refwall]
        dry = n.endswith("dryrun")
        nf = meta["files"] if dry else meta["deleted_files"]
        ne = (meta["files"] + meta["dirs"]) if dry else (meta["deleted_files"] + meta["deleted_dirs"])
        lines.append("| %s | %.3f | %.3f-%.3f | %.2f | %.2f | %.1f | %.2f | %s | %s | %.2f | %s | %d/%d |" % (
            n, med, min(walls), max(walls),
            statistics.median(float(r["user_s"]) for r in rs),
            statistics.median(float(r["sys_s"]) for r in rs),
            statistics.median(int(r["maxrss_kib"]) for r in rs) / 1024.0,
            statistics.median(ratios) if ratios else float("nan"),
            "{:,.0f}".format(nf / med), "{:,.0f}".format(ne / med),
            statistics.median(float(r["post_sync_s"]) for r in rs),
            "%d" % statistics.median(int(r.get("discards", 0)) for r in rs),
            sum(int(r["ok"]) for r in rs), len(rs)))
    lines.append("")
    lines.append("files/s and entries/s count what the tool deleted (dry runs: what they walked). "
                 "Runs kept although flagged noisy: %d of %d; median other-CPU during runs %.2f s; "
                 "generation %.1f s per tree (untimed)."
                 % (sum(int(r["noisy"]) for r in rows), len(rows),
                    statistics.median(float(r["other_cpu_s"]) for r in rows),
                    statistics.median(float(r["gen_s_per_tree"]) for r in rows)))
    txt = "\n".join(lines) + "\n"
    with open(path, "w") as f:
        f.write(txt)
    print(txt)


if __name__ == "__main__":
    main()
