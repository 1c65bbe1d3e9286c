#!/usr/bin/env python3
"""Print where a cargo build's time went, from its `--timings` report (cargo-timing.html).

    python3 tests/tools/timings.py target/cargo-timings/cargo-timing.html [N]

The report embeds the units as `const UNIT_DATA = [...]`: each unit's start and duration in
seconds. Printed: the wall time of the build, the summed unit time (above the wall time when
units overlapped on several cores), and the N longest units (default 12).
"""
import json
import re
import sys


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    html = open(sys.argv[1], encoding="utf-8").read()
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    m = re.search(r"const UNIT_DATA = (\[.*?\]);\s*\n", html, re.S)
    if not m:
        print(f"{sys.argv[1]}: no UNIT_DATA in this report")
        return 1
    units = json.loads(m.group(1))
    wall = max((u["start"] + u["duration"] for u in units), default=0.0)
    total = sum(u["duration"] for u in units)
    print(f"{len(units)} units, wall {wall:.0f} s, unit time {total:.0f} s ({total / wall if wall else 0:.1f} in parallel on average)")
    for u in sorted(units, key=lambda u: -u["duration"])[:n]:
        target = u.get("target", "").strip() or "lib"
        print(f"  {u['duration']:7.1f} s  {u['name']} {u['version']} {target} {u.get('mode', '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
