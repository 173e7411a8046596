"""CVRPLIB ``.vrp`` files (TSPLIB format, EUC_2D), solved as classic CVRP."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from logistica_workers.routing.instance import Instance, cvrp_instance


class VrpFormatError(ValueError):
    pass


@dataclass
class _VrpFile:
    header: dict[str, str] = field(default_factory=dict)
    coords: dict[int, tuple[float, float]] = field(default_factory=dict)
    demand: dict[int, int] = field(default_factory=dict)
    depots: list[int] = field(default_factory=list)

    def add(self, section: str, parts: list[str]) -> bool:
        """Take one data line of ``section``; False when no section takes data lines."""
        if section == "NODE_COORD_SECTION":
            self.coords[int(parts[0])] = (float(parts[1]), float(parts[2]))
        elif section == "DEMAND_SECTION":
            self.demand[int(parts[0])] = int(parts[1])
        elif section == "DEPOT_SECTION":
            if int(parts[0]) != -1:
                self.depots.append(int(parts[0]))
        else:
            return False
        return True


def _parse(path: Path) -> _VrpFile:
    vrp = _VrpFile()
    section = ""
    for lineno, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line == "EOF":
            continue
        if line.endswith("_SECTION"):
            section = line
            continue
        if ":" in line and not line[0].isdigit() and not line.startswith("-"):
            key, _, value = line.partition(":")
            vrp.header[key.strip().upper()] = value.strip()
            section = ""
            continue
        try:
            taken = vrp.add(section, line.split())
        except (IndexError, ValueError) as exc:
            raise VrpFormatError(f"{path}:{lineno}: cannot read {line!r}: {exc}") from None
        if not taken:
            raise VrpFormatError(f"{path}:{lineno}: unexpected line {line!r}")
    return vrp


def read_vrp(path: Path, time_limit: float) -> tuple[str, Instance]:
    """Parse a CVRPLIB instance; customers are named by their node numbers in the file."""
    vrp = _parse(path)
    header, coords, demand, depots = vrp.header, vrp.coords, vrp.demand, vrp.depots
    if header.get("EDGE_WEIGHT_TYPE", "EUC_2D") != "EUC_2D":
        raise VrpFormatError(f"{path}: only EDGE_WEIGHT_TYPE EUC_2D is supported")
    if "CAPACITY" not in header:
        raise VrpFormatError(f"{path}: no CAPACITY")
    if len(depots) != 1:
        raise VrpFormatError(f"{path}: exactly one depot is supported, found {len(depots)}")
    depot = depots[0]
    nodes = sorted(coords)
    if sorted(demand) != nodes:
        raise VrpFormatError(f"{path}: NODE_COORD_SECTION and DEMAND_SECTION disagree")
    customers = [i for i in nodes if i != depot]
    xy = np.array([coords[depot]] + [coords[i] for i in customers], dtype=np.float64)
    inst = cvrp_instance(
        xy,
        [demand[i] for i in customers],
        int(header["CAPACITY"]),
        time_limit,
        [str(i) for i in customers],
    )
    return header.get("NAME", path.stem), inst


def cost(inst: Instance, routes: list[list[int]]) -> int:
    """The CVRPLIB cost: the sum of rounded Euclidean arcs of closed routes."""
    total = 0
    for stops in routes:
        if stops:
            path = [inst.start(0), *stops, inst.end]
            total += sum(int(inst.distance[a, b]) for a, b in itertools.pairwise(path))
    return total
