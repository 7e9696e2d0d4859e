"""What the token thief does with the tokens: reconnaissance, a Bulk API export, a deleted job.

The 2025 campaigns ran the same sequence with each stolen token (docs/incident-response.md):
list the objects (``GET /sobjects``), describe the valuable ones, count their rows
(``SELECT COUNT() FROM …``, which ApiTotalUsage logs as a ``/query`` call on the object) and read
the org's limits, then export the objects with Bulk API 2.0 query jobs, poll them, download the
result pages, and delete the last job right after it finished. Every call is an ApiTotalUsage row
of the vendor app (its id and name, the victim user, the thief's address, no client name: the
scripts send none); every job is listed by ``GET jobs/query`` until it is deleted
(:mod:`oauthwatch.simulator.data.staged`). Pure: the same plan, seed and time give the same calls.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from oauthwatch.simulator.data.elfformat import digest, token
from oauthwatch.simulator.data.ids import make_id
from oauthwatch.simulator.data.staged import ApiCall, BulkJob

MIN, SEC = 60_000, 1000
V = "/v62.0"
RECON_OBJECTS = ("Account", "Contact", "User", "Opportunity", "Case")
# object → rows exported (the org's size does not matter to the detectors: the volume of calls does)
EXPORTS = (("Account", 48_210), ("Opportunity", 75_400), ("User", 912), ("Contact", 161_873))
PAGE_ROWS = 10_000  # the thief asks for results in pages of maxRecords=10000


@dataclass
class Theft:
    """The staged calls and jobs, and the ids the ground truth names."""

    calls: list[ApiCall]
    jobs: list[BulkJob]
    deleted: list[str]
    recon_calls: int
    export_calls: int


def theft_calls(
    rng: random.Random,
    *,
    app_id: str,
    app_name: str,
    users: list[tuple[str, str]],
    recon: tuple[int, str],
    exports: tuple[int, tuple[str, ...]],
) -> Theft:
    """Calls made as ``users`` ((id, username)) through ``app``: recon at ``recon`` = (time, ip),
    then the exports from ``exports`` = (first time, addresses)."""
    calls: list[ApiCall] = []

    def call(t: int, fam: str, res: str, method: str, status: str, entity: str, ip: str, who: int) -> None:
        uid, uname = users[who % len(users)]
        rid = token(digest(f"theft:{app_id}:{t}:{len(calls)}")[:16], 22)
        calls.append(ApiCall(rid, t, uid, uname, fam, res, method, status, entity, "", ip, app_id, app_name))

    t, ip = recon[0] + MIN, recon[1]
    call(t, "REST", f"{V}/sobjects", "GET", "200", "", ip, 0)
    for k, obj in enumerate(RECON_OBJECTS):
        call(t + (2 + k) * 7 * SEC, "REST", f"{V}/sobjects/{obj}/describe", "GET", "200", obj, ip, 0)
        call(t + (3 + k) * 7 * SEC, "REST", f"{V}/query", "GET", "200", obj, ip, 0)  # SELECT COUNT() FROM obj
    call(t + 50 * SEC, "REST", f"{V}/limits", "GET", "200", "", ip, 0)
    recon_calls = len(calls)

    jobs: list[BulkJob] = []
    t, ips = exports
    for k, (obj, rows) in enumerate(EXPORTS):
        who, ip = k, ips[rng.randrange(len(ips))]
        job_id = make_id("750", 700_000 + (t // MIN) % 1_000_000 * 8 + k)
        done = t + 60 * SEC + rng.randrange(60 * SEC)
        call(t, "Bulk", f"{V}/jobs/query", "POST", "200", obj, ip, who)
        call(t + 30 * SEC, "Bulk", f"{V}/jobs/query/{job_id}", "GET", "200", obj, ip, who)
        call(done + 5 * SEC, "Bulk", f"{V}/jobs/query/{job_id}", "GET", "200", obj, ip, who)
        pages = -(-rows // PAGE_ROWS)
        for p in range(pages):
            call(
                done + (10 + 4 * p) * SEC,
                "Bulk",
                f"{V}/jobs/query/{job_id}/results",
                "GET",
                "200",
                obj,
                ip,
                who,
            )
        deleted = None
        if k == len(EXPORTS) - 1:  # the last (biggest) export is deleted two minutes after it finished
            deleted = done + 2 * MIN
            call(deleted, "Bulk", f"{V}/jobs/query/{job_id}", "DELETE", "204", obj, ip, who)
        uid = users[who % len(users)][0]
        jobs.append(BulkJob(job_id, "query", obj, uid, t, done, rows, deleted_ms=deleted))
        t = done + (10 + 4 * pages) * SEC + 4 * MIN + rng.randrange(2 * MIN)
    return Theft(calls, jobs, [j.id for j in jobs if j.deleted_ms], recon_calls, len(calls) - recon_calls)
