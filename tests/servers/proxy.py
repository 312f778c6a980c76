#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for sweep's object storage tests (Python standard library only).

It stands on 127.0.0.1 in front of a real S3 server and passes every request through, except
where its rules say to lie or to refuse, the way a hostile gateway or a throttled service would:

  proxy.py UPSTREAM RULES_JSON LOG      prints the port it listens on, then serves until killed

RULES_JSON (all optional):
  {"inject":   [{"prefix": P, "objects": [{"key": K, "size": N}], "prefixes": [Q]}],
                  ListObjectsV2 of prefix P also shows these objects and common prefixes
   "repeat_token": [P],   ListObjectsV2 of prefix P always says "truncated" with one same token
   "empty_pages":  [P],   ListObjectsV2 of prefix P answers pages with no keys and a fresh token
   "slowdown": {"every": N, "burst": K, "methods": ["GET", "POST", ...]},
                  after every N requests (of those methods), the next K get 503 SlowDown
   "slowdown_limit": M    at most M requests get 503 in all (0: no limit)}

LOG gets one line per request: METHOD TARGET STATUS (the status the client got), and for each
key of a DeleteObjects request that the server answered, a line `KEY <key>` (URL-encoded).
"""
import http.client, json, re, sys, threading, time
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlparse

UPSTREAM = urlparse(sys.argv[1])
RULES = json.loads(sys.argv[2])
LOG = open(sys.argv[3], "a", buffering=1)
LOCK = threading.Lock()
STATE = {"seen": 0, "burst": 0, "served_503": 0, "pages": 0}
SLOWDOWN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
            b'<Message>Please reduce your request rate.</Message></Error>')
LOCAL = threading.local()


def upstream():
    c = getattr(LOCAL, "conn", None)
    if c is None:
        c = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
        LOCAL.conn = c
    return c


def throttle(method):
    """Whether this request gets 503 SlowDown."""
    rule = RULES.get("slowdown")
    if not rule or method not in rule.get("methods", ["GET", "PUT", "POST", "DELETE", "HEAD"]):
        return False
    limit = RULES.get("slowdown_limit", 0)
    with LOCK:
        if limit and STATE["served_503"] >= limit:
            return False
        if STATE["burst"] > 0:
            STATE["burst"] -= 1
            STATE["served_503"] += 1
            return True
        STATE["seen"] += 1
        if STATE["seen"] % rule["every"] == 0:
            STATE["burst"] = rule["burst"] - 1
            STATE["served_503"] += 1
            return True
    return False


def enc(key, encoded):
    return quote(key, safe="") if encoded else key.replace("&", "&amp;").replace("<", "&lt;")


def rewrite_listing(query, body):
    """Applies the listing rules to a ListObjectsV2 answer."""
    if query.get("list-type") != ["2"]:
        return body
    prefix = query.get("prefix", [""])[0]
    encoded = query.get("encoding-type") == ["url"]
    text = body.decode()
    if prefix in RULES.get("empty_pages", []):
        with LOCK:
            STATE["pages"] += 1
            n = STATE["pages"]
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                f'<Prefix>{enc(prefix, encoded)}</Prefix><KeyCount>0</KeyCount><IsTruncated>true</IsTruncated>'
                f'<NextContinuationToken>empty-{n}</NextContinuationToken>'
                + ('<EncodingType>url</EncodingType>' if encoded else '') + '</ListBucketResult>').encode()
    if prefix in RULES.get("repeat_token", []):
        text = text.replace("<IsTruncated>false</IsTruncated>", "<IsTruncated>true</IsTruncated>")
        if "<NextContinuationToken>" in text:
            head, rest = text.split("<NextContinuationToken>", 1)
            text = head + "<NextContinuationToken>loop" + rest[rest.index("</NextContinuationToken>"):]
        else:
            text = text.replace("</ListBucketResult>", "<NextContinuationToken>loop</NextContinuationToken></ListBucketResult>")
    extra = ""
    for rule in RULES.get("inject", []):
        if rule["prefix"] != prefix or "continuation-token" in query:
            continue
        for o in rule.get("objects", []):
            extra += (f'<Contents><Key>{enc(o["key"], encoded)}</Key><LastModified>2024-07-01T00:00:00.000Z</LastModified>'
                      f'<ETag>"0"</ETag><Size>{o.get("size", 1)}</Size><StorageClass>STANDARD</StorageClass></Contents>')
        for p in rule.get("prefixes", []):
            extra += f'<CommonPrefixes><Prefix>{enc(p, encoded)}</Prefix></CommonPrefixes>'
    if extra:
        text = text.replace("</ListBucketResult>", extra + "</ListBucketResult>")
    return text.encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The status line and headers go out in one write and the body in another: with Nagle's
    # algorithm on, the body waits for the client's delayed ACK, 40 ms a response.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def answer(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        LOG.write(f"{self.command} {self.path} {status}\n")

    def relay(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if throttle(self.command):
            return self.answer(503, [("Content-Type", "application/xml")], SLOWDOWN)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
        u = urlparse(self.path)
        query = parse_qs(u.query, keep_blank_values=True)
        target = self.path
        if query.get("prefix", [""])[0] in RULES.get("repeat_token", []) and "continuation-token" in query:
            # The lie goes on: every page is the first one again, with the same token.
            kept = [f"{k}={quote(v[0], safe='')}" for k, v in query.items() if k != "continuation-token"]
            target = u.path + "?" + "&".join(kept)
        for attempt in range(2):
            c = upstream()
            try:
                c.request(self.command, target, body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
                break
            except (OSError, http.client.HTTPException):
                c.close()
                LOCAL.conn = None
                if attempt == 1:
                    return self.answer(502, [], b"upstream failed")
        if self.command == "GET" and r.status == 200:
            data = rewrite_listing(query, data)
        self.answer(r.status, r.getheaders(), data)
        if self.command == "POST" and "delete" in query and r.status == 200:
            for k in re.findall(rb"<Key>(.*?)</Key>", body):
                LOG.write(f"KEY {quote(unescape(k.decode()), safe='')}\n")

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = relay


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
