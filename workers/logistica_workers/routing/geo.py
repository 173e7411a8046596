"""Distance matrices, vectorised with numpy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)

FloatArray = npt.NDArray[np.float64]


def haversine_matrix(lat: FloatArray, lng: FloatArray, block: int = 512) -> FloatArray:
    """Great-circle distances in metres between every pair of points (degrees in).

    No trigonometry on the N x N arrays but the final arcsin: sin((x_i - x_j) / 2) comes from
    outer products of per-point sines and cosines (exact for small differences too), and rows
    are done in blocks written into the one output array, so large N costs no N x N temporaries.
    """
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    lam = np.radians(np.asarray(lng, dtype=np.float64))
    sh, ch = np.sin(phi / 2), np.cos(phi / 2)
    sl, cl = np.sin(lam / 2), np.cos(lam / 2)
    cphi = np.cos(phi)
    n = len(phi)
    out: FloatArray = np.empty((n, n), dtype=np.float64)
    tmp = np.empty((min(block, n), n), dtype=np.float64)
    for i in range(0, n, block):
        j = min(n, i + block)
        a, b = out[i:j], tmp[: j - i]
        np.multiply.outer(sh[i:j], ch, out=a)
        a -= np.multiply.outer(ch[i:j], sh)  # sin((phi_i - phi_j) / 2)
        np.square(a, out=a)
        np.multiply.outer(sl[i:j], cl, out=b)
        b -= np.multiply.outer(cl[i:j], sl)  # sin((lam_i - lam_j) / 2)
        np.square(b, out=b)
        b *= cphi[i:j, None]
        b *= cphi
        a += b
        np.clip(a, 0.0, 1.0, out=a)
        np.sqrt(a, out=a)
        np.arcsin(a, out=a)
    out *= 2 * EARTH_RADIUS_M
    return out


def euclidean_matrix(x: FloatArray, y: FloatArray) -> FloatArray:
    return np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
