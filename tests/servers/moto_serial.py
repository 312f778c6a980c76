#!/usr/bin/env python3
"""moto's S3 server with its requests handled one at a time.

  moto_serial.py -H HOST -p PORT      (run with the Python of moto's venv)

moto checks a conditional write (`If-None-Match: *`, `If-Match`) and then writes, as two
steps of a request; its own server (`moto_server`) handles requests on many threads, so two
runners that race for one lease object can both pass the check (seen: 1 trial in about
100). Amazon S3 makes the check and the write one step. Handling one request at a time
gives moto the same guarantee: connections are still accepted concurrently, and each
request runs to its last byte under one lock. Everything else is moto_server as it is.
"""
import argparse
import os
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ, start_response):
        with lock:
            return list(app(environ, start_response))

    run_simple(args.host, args.port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
