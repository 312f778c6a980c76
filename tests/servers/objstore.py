#!/usr/bin/env python3
"""A small, independent object storage client for sweep's tests (Python standard library only):
it fills buckets and lists them afterwards, so the tests never check sweep with sweep's own
client library.

  objstore.py KIND ENDPOINT mkbucket BUCKET
  objstore.py KIND ENDPOINT put BUCKET [SIZE] < keys      (one key per line, exact: `dir/` too;
                                                           `KEY<TAB>N` gives that key N bytes)
  objstore.py KIND ENDPOINT list BUCKET                    (every key, one per line, sorted)

KIND is s3 (moto: accepts unsigned requests), az (Azurite: SharedKey-signed with the
well-known development account) or gcs (fake-gcs-server: no auth). ENDPOINT is
http://127.0.0.1:PORT (for az, without the account).
"""
import base64, hashlib, hmac, http.client, json, sys, xml.etree.ElementTree as ET
from email.utils import formatdate
from urllib.parse import quote, urlparse

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


def put(kind, c, bucket, key, body):
    if kind == "s3":
        c.req("PUT", f"/{bucket}/{path_of(key)}", body, {"Content-Type": "application/octet-stream"}, ok=(200,))
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
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
