"""Distance matrices, vectorised with numpy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)

FloatArray = npt.NDArray[np.float64]


def haversine_matrix(lat: FloatArray, lng: FloatArray) -> FloatArray:
    """Great-circle distances in metres between every pair of points (degrees in)."""
    phi = np.radians(lat)
    lam = np.radians(lng)
    dphi = phi[:, None] - phi[None, :]
    dlam = lam[:, None] - lam[None, :]
    a = np.sin(dphi / 2) ** 2 + np.cos(phi)[:, None] * np.cos(phi)[None, :] * np.sin(dlam / 2) ** 2
    out: FloatArray = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return out


def euclidean_matrix(x: FloatArray, y: FloatArray) -> FloatArray:
    return np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
