"""The seeds' experiments as functions (docs/design.md §3).

- :func:`stitching_table`: one model's features through another's classifier, through least-squares affine maps,
  logit-compatibility maps and unmapped (McNeely-White 2020, seed 001: Tables 5.2, 5.3, §5.6).
- :func:`projection_curves`: accuracy after projecting a model's features onto n-dimensional subspaces chosen by
  CCA against a second model, PCA, activations or at random (seed 000, §4.2; Raghu et al. 2017, Fig. 2).
"""
from ._logreg import fit_logistic
from .projection import ALL_METHODS, ProjectionCurves, default_n_values, projection_curves, projection_matrix
from .stitching import StitchingTable, stitching_table

__all__ = [
    "ALL_METHODS",
    "ProjectionCurves",
    "StitchingTable",
    "default_n_values",
    "fit_logistic",
    "projection_curves",
    "projection_matrix",
    "stitching_table",
]
