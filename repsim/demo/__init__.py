"""``repsim demo``: the seeds' experiments on MNIST-1D with small models trained on the spot.

>>> from repsim.demo import DemoConfig, run, write, summary   # doctest: +SKIP
>>> result = run(DemoConfig(seed=0))                           # doctest: +SKIP
>>> print(summary(result)); write(result, "out")               # doctest: +SKIP

Needs the ``demo`` extra (torch, mnist1d, matplotlib): ``pip install 'repsim-engine[demo]'``. The data are generated
locally by ``mnist1d.data.make_dataset`` (never downloaded); trained weights are cached (see
:func:`repsim.demo.train.cache_dir`), so a second run skips training.

Modules: :mod:`~repsim.demo.data` (MNIST-1D), :mod:`~repsim.demo.models` (1-D CNN, MLP),
:mod:`~repsim.demo.train` (training, cache), :mod:`~repsim.demo.pipeline` (the analyses),
:mod:`~repsim.demo.claims` (does each seed's claim hold here?), :mod:`~repsim.demo.report` (report.md, figures,
results.json, summary).
"""
from __future__ import annotations

__all__ = ["DemoConfig", "DemoResult", "main", "run", "summary", "write"]


def __getattr__(name):  # torch, matplotlib and mnist1d are imported only when the demo is used
    if name in ("DemoConfig", "DemoResult", "run"):
        from . import pipeline

        return getattr(pipeline, name)
    if name in ("summary", "write"):
        from . import report

        return getattr(report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(out="repsim-demo", epochs=None, seed=0, use_cache=True, progress=True, **config) -> dict:
    """Run the demo, write its outputs into ``out`` and print the summary; return the results dict."""
    import time

    from .pipeline import DemoConfig, run
    from .report import summary, write

    t0 = time.perf_counter()
    if epochs is not None:
        config["epochs"] = epochs
    result = run(DemoConfig(seed=seed, **config), use_cache=use_cache, progress=progress)
    paths = write(result, out)
    print(summary(result))
    figs = sum(1 for p in paths.values() if p.endswith(".png"))
    print(f"wrote {paths['report']}, {paths['results']} and {figs} figures in {time.perf_counter() - t0:.1f} s")
    return result.results
