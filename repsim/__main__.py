"""Command line: ``repsim compare FILE...`` (activation files → report), ``repsim stats`` / ``merge`` / ``report`` (the
map-reduce of a cluster job), ``repsim demo``, ``repsim example`` and ``repsim config``. Bare ``repsim`` prints the
usage.

Imports are deferred to the sub-command that needs them (repsim.io and pyarrow for the file commands, torch and
matplotlib for the demo, the measures for the example, NumPy and SciPy for ``config``), so ``repsim --version`` and
``repsim --help`` load only argparse, and ``repsim config`` neither torch, matplotlib nor scipy.stats
(tests/test_startup.py)."""
from __future__ import annotations

import argparse
import sys

from ._version import __version__

EPILOG = """examples:
  repsim compare a.safetensors b.safetensors --out report/       rows: a's layers, columns: b's (CKA, dCKA, RV2, PWCCA)
  repsim compare a.npz b.parquet --ids sample_id --metrics cka rv2 --max-samples 50000 --seed 1
  repsim stats a_$SLURM_ARRAY_TASK_ID.npz b_$SLURM_ARRAY_TASK_ID.npz --names a b --out s_$SLURM_ARRAY_TASK_ID.npz
  repsim merge s_*.npz --out all.npz && repsim report all.npz --metrics cka pwcca --out report/
  repsim example                                                 a streamed synthetic comparison (no torch)
  repsim demo                                                    MNIST-1D, small models, the seed papers' analyses
  repsim config                                                  engines and libraries in use
docs/files.md describes the file formats, ids and the cluster recipes."""


def _example(args) -> int:
    from . import _example  # deferred: the measures (SciPy) load only when the example runs

    return _example.run(args)


def _demo(args) -> int:
    if args.epochs is not None and args.epochs < 1:
        raise SystemExit("repsim demo: --epochs must be at least 1")
    from . import demo  # deferred: torch, mnist1d and matplotlib load only for the demo

    try:
        demo.main(out=args.out, epochs=args.epochs, seed=args.seed, use_cache=not args.no_cache,
                  progress=not args.quiet)
    except ImportError as exc:
        raise SystemExit(f"repsim demo needs the demo extra: pip install 'repsim-engine[demo]' ({exc})") from None
    return 0


def _config(args) -> int:
    from ._config import show_config  # deferred: NumPy and SciPy load only for `repsim config`

    show_config()
    return 0


def _fail(command: str, exc: BaseException) -> int:
    print(f"repsim {command}: error: {exc}", file=sys.stderr)
    return 2


def _save_report(report, out, plots: bool) -> None:
    if out is None:
        print(report)
        return
    try:
        written = report.save(out, plots=plots)
    except ImportError:  # matplotlib is optional: the JSON and CSV files are written, the PNGs skipped
        written = report.save(out, plots=False)
        print("(no PNG heatmaps: pip install matplotlib)", file=sys.stderr)
    print(report)
    print("\nwrote " + ", ".join(sorted(written.values())))


def _open_files(args, command: str):
    """(the io module, the opened and joined files) of a file command, or (None, its exit status) after the error
    is printed; the join is described on stderr."""
    from . import io  # deferred: pyarrow loads only for the file commands

    try:
        files = io.open_files(args.files, args.layers, args.ids, args.names, args.strict, args.max_samples,
                              args.seed)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        return None, _fail(command, exc)
    print(files.alignment.describe(files.names), file=sys.stderr)
    return io, files


def _compare(args) -> int:
    io, files = _open_files(args, "compare")
    if io is None:
        return files
    try:
        memory, _ = io.memory_plan(files, args.max_memory)
        print(memory, file=sys.stderr)
        report = io.compare_open(files, args.metrics, args.max_memory, not args.quiet, None, args.inference)
    except (ValueError, TypeError) as exc:
        return _fail("compare", exc)
    finally:
        files.close()
    _save_report(report, args.out, not args.no_plots)
    return 0


def _stats(args) -> int:
    io, files = _open_files(args, "stats")
    if io is None:
        return files
    try:
        acc, tracker, _ = io.file_statistics(files, args.max_memory, not args.quiet)
        written = io.save_stats(args.out, acc, tracker, files.meta())
    except (ValueError, TypeError, OSError) as exc:
        return _fail("stats", exc)
    finally:
        files.close()
    print(f"{acc.n:,} samples of {len(acc.sites)} sites → " + ", ".join(written))
    return 0


def _merge(args) -> int:
    from . import io  # deferred: pyarrow loads only for the file commands

    try:
        acc, tracker, meta = io.merge_stats(args.stats)
        written = io.save_stats(args.out, acc, tracker, meta)
    except (ValueError, TypeError, OSError) as exc:
        return _fail("merge", exc)
    print(f"merged {len(args.stats)} files: {acc.n:,} samples → " + ", ".join(written))
    return 0


def _report(args) -> int:
    from . import io  # deferred: pyarrow loads only for the file commands

    try:
        acc, _, meta = io.load_stats(args.stats)
        report = io.report_from_stats(acc, meta, args.metrics, inference=args.inference)
    except (ValueError, TypeError, OSError) as exc:
        return _fail("report", exc)
    _save_report(report, args.out, not args.no_plots)
    return 0


def _report_options(p) -> None:
    """The options of the commands that write a report (compare, report)."""
    p.add_argument("--metrics", nargs="+", metavar="METRIC", default=["cka", "debiased_cka", "rv2", "pwcca"],
                   help="registry measures (default: cka debiased_cka rv2 pwcca; see repsim.measures())")
    p.add_argument("--out", metavar="DIR", help="write report.json, <metric>.csv and <metric>.png here")
    p.add_argument("--no-plots", action="store_true", help="no PNG heatmaps")
    p.add_argument("--inference", choices=["moments"],
                   help="'moments': permutation p-values of every CKA / debiased CKA / RV / RV2 cell from the same "
                        "statistics (two exact moments, no permutation drawn), in report.json and "
                        "<metric>.p_values.csv")


def _file_options(p, out_required: bool) -> None:
    p.add_argument("files", nargs="+", metavar="FILE",
                   help=".npy, .npz, .safetensors, .parquet/.pq or Arrow IPC .arrow/.feather files")
    p.add_argument("--layers", nargs="+", metavar="LAYER", help="layers to keep (default: every float array)")
    p.add_argument("--ids", default="ids", metavar="COLUMN|KEY",
                   help="the ids array/tensor/column in each file, to join samples by id (default 'ids'; files "
                        "without it are joined by row order)")
    p.add_argument("--names", nargs="+", metavar="NAME", help="model names of the files (default: their stems)")
    p.add_argument("--strict", action="store_true", help="refuse files whose ids differ (default: inner join)")
    p.add_argument("--max-samples", type=int, metavar="N", help="use at most N samples (a seeded random subset)")
    p.add_argument("--seed", type=int, default=0, help="seed of --max-samples (default 0)")
    p.add_argument("--max-memory", metavar="BYTES", help="memory budget, e.g. 8GB (default: half the available)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="repsim", description="Exact, streaming representational similarity.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"repsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    cmp_ = sub.add_parser(
        "compare", help="compare the layers stored in activation files → report (JSON, CSV, PNG)",
        description="Stream activation files into exact statistics and write the report of repsim.compare. Sites "
        "are '<file stem>.<layer>'; with two files the rows are the first file's layers and the columns the "
        "second's. Samples are joined by id when the files carry ids.",
        epilog="examples:\n  repsim compare a.safetensors b.safetensors --out report/\n"
               "  repsim compare a.npz b.npz --ids sample_id --strict --metrics cka rv2\n"
               "  repsim compare acts.parquet --layers h1 h2 h3 --max-samples 20000 --seed 3\n"
               "  repsim compare a.npy b.npy --metrics cka --inference moments",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _file_options(cmp_, False)
    _report_options(cmp_)
    cmp_.set_defaults(func=_compare)

    st = sub.add_parser(
        "stats", help="exact statistics of activation files → STATS (one task of a map-reduce)",
        description="Accumulate activation files into exact statistics (repsim.Moments.save) and, beside them, "
        "<STATS>.ids.npz: the ids seen (so that overlapping shards are refused by merge) and the sites.",
        epilog="example (a Slurm array task):\n  repsim stats a_$SLURM_ARRAY_TASK_ID.safetensors "
               "b_$SLURM_ARRAY_TASK_ID.safetensors --names a b --out stats_$SLURM_ARRAY_TASK_ID.npz",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _file_options(st, True)
    st.add_argument("--out", required=True, metavar="STATS", help="the statistics file to write (.npz)")
    st.set_defaults(func=_stats)

    mg = sub.add_parser("merge", help="merge statistics files exactly (Moments.merge) → STATS",
                        description="Merge statistics files of disjoint samples exactly; refuses files that share "
                        "samples (by their ids) or differ in sites.",
                        epilog="example:\n  repsim merge stats_*.npz --out all.npz",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    mg.add_argument("stats", nargs="+", metavar="STATS")
    mg.add_argument("--out", required=True, metavar="STATS")
    mg.set_defaults(func=_merge)

    rp = sub.add_parser("report", help="the report of a statistics file",
                        description="Compute the measures of a statistics file and write the report of "
                        "repsim.compare.", epilog="example:\n  repsim report all.npz --metrics cka rv2 --out report/",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    rp.add_argument("stats", metavar="STATS")
    _report_options(rp)
    rp.set_defaults(func=_report)

    demo = sub.add_parser(
        "demo",
        help="MNIST-1D, three small models trained on the spot, the seeds' analyses → report.md, figures",
        description="Generate MNIST-1D locally, train two small 1-D CNNs and an MLP on the CPU (weights cached), "
        "and run stitching (seed 001), projection curves (seed 000), CKA/dCKA/RV2 (seed 002) and max/simple "
        "matches (seeds 003/004). Writes report.md, results.json and PNG figures.",
    )
    demo.add_argument("--out", default="repsim-demo", help="output directory (default ./repsim-demo)")
    demo.add_argument("--epochs", type=int, default=None, help="training epochs of every model (default 50)")
    demo.add_argument("--seed", type=int, default=0, help="initialisation seed of CNN A; CNN B, the MLP and the "
                      "untrained CNN use seed+1, +2, +3 (default 0)")
    demo.add_argument("--no-cache", action="store_true", help="retrain the models (and overwrite the cached weights)")
    demo.add_argument("--quiet", action="store_true", help="no progress display")
    demo.set_defaults(func=_demo)
    ex = sub.add_parser("example", help="stream a synthetic 4-layer comparison: CKA, debiased CKA and RV2 side by side")
    ex.add_argument("--n", type=int, default=200_000, help="number of samples (default 200000)")
    ex.add_argument("--batch", type=int, default=4096, help="batch size (default 4096)")
    ex.add_argument("--width", type=int, default=128, help="layer width (default 128)")
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--quiet", action="store_true", help="no progress bar")
    ex.add_argument("--check-rows", type=int, default=8192, help=argparse.SUPPRESS)
    ex.set_defaults(func=_example)
    cfg = sub.add_parser("config", help="print the engines and libraries in use")
    cfg.set_defaults(func=_config)
    return parser


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
