"""MNIST-1D (Greydanus 2020), generated locally by the ``mnist1d`` package — never downloaded.

``mnist1d.data.make_dataset`` builds the dataset from its ten 1-D digit templates with random padding, translation,
shear, scaling and noise. With the package's default arguments (5,000 samples, ``train_split`` 0.8, seed 42) it
gives the canonical 4,000 / 1,000 train / test split of length-40 signals in 10 balanced classes. Its download path
(``get_dataset(..., download=True)``) is never used.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

#: The dataset arguments that change the generated data (``url`` and ``shuffle_seq`` are left out / fixed).
DATA_KEYS = (
    "num_samples",
    "train_split",
    "template_len",
    "padding",
    "scale_coeff",
    "max_translation",
    "corr_noise_scale",
    "iid_noise_scale",
    "shear_scale",
    "shuffle_seq",
    "final_seq_length",
    "seed",
)


@dataclass(frozen=True)
class Dataset:
    """Train / test signals of shape (n, length) float32 and integer labels of shape (n,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    args: dict

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    @property
    def length(self) -> int:
        return int(self.x_train.shape[1])


def _import_mnist1d():
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise ImportError(
            "repsim demo needs the mnist1d package (it generates the MNIST-1D data locally): "
            "pip install 'repsim-engine[demo]' or pip install mnist1d"
        ) from None
    return get_dataset_args, make_dataset


def data_args(n_train: int = 4000, n_test: int = 1000, seed: int = 42) -> dict:
    """mnist1d's default dataset arguments with the sample counts set so that make_dataset's own split gives
    ``n_train`` / ``n_test`` samples (``num_samples`` must be a multiple of 10: it draws num_samples // 10 per class).
    """
    if n_train < 10 or n_test < 10:
        raise ValueError(f"n_train and n_test must be at least 10, got {n_train} and {n_test}")
    total = n_train + n_test
    if total % 10:
        raise ValueError(f"n_train + n_test must be a multiple of 10 (samples are drawn per class), got {total}")
    get_dataset_args, _ = _import_mnist1d()
    args = get_dataset_args(as_dict=True)
    args = {k: args[k] for k in DATA_KEYS}
    split = n_train / total
    if int(total * split) != n_train:  # make_dataset splits at int(num_samples * train_split)
        split = (n_train + 0.5) / total
    args.update(num_samples=total, train_split=split, seed=int(seed))
    args["padding"] = list(args["padding"])
    return args


def make_mnist1d(n_train: int = 4000, n_test: int = 1000, seed: int = 42) -> Dataset:
    """Generate MNIST-1D with ``mnist1d.data.make_dataset`` (offline; a few seconds).

    make_dataset seeds Python's and NumPy's global random generators; their previous states are restored
    afterwards, so calling this changes no global random state.
    """
    _, make_dataset = _import_mnist1d()
    from mnist1d.utils import ObjectView

    args = data_args(n_train, n_test, seed)
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        d = make_dataset(ObjectView(dict(args)))
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    out = Dataset(
        x_train=np.ascontiguousarray(d["x"], dtype=np.float32),
        y_train=np.ascontiguousarray(d["y"], dtype=np.int64),
        x_test=np.ascontiguousarray(d["x_test"], dtype=np.float32),
        y_test=np.ascontiguousarray(d["y_test"], dtype=np.int64),
        args=args,
    )
    if out.x_train.shape[0] != n_train or out.x_test.shape[0] != n_test:
        raise RuntimeError(
            f"mnist1d.make_dataset gave {out.x_train.shape[0]} / {out.x_test.shape[0]} train / test samples, "
            f"expected {n_train} / {n_test}"
        )
    return out
