"""Benchmark: the local org serving LoginHistory to one simple-salesforce client, as the org grows.

For each org size the script builds an org (the real generator), starts ``oauthwatch simulate`` as a
subprocess, and times ``sf.query_all_iter`` over the whole LoginHistory table over HTTPS while
sampling the server's resident memory (``VmRSS``/``VmHWM`` from ``/proc/<pid>/status``).

Baseline, measured in the same run on the same rows: the same client reading the same pages
pre-rendered to JSON files (and their gzip, which both servers send because the client accepts it)
and served by a static HTTPS server (Starlette + uvicorn, same TLS certificate, no SOQL, no
database, no auth, no API counting). It is the ceiling set by TLS, HTTP and the client's
own JSON parsing, so the ratio says how much of that ceiling the org reaches.

    .venv/bin/python bench/bench_local_org.py --sizes 100000,1000000

The 1M-row org takes about a minute to build; ``--sizes 20000,100000`` is a quick run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIELDS = "Id, LoginTime, UserId, LoginType, Status, Application, SourceIp"
SOQL = f"SELECT {FIELDS} FROM LoginHistory"
ROWS_PER_USER_DAY = 6.6  # what the generator produces on average
DAYS = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    """Peak VmRSS of a process, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.stop_event = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.peak_kb = max(self.peak_kb, proc_kb(self.pid, "VmRSS"))
            except OSError:
                return
            self.stop_event.wait(0.05)


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not listen in time")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def build(state: Path, target_rows: int, seed: int) -> int:
    from oauthwatch.simulator.generate.build import build_org

    users = max(20, round(target_rows / (DAYS * ROWS_PER_USER_DAY)))
    build_org(state, seed=seed, days=DAYS, users=users, apps=8, elf_days=0)
    import sqlite3

    conn = sqlite3.connect(state / "org.sqlite3")
    try:
        return conn.execute("SELECT COUNT(*) FROM LoginHistory").fetchone()[0]
    finally:
        conn.close()


def client_session(ca: str) -> requests.Session:
    s = requests.Session()
    s.verify = ca
    s.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise override verify
    return s


def read_all(instance_url: str, token: str, session: requests.Session) -> tuple[int, float]:
    from simple_salesforce import Salesforce

    sf = Salesforce(instance_url=instance_url, session_id=token, session=session)
    t0 = time.perf_counter()
    n = sum(1 for _ in sf.query_all_iter(SOQL))
    return n, time.perf_counter() - t0


def measure_org(state: Path) -> dict:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "oauthwatch.cli.simulate",
        "--state-dir",
        str(state),
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        creds_path = state / "credentials.json"
        deadline = time.monotonic() + 120
        while not creds_path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        wait_listening(port, proc)
        creds = json.loads(creds_path.read_text())
        session = client_session(creds["ca_bundle"])
        import jwt

        claims = {
            "iss": creds["consumer_key"],
            "sub": creds["jwt_username"],
            "aud": creds["login_url"],
            "exp": int(time.time()) + 170,
        }
        assertion = jwt.encode(claims, Path(creds["private_key_file"]).read_text(), algorithm="RS256")
        tok = session.post(
            creds["login_url"] + "/services/oauth2/token",
            timeout=60,
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        ).json()
        idle_kb = proc_kb(proc.pid, "VmRSS")
        sampler = RssSampler(proc.pid)
        sampler.start()
        n, secs = read_all(tok["instance_url"], tok["access_token"], session)
        sampler.stop_event.set()
        sampler.join()
        hwm = proc_kb(proc.pid, "VmHWM")
        session.close()
        return {"records": n, "seconds": secs, "idle_kb": idle_kb, "peak_kb": max(sampler.peak_kb, hwm)}
    finally:
        stop(proc)


def prerender(state: Path, out: Path) -> None:
    """The same pages the org would send, rendered once to files (the baseline serves them as bytes)."""
    import orjson

    from oauthwatch.simulator.soql.service import QueryService

    svc = QueryService(state / "org.sqlite3", licensed=False, now_ms=lambda: int(time.time() * 1000))
    out.mkdir(parents=True, exist_ok=True)

    def save(name: str, body: dict) -> None:
        data = orjson.dumps(body)
        (out / name).write_bytes(data)
        (out / (name + ".gz")).write_bytes(gzip.compress(data, 1, mtime=0))

    body = svc.run(SOQL, api_version="59.0")
    save("first", body)
    while not body["done"]:
        loc = body["nextRecordsUrl"].rsplit("/", 1)[1]
        body = svc.more(loc, api_version="59.0")
        save(loc, body)
    svc.close()


def static_server(pages: str, port: str, cert: str, key: str) -> None:
    """The baseline server: answers /query/ with the first page and /query/<loc> with that page."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    folder = Path(pages)

    def send(request: Request, name: str) -> Response:
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(
                (folder / (name + ".gz")).read_bytes(),
                media_type="application/json",
                headers={"Content-Encoding": "gzip"},
            )
        return Response((folder / name).read_bytes(), media_type="application/json")

    async def first(request: Request) -> Response:
        return send(request, "first")

    async def more(request: Request) -> Response:
        return send(request, request.path_params["loc"])

    app = Starlette(
        routes=[Route("/services/data/{v}/query/", first), Route("/services/data/{v}/query/{loc}", more)]
    )
    uvicorn.run(
        app, host="127.0.0.1", port=int(port), ssl_certfile=cert, ssl_keyfile=key, log_level="warning"
    )


def measure_static(state: Path) -> dict:
    pages = state / "static-pages"
    prerender(state, pages)
    port = free_port()
    cmd = [
        sys.executable,
        __file__,
        "--static-server",
        str(pages),
        str(port),
        str(state / "server.pem"),
        str(state / "server.key"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_listening(port, proc)
        session = client_session(str(state / "ca.pem"))
        n, secs = read_all(f"https://127.0.0.1:{port}", "static", session)
        session.close()
        return {"records": n, "seconds": secs}
    finally:
        stop(proc)
        shutil.rmtree(pages, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=os.environ.get("BENCH_LOCAL_ORG_SIZES", "100000,1000000"),
        help="target LoginHistory rows per org, comma-separated (env BENCH_LOCAL_ORG_SIZES)",
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the built orgs (printed path)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-local-org-"))
    results = []
    try:
        for target in [int(x) for x in args.sizes.split(",")]:
            state = work / f"org-{target}"
            t0 = time.perf_counter()
            rows = build(state, target, args.seed)
            build_s = time.perf_counter() - t0
            org = measure_org(state)  # also creates the CA and server certificate the baseline reuses
            base = measure_static(state)
            rows += 1  # the benchmark's own token request is logged as one more LoginHistory row
            assert org["records"] == rows == base["records"], (org["records"], rows, base["records"])
            results.append((rows, build_s, org, base))
            print(f"... {rows} rows done", file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"orgs kept in {work}", file=sys.stderr)
    print()
    print(
        "local org: LoginHistory via simple-salesforce query_all_iter over HTTPS (one client, 2,000-record pages)"
    )
    print("baseline : the same client reading the same pages pre-rendered as static JSON (+gzip) over HTTPS")
    print()
    head = f"{'org rows':>10} {'org rec/s':>10} {'static rec/s':>13} {'ratio':>6} {'server idle RSS':>16} {'server peak RSS':>16}"
    print(head)
    print("-" * len(head))
    for rows, _build_s, org, base in results:
        rate, base_rate = org["records"] / org["seconds"], base["records"] / base["seconds"]
        print(
            f"{rows:>10,} {rate:>10,.0f} {base_rate:>13,.0f} {rate / base_rate:>6.2f}"
            f" {org['idle_kb'] / 1024:>13.1f} MB {org['peak_kb'] / 1024:>13.1f} MB"
        )
    if len(results) > 1:
        small, big = results[0], results[-1]
        print()
        print(
            f"rows x{big[0] / small[0]:.1f} -> server peak RSS x{big[2]['peak_kb'] / small[2]['peak_kb']:.2f}"
            f" ({small[2]['peak_kb'] / 1024:.0f} MB -> {big[2]['peak_kb'] / 1024:.0f} MB)"
        )


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--static-server":
        static_server(*sys.argv[2:])
    else:
        main()
