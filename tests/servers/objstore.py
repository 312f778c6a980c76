#!/usr/bin/env python3
"""A small, independent object storage client for sweep's tests (Python standard library only):
it fills buckets and lists them afterwards, so the tests never check sweep with sweep's own
client library.

  objstore.py KIND ENDPOINT mkbucket BUCKET
  objstore.py KIND ENDPOINT put BUCKET [SIZE] < keys      (one key per line, exact: `dir/` too;
                                                           `KEY<TAB>N` gives that key N bytes)
  objstore.py KIND ENDPOINT list BUCKET                    (every key, one per line, sorted)
  objstore.py s3 ENDPOINT delete BUCKET < keys             (one key per line)
  objstore.py KIND ENDPOINT write BUCKET KEY < body         (one object, the bytes of stdin)
  objstore.py s3 ENDPOINT inventory BUCKET DEST PREFIX DATE CREATED_MS FORMAT [OPTIONS]
      writes an S3 Inventory report of BUCKET (its objects as listed now, or the rows given
      on stdin with --rows: KEY<TAB>SIZE<TAB>LAST_MODIFIED) in S3's own layout:
      DEST/PREFIX/DATE/manifest.json, manifest.checksum, PREFIX/data/*.csv.gz (or .parquet,
      FORMAT csv|parquet; parquet needs pyarrow). OPTIONS: --files N (data files),
      --bad-checksum (manifest.checksum of other bytes), --bad-data (a data file's MD5
      wrong in the manifest), --no-checksum (an incomplete report), --local DIR (write the
      files there instead of uploading)

KIND is s3 (moto: accepts unsigned requests), az (Azurite: SharedKey-signed with the
well-known development account) or gcs (fake-gcs-server: no auth). ENDPOINT is
http://127.0.0.1:PORT (for az, without the account).
"""
import base64, csv, gzip, hashlib, hmac, http.client, io, json, os, sys, xml.etree.ElementTree as ET
from email.utils import formatdate
from urllib.parse import quote, quote_plus, urlparse

AZ_ACCOUNT = "devstoreaccount1"
AZ_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZ_VERSION = "2021-08-06"


class Conn:
    def __init__(self, endpoint):
        u = urlparse(endpoint)
        self.c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)

    def req(self, method, path, body=b"", headers=None, ok=(200, 201, 202, 204, 409)):
        self.c.request(method, path, body=body, headers=headers or {})
        r = self.c.getresponse()
        data = r.read()
        if r.status not in ok:
            sys.exit(f"{method} {path}: HTTP {r.status} {data[:300]!r}")
        return data


def az_headers(method, path, query, length, extra):
    date = formatdate(usegmt=True)
    h = {"x-ms-date": date, "x-ms-version": AZ_VERSION, **extra}
    ms = "".join(f"{k}:{v}\n" for k, v in sorted(h.items()) if k.startswith("x-ms-"))
    canon_q = "".join(f"\n{k}:{v}" for k, v in sorted(query.items()))
    sts = f"{method}\n\n\n{length if length else ''}\n\n{h.get('Content-Type', '')}\n\n\n\n\n\n\n{ms}/{AZ_ACCOUNT}{path}{canon_q}"
    sig = base64.b64encode(hmac.new(base64.b64decode(AZ_KEY), sts.encode(), hashlib.sha256).digest()).decode()
    h["Authorization"] = f"SharedKey {AZ_ACCOUNT}:{sig}"
    h["Content-Length"] = str(length)
    return h


def mkbucket(kind, c, bucket):
    if kind == "s3":
        c.req("PUT", f"/{bucket}")
    elif kind == "az":
        path = f"/{AZ_ACCOUNT}/{bucket}"
        c.req("PUT", f"{path}?restype=container", headers=az_headers("PUT", path, {"restype": "container"}, 0, {}))
    else:
        c.req("POST", "/storage/v1/b?project=test", json.dumps({"name": bucket}).encode(), {"Content-Type": "application/json"})


def path_of(key):
    """A key as a URL path, exactly: `.` and `..` segments encoded, so nothing normalises them."""
    return "/".join({".": "%2E", "..": "%2E%2E"}.get(seg, quote(seg, safe="")) for seg in key.split("/"))


# moto refuses some anonymous writes (a DELETE, a PUT over some keys); it does not check
# signatures, so any well-formed one will do.
S3_AUTH = {"Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/s3/aws4_request, "
                            "SignedHeaders=host, Signature=0"}


def put(kind, c, bucket, key, body):
    if kind == "s3":
        c.req("PUT", f"/{bucket}/{path_of(key)}", body, {"Content-Type": "application/octet-stream", **S3_AUTH}, ok=(200,))
    elif kind == "az":
        path = f"/{AZ_ACCOUNT}/{bucket}/{quote(key, safe='/')}"
        extra = {"x-ms-blob-type": "BlockBlob", "Content-Type": "application/octet-stream"}
        c.req("PUT", path, body, az_headers("PUT", path, {}, len(body), extra), ok=(201,))
    else:
        c.req("POST", f"/upload/storage/v1/b/{bucket}/o?uploadType=media&name={quote(key, safe='')}", body,
              {"Content-Type": "application/octet-stream"}, ok=(200,))


def listing(kind, c, bucket):
    keys, token = [], None
    while True:
        if kind == "s3":
            q = "list-type=2" + (f"&continuation-token={quote(token, safe='')}" if token else "")
            root = ET.fromstring(c.req("GET", f"/{bucket}?{q}", ok=(200,)))
            ns = {"s": root.tag.split("}")[0].strip("{")} if root.tag.startswith("{") else {}
            p = "s:" if ns else ""
            keys += [e.text for e in root.findall(f"{p}Contents/{p}Key", ns)]
            token = (root.findtext(f"{p}NextContinuationToken", None, ns) if root.findtext(f"{p}IsTruncated", "", ns) == "true" else None)
        elif kind == "az":
            path = f"/{AZ_ACCOUNT}/{bucket}"
            query = {"restype": "container", "comp": "list"}
            if token:
                query["marker"] = token
            qs = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
            root = ET.fromstring(c.req("GET", f"{path}?{qs}", headers=az_headers("GET", path, query, 0, {}), ok=(200,)))
            keys += [e.text for e in root.findall("Blobs/Blob/Name")]
            token = root.findtext("NextMarker") or None
        else:
            q = "?pageToken=" + quote(token, safe="") if token else ""
            doc = json.loads(c.req("GET", f"/storage/v1/b/{bucket}/o{q}", ok=(200,)))
            keys += [i["name"] for i in doc.get("items", [])]
            token = doc.get("nextPageToken")
        if not token:
            return sorted(keys)


def details(c, bucket):
    """Every object of an S3 bucket: key, size, last modified."""
    out, token = [], None
    while True:
        q = "list-type=2" + (f"&continuation-token={quote(token, safe='')}" if token else "")
        root = ET.fromstring(c.req("GET", f"/{bucket}?{q}", ok=(200,)))
        ns = {"s": root.tag.split("}")[0].strip("{")} if root.tag.startswith("{") else {}
        p = "s:" if ns else ""
        for e in root.findall(f"{p}Contents", ns):
            out.append((e.findtext(f"{p}Key", None, ns), int(e.findtext(f"{p}Size", "0", ns)),
                        e.findtext(f"{p}LastModified", None, ns)))
        token = (root.findtext(f"{p}NextContinuationToken", None, ns) if root.findtext(f"{p}IsTruncated", "", ns) == "true" else None)
        if not token:
            return out


def csv_gz(rows, bucket):
    """A CSV data file as S3 writes it: every field quoted, keys URL-encoded, gzip."""
    text = io.StringIO()
    w = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for key, size, mtime in rows:
        w.writerow([bucket, quote_plus(key, safe="/"), size, mtime, "0123456789abcdef", "STANDARD"])
    return gzip.compress(text.getvalue().encode(), mtime=0)


def parquet(rows, bucket):
    """A Parquet data file with S3's column names and types."""
    import datetime
    import pyarrow as pa
    import pyarrow.parquet as pq
    ts = [datetime.datetime.fromisoformat(m.replace("Z", "+00:00")) for _, _, m in rows]
    table = pa.table({
        "bucket": pa.array([bucket] * len(rows), pa.string()),
        "key": pa.array([k for k, _, _ in rows], pa.string()),
        "size": pa.array([s for _, s, _ in rows], pa.int64()),
        "last_modified_date": pa.array(ts, pa.timestamp("ms", tz="UTC")),
        "e_tag": pa.array(["0123456789abcdef"] * len(rows), pa.string()),
        "storage_class": pa.array(["STANDARD"] * len(rows), pa.string()),
    })
    out = io.BytesIO()
    pq.write_table(table, out, compression="snappy")
    return out.getvalue()


def inventory(c, bucket, dest, prefix, date, created, fmt, opts):
    rows = ([tuple(l.rstrip("\n").split("\t")) for l in sys.stdin if l.strip()] if "--rows" in opts else details(c, bucket))
    rows = [(k, int(s), m) for k, s, m in rows]
    n = int(opts[opts.index("--files") + 1]) if "--files" in opts else 1
    local = opts[opts.index("--local") + 1] if "--local" in opts else None
    base = f"{prefix}/{bucket}/sweep-daily" if prefix else f"{bucket}/sweep-daily"

    def store(key, body):
        if local:
            path = os.path.join(local, key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(body)
        else:
            put("s3", c, dest, key, body)

    files = []
    ext = "csv.gz" if fmt == "csv" else "parquet"
    for i in range(n):
        part = rows[i::n]
        body = csv_gz(part, bucket) if fmt == "csv" else parquet(part, bucket)
        key = f"{base}/data/{date}-{i:04d}.{ext}"
        store(key, body)
        md5 = hashlib.md5(body).hexdigest()
        if "--bad-data" in opts and i == 0:
            md5 = hashlib.md5(body + b"x").hexdigest()
        files.append({"key": key, "size": len(body), "MD5checksum": md5})
    schema = ("Bucket, Key, Size, LastModifiedDate, ETag, StorageClass" if fmt == "csv" else
              "message s3.inventory { required binary bucket (STRING); required binary key (STRING); "
              "optional int64 size; optional int64 last_modified_date (TIMESTAMP(MILLIS,true)); "
              "optional binary e_tag (STRING); optional binary storage_class (STRING); }")
    manifest = json.dumps({
        "sourceBucket": bucket, "destinationBucket": f"arn:aws:s3:::{dest}", "version": "2016-11-30",
        "creationTimestamp": str(created), "fileFormat": "CSV" if fmt == "csv" else "Parquet",
        "fileSchema": schema, "files": files}, indent=2).encode()
    store(f"{base}/{date}/manifest.json", manifest)
    if "--no-checksum" not in opts:
        digest = hashlib.md5(manifest + (b" " if "--bad-checksum" in opts else b"")).hexdigest()
        store(f"{base}/{date}/manifest.checksum", digest.encode())
    print(f"s3://{dest}/{base}/")


def main():
    kind, endpoint, cmd, bucket, *rest = sys.argv[1:]
    c = Conn(endpoint)
    if cmd == "mkbucket":
        mkbucket(kind, c, bucket)
    elif cmd == "put":
        body = b"x" * int(rest[0]) if rest else b"data"
        for line in sys.stdin:
            key = line.rstrip("\n")
            if "\t" in key:
                key, n = key.rsplit("\t", 1)
                put(kind, c, bucket, key, b"x" * int(n))
            elif key:
                put(kind, c, bucket, key, b"" if key.endswith("/") else body)
    elif cmd == "list":
        print("\n".join(listing(kind, c, bucket)))
    elif cmd == "write":
        put(kind, c, bucket, rest[0], sys.stdin.buffer.read())
    elif cmd == "delete":
        for line in sys.stdin:
            key = line.rstrip("\n")
            if key:
                c.req("DELETE", f"/{bucket}/{path_of(key)}", headers=S3_AUTH, ok=(204, 200))
    elif cmd == "inventory":
        dest, prefix, date, created, fmt, *opts = rest
        inventory(c, bucket, dest, prefix, date, int(created), fmt, opts)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
