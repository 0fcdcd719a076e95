#!/usr/bin/env python3
"""Prints the Azure resources in an ARM emulator state dump as a table.

    curl -fsS "$ARM/_emulator/state" | python3 scripts/demo-table.py

Used by scripts/demo.sh; tests/demo_script.rs runs both. Read-only by-products that the emulator
fills in (NICs, DNS records) are left out. OWNER is the `moat.dev_owner` tag of what moat created;
children (subnets, rules, routes, links) are marked as such; anything else is not moat's.
"""
import json
import sys

SKIP = (
    "Microsoft.Network/networkInterfaces",
    "Microsoft.Network/privateDnsZones/A",
    "Microsoft.Network/privateDnsZones/SOA",
)
HEADER = ("TYPE", "NAME", "STATE", "OWNER")


def rows(state):
    out = []
    for r in state.get("resources", []):
        if r["type"] in SKIP:
            continue
        res = r.get("resource") or {}
        tags = res.get("tags") or {}
        child = r["type"].count("/") > 1
        owner = tags.get("moat.dev_owner") or ("(child of the above)" if child else "(not moat's)")
        parts = r["id"].split("/")
        name = "/".join(parts[8::2]) if len(parts) > 8 else parts[-1]
        out.append((r["type"].split("/", 1)[1], name, r.get("provisioningState") or "", owner))
    return sorted(out)


def main():
    try:
        state = json.load(sys.stdin)
    except json.JSONDecodeError as e:
        sys.exit(f"demo-table: the emulator state is not JSON: {e}")
    table = rows(state)
    widths = [max(len(row[i]) for row in table + [HEADER]) for i in range(len(HEADER))]
    for row in [HEADER] + table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    print(f"\n{len(table)} resources")


if __name__ == "__main__":
    main()
