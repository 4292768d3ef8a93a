"""A small typed module for the training smoke test."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional


@dataclass
class Point:
    x: float
    y: float

    def distance(self, other: Point) -> float:
        return math.hypot(self.x - other.x, self.y - other.y)

    def scaled(self, factor: float) -> Point:
        return Point(self.x * factor, self.y * factor)

    def __str__(self) -> str:
        return f"({self.x}, {self.y})"


class Polygon:
    def __init__(self, points: List[Point], name: str = "polygon") -> None:
        self.points = points
        self.name = name

    def perimeter(self) -> float:
        total = 0.0
        for a, b in zip(self.points, self.points[1:] + self.points[:1]):
            total += a.distance(b)
        return total

    def is_empty(self) -> bool:
        return not self.points

    def find(self, point: Point) -> Optional[int]:
        for index, candidate in enumerate(self.points):
            if candidate == point:
                return index
        return None

    def __iter__(self) -> Iterator[Point]:
        return iter(self.points)

    def __len__(self) -> int:
        return len(self.points)


def load_points(path: Path, limit: int = 100) -> List[Point]:
    points = []
    for line in path.read_text().splitlines()[:limit]:
        x, y = line.split(",")
        points.append(Point(float(x), float(y)))
    return points


def describe(polygon: Polygon, verbose: bool = False) -> str:
    if verbose:
        return f"{polygon.name}: {len(polygon)} points"
    return polygon.name
