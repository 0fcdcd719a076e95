#!/usr/bin/env python3
"""The table of scripts/bench-aso.sh, from the emulator's request log and state.

    aso-report.py requests.json state.json CONVERGED_SEQ STEADY_S SYNC_S MOAT_CONVERGE_S ASO_CONVERGE_S MOAT_HWM_KIB ASO_HWM_KIB

Requests are attributed to an operator by resource group (moat: rg-ml-prod, rg-data; ASO:
rg-aso); an operation poll by the resource its operation targets. A managed resource is an id
the operator wrote (PUT or PATCH answered 2xx). Steady state is every request after both were
Ready (sequence numbers above CONVERGED_SEQ), over STEADY_S seconds.
"""

import json
import re
import sys

OPERATORS = {"moat": ("rg-ml-prod", "rg-data"), "ASO": ("rg-aso",)}
POLL = re.compile(r"/providers/[^/]+/locations/[^/]+/(operations|operationresults|asyncoperations)/([^/?]+)", re.I)


def owner_of(path, op_targets):
    p = path.split("?")[0].lower()
    m = POLL.search(p)
    if m:
        p = op_targets.get(m.group(2), "")
    for who, groups in OPERATORS.items():
        # Resource paths and ids: .../resourcegroups/<rg>/...; a resource-group operation's target: <sub>/<rg>.
        if any(f"/resourcegroups/{g}/" in p + "/" or p.endswith(f"/{g}") for g in groups):
            return who
    return None


def main():
    req_file, state_file, converged, steady_s, sync_s, moat_s, aso_s, moat_kib, aso_kib = sys.argv[1:]
    entries = json.load(open(req_file))["entries"]
    state = json.load(open(state_file))
    op_targets = {o["id"].lower(): o["target"].lower() for o in state["operations"]}
    converged, steady_s, sync_s = int(converged), float(steady_s), float(sync_s)
    rows = {}
    unattributed = 0
    for who in OPERATORS:
        rows[who] = {"managed": set(), "refused": {}, "429": 0, "steady_w": 0, "steady_r": 0, "all": 0, "converge_requests": 0}
    for e in entries:
        who = owner_of(e["path"], op_targets)
        if who is None:
            unattributed += 1
            continue
        r = rows[who]
        r["all"] += 1
        write = e["method"] != "GET"
        if e["status"] == 429:
            r["429"] += 1
        if write and e["status"] >= 400:
            r["refused"][e["status"]] = r["refused"].get(e["status"], 0) + 1
        if write and e["method"] in ("PUT", "PATCH") and 200 <= e["status"] < 300 and not POLL.search(e["path"]):
            r["managed"].add(e["path"].split("?")[0].lower())
        if e["seq"] > converged:
            r["steady_w" if write else "steady_r"] += 1
        else:
            r["converge_requests"] += 1
    conv = {"moat": float(moat_s), "ASO": float(aso_s)}
    hwm = {"moat": int(moat_kib) / 1024, "ASO": int(aso_kib) / 1024}
    per_h = 3600.0 / steady_s
    print(f"\nmoat and Azure Service Operator v2.20.0 on one ARM emulator (HTTPS, public-cloud limits enforced, "
          f"1 InProgress poll, Retry-After 1 s); sync period {sync_s:.0f} s for both; steady state watched {steady_s:.0f} s\n")
    print("| per managed resource | moat | ASO |")
    print("|---|---|---|")
    n = {w: max(1, len(rows[w]["managed"])) for w in rows}
    print(f"| managed resources (ids written) | {len(rows['moat']['managed'])} | {len(rows['ASO']['managed'])} |")
    print(f"| writes per hour at steady state | {rows['moat']['steady_w'] * per_h / n['moat']:.2f} | {rows['ASO']['steady_w'] * per_h / n['ASO']:.2f} |")
    print(f"| reads per hour at steady state | {rows['moat']['steady_r'] * per_h / n['moat']:.2f} | {rows['ASO']['steady_r'] * per_h / n['ASO']:.2f} |")
    print(f"| ARM requests to converge | {rows['moat']['converge_requests'] / n['moat']:.2f} | {rows['ASO']['converge_requests'] / n['ASO']:.2f} |")
    print(f"| converge time (s, whole workload) | {conv['moat']:.1f} | {conv['ASO']:.1f} |")
    for w in rows:
        rows[w]["refused_txt"] = ", ".join(f"{k}: {v}" for k, v in sorted(rows[w]["refused"].items())) or "0"
    print(f"| refused writes (whole run, by status) | {rows['moat']['refused_txt']} | {rows['ASO']['refused_txt']} |")
    print(f"| 429s (whole run) | {rows['moat']['429']} | {rows['ASO']['429']} |")
    print(f"| peak RSS (VmHWM, MiB) | {hwm['moat']:.0f} | {hwm['ASO']:.0f} |")
    print(f"\n(requests attributed: moat {rows['moat']['all']}, ASO {rows['ASO']['all']}, neither {unattributed})")


if __name__ == "__main__":
    main()
