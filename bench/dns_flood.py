"""The agent's name server under a flood of random-name queries from one container (20,000 a
second for 30 s by default) with an upstream that never answers: open files of the name
server's process, how much of the flood it answered, and how another container's lookups of a
cluster name fared meanwhile."""

from __future__ import annotations

import argparse

from tests.name_server_flood import measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=20_000, help="queries a second")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    f = measure(args.rate, args.seconds)
    print(
        f"flood: {f.sent} queries in {f.seconds:.1f} s ({f.sent / f.seconds:.0f}/s),"
        f" {f.flood_answered} answered"
    )
    print(f"open files: {f.open_files_before} before, at most {f.open_files_max} during")
    print(
        f"another container: {f.normal_answered} of {f.normal_asked} lookups answered,"
        f" {f.normal_wrong} wrong"
    )


if __name__ == "__main__":
    main()
