"""A minimal S3 client for the object benchmarks (standard library only): SigV4, path-style,
keep-alive connections. Not sweep's client, so the benchmarks never check sweep with itself.

  mkbucket BUCKET
  fill BUCKET FIRST DAYS TOTAL PROCS THREADS [LAYOUT]   TOTAL empty objects, spread evenly
  expected FIRST DAYS TOTAL KEEP [LAYOUT]               per-day counts of the newest KEEP days
  rows FIRST DAYS TOTAL CREATED [LAYOUT]                the same keys as inventory rows:
                                                        KEY<TAB>0<TAB>CREATED (ISO 8601)
  count BUCKET PREFIX                                   per-day counts found by listing
  upload BUCKET DIR                                     every file under DIR, keyed by its path

LAYOUT is `hourly` (events/dt=YYYY-MM-DD/hour=HH/part-NNNN.parquet, the default) or
`daily` (events/dt=YYYY-MM-DD/part-NNNN.parquet)."""
import datetime as dt, hashlib, hmac, http.client, json, os, sys, threading, time
import multiprocessing as mp
import xml.etree.ElementTree as ET
from urllib.parse import quote, urlparse

EMPTY = hashlib.sha256(b"").hexdigest()
HOST = urlparse(os.environ["AWS_ENDPOINT_URL"]).netloc
AK, SK = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
REGION = os.environ.get("AWS_REGION", "us-east-1")
_keys = {}


def enc(s, safe="/"):
    return quote(s, safe=safe + "-_.~")


def signed(method, path, query, headers, body=b""):
    amzdate = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    day = amzdate[:8]
    if day not in _keys:
        k = ("AWS4" + SK).encode()
        for m in (day, REGION, "s3", "aws4_request"):
            k = hmac.new(k, m.encode(), hashlib.sha256).digest()
        _keys[day] = k
    digest = hashlib.sha256(body).hexdigest() if body else EMPTY
    h = {"host": HOST, "x-amz-date": amzdate, "x-amz-content-sha256": digest}
    h.update({k.lower(): v for k, v in headers.items()})
    names = sorted(h)
    cq = "&".join(f"{enc(k, '')}={enc(v, '')}" for k, v in sorted(query))
    creq = "\n".join([method, enc(path), cq, "".join(f"{k}:{h[k]}\n" for k in names), ";".join(names), digest])
    scope = f"{day}/{REGION}/s3/aws4_request"
    sts = f"AWS4-HMAC-SHA256\n{amzdate}\n{scope}\n{hashlib.sha256(creq.encode()).hexdigest()}"
    sig = hmac.new(_keys[day], sts.encode(), hashlib.sha256).hexdigest()
    h["authorization"] = f"AWS4-HMAC-SHA256 Credential={AK}/{scope}, SignedHeaders={';'.join(names)}, Signature={sig}"
    return enc(path) + ("?" + cq if cq else ""), h


class Conn:
    c = None

    def req(self, method, path, query=(), headers=None, body=b""):
        for attempt in range(6):
            target, h = signed(method, path, query, headers or {}, body)
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection(HOST, timeout=60)
                self.c.request(method, target, body=body or None, headers=h)
                r = self.c.getresponse()
                data = r.read()
                if r.status >= 500 or r.status == 429:
                    raise IOError(f"HTTP {r.status} {data[:200]!r}")
                return r.status, data
            except (OSError, http.client.HTTPException):
                if self.c:
                    self.c.close()
                self.c = None
                if attempt == 5:
                    raise
                time.sleep(0.2 * 2 ** attempt)


def keys(first, days, total, layout="hourly"):
    """Object i goes to slot i % slots (an hour of the DAYS days, or a day), so every slot
    holds total/slots objects (+-1). mtime: the slot's start + 30 minutes, Unix seconds."""
    d0 = dt.datetime.fromisoformat(first + "T00:00:00+00:00")
    hourly = layout == "hourly"
    slots = days * 24 if hourly else days
    for i in range(total):
        t = d0 + (dt.timedelta(hours=i % slots) if hourly else dt.timedelta(days=i % slots))
        part = f"hour={t:%H}/" if hourly else ""
        yield f"events/dt={t:%Y-%m-%d}/{part}part-{i // slots:04d}.parquet", int(t.timestamp()) + 1800


def _fill(args):
    bucket, items, threads = args
    it, lock, errs = iter(items), threading.Lock(), []

    def run():
        c = Conn()
        while True:
            with lock:
                nxt = next(it, None)
            if nxt is None:
                return
            try:
                st, data = c.req("PUT", f"/{bucket}/{nxt[0]}", headers={"x-amz-meta-mtime": f"{nxt[1]}.000000000"})
                if st != 200:
                    errs.append(f"{nxt[0]}: HTTP {st} {data[:200]!r}")
            except Exception as e:  # noqa: BLE001 - reported below
                errs.append(f"{nxt[0]}: {e}")

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errs


def fill(bucket, first, days, total, procs, threads, layout="hourly"):
    items = list(keys(first, int(days), int(total), layout))
    procs = int(procs)
    t0 = time.time()
    with mp.Pool(procs) as pool:
        errs = [e for r in pool.map(_fill, [(bucket, items[p::procs], int(threads)) for p in range(procs)]) for e in r]
    if errs:
        sys.exit(f"fill: {len(errs)} PUTs failed, first: {errs[0]}")
    s = time.time() - t0
    print(f"{len(items)} objects in {s:.1f}s ({len(items) / s:.0f}/s)")


def mkbucket(bucket):
    st, data = Conn().req("PUT", f"/{bucket}")
    if st not in (200, 409):
        sys.exit(f"mkbucket {bucket}: HTTP {st} {data[:300]!r}")


def count(bucket, prefix):
    """Per-day object counts under PREFIX, by a flat listing."""
    c, token, ns, days = Conn(), None, "{http://s3.amazonaws.com/doc/2006-03-01/}", {}
    while True:
        q = [("list-type", "2"), ("prefix", prefix), ("max-keys", "1000")] + ([("continuation-token", token)] if token else [])
        st, data = c.req("GET", f"/{bucket}", q)
        if st != 200:
            sys.exit(f"list {bucket}: HTTP {st} {data[:300]!r}")
        root = ET.fromstring(data)
        for k in root.iter(ns + "Key"):
            seg = k.text.split("/")
            d = seg[1][3:] if len(seg) > 2 and seg[1].startswith("dt=") else k.text
            days[d] = days.get(d, 0) + 1
        t = root.find(ns + "NextContinuationToken")
        if root.findtext(ns + "IsTruncated") != "true" or t is None:
            break
        token = t.text
    print(json.dumps(days, sort_keys=True))


def expected(first, days, total, keep, layout="hourly"):
    """Per-day counts of what must remain: the newest KEEP days."""
    per = {}
    for k, _ in keys(first, int(days), int(total), layout):
        d = k.split("/")[1][3:]
        per[d] = per.get(d, 0) + 1
    print(json.dumps({d: per[d] for d in sorted(per)[-int(keep):]}, sort_keys=True))


def rows(first, days, total, created, layout="hourly"):
    """The keys of `fill` as inventory rows (objstore.py inventory --rows)."""
    out = sys.stdout
    for k, _ in keys(first, int(days), int(total), layout):
        out.write(f"{k}\t0\t{created}\n")


def upload(bucket, root):
    """Every file under ROOT, as the object named by its path below ROOT."""
    c = Conn()
    for d, _, files in os.walk(root):
        for f in files:
            path = os.path.join(d, f)
            with open(path, "rb") as fh:
                body = fh.read()
            st, data = c.req("PUT", f"/{bucket}/{os.path.relpath(path, root)}", body=body)
            if st != 200:
                sys.exit(f"upload {path}: HTTP {st} {data[:300]!r}")


if __name__ == "__main__":
    cmd, *a = sys.argv[1:]
    {"fill": fill, "mkbucket": mkbucket, "count": count, "expected": expected, "rows": rows, "upload": upload}[cmd](*a)
