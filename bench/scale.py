#!/usr/bin/env python3
"""Compares two reports of bench/run.sh (the same scenarios on two data sizes) and prints the
markdown table of issue 20's scale goal: no figure degrades by more than 1.5x between them.

    python3 bench/scale.py bench/out/1m.md bench/out/10m.md [--labels 1M 10M]

A scenario's figure is its p50 (lower is better) and its req/s (higher is better); it degrades
by the larger of p50(big) / p50(small) and req/s(small) / req/s(big). Rows without a p50 (the
ratio rows, the pgbench references) are skipped. Standard library only.
"""
import argparse
import re
import sys

GOAL = 1.5


def scenarios(path):
    """scenario -> (req/s, p50 ms) from the first table of a bench/run.sh report."""
    rows, header, parent = {}, None, ""
    with open(path, encoding="utf-8") as report:
        for line in report:
            if not line.startswith("|"):
                if header and rows:
                    break
                continue
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if header is None:
                header = cells
                continue
            if set(cells[0]) <= set("-"):
                continue
            record = dict(zip(header, cells))
            name = re.sub(r"\*\*", "", record.get("scenario", ""))
            # A "↳" row (the same computed on every request, say) belongs to the row above it.
            if name.startswith("↳"):
                name = f"{parent} {name}"
            else:
                parent = name

            def number(column):
                try:
                    return float(record.get(column, "–"))
                except ValueError:
                    return None

            rate, p50 = number("service req/s"), number("p50 ms")
            if p50 is not None and rate is not None and name not in rows:
                rows[name] = (rate, p50)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("small")
    parser.add_argument("big")
    parser.add_argument("--labels", nargs=2, default=["small", "big"])
    arguments = parser.parse_args()
    small, big = scenarios(arguments.small), scenarios(arguments.big)
    a, b = arguments.labels
    print(f"| scenario | req/s at {a} | req/s at {b} | p50 ms at {a} | p50 ms at {b} "
          f"| degradation ({b} vs {a}) | goal ≤ {GOAL} |")
    print("|---|---|---|---|---|---|---|")
    met = total = 0
    for name, (rate_small, p50_small) in small.items():
        if name not in big:
            continue
        rate_big, p50_big = big[name]
        worse = max(p50_big / p50_small if p50_small else 1.0,
                    rate_small / rate_big if rate_big else float("inf"))
        total += 1
        met += worse <= GOAL
        verdict = "met" if worse <= GOAL else "**not met**"
        print(f"| {name} | {rate_small:.0f} | {rate_big:.0f} | {p50_small:.3f} | {p50_big:.3f} "
              f"| {worse:.2f} | {verdict} |")
    print(f"\n{met} of {total} scenarios within {GOAL}x.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
