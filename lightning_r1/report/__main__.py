"""``python -m lightning_r1.report SWEEP_DIR [--metric KEY]``: compare the runs of a sweep."""

from __future__ import annotations

import argparse
import sys

from lightning_r1.report import NoRunsError, make_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lightning_r1.report",
        description="Write report.md, report.png and samples_mosaic.png into a multirun folder.",
    )
    parser.add_argument("sweep_dir", help="a multirun folder, e.g. multirun/2024-05-01/12-00-00")
    parser.add_argument("--metric", default=None, help="metric to plot and rank by (default: val/fid, a toy "
                        "metric such as val/reverse_kl, else train/d_loss)")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        report = make_report(args.sweep_dir, metric=args.metric)
    except NoRunsError as err:
        print(f"lightning_r1.report: error: {err}", file=sys.stderr)
        return 2
    for problem in report.problems:
        print(f"lightning_r1.report: warning: {problem} — left out of the comparison", file=sys.stderr)
    for unreadable in report.unreadable:
        print(f"lightning_r1.report: warning: {unreadable}", file=sys.stderr)
    written = [p for p in (report.markdown, report.plot, report.mosaic) if p is not None]
    print(
        f"{len(report.jobs)} runs ({report.runs_with_problems} with problems); wrote "
        + ", ".join(map(str, written))
    )
    if report.not_ranked:  # the table is written; ranking values measured differently is refused
        print(f"lightning_r1.report: error: {report.not_ranked}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
