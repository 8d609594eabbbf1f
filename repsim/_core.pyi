import numpy as np
import numpy.typing as npt

def fill_augmented(
    out: npt.NDArray[np.float64],
    sites: list[npt.NDArray[np.float32] | npt.NDArray[np.float64]],
    references: list[npt.NDArray[np.float64]],
    n_threads: int = 1,
) -> tuple[int, int]: ...
