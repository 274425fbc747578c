"""Semantic ranking: embeddings as stored (unit vectors in signed bytes), their cosines, and the fusion of a
semantic ranking with the lexical one (reciprocal rank fusion: no score scales to reconcile)."""

from __future__ import annotations

import math
import operator
from array import array
from collections.abc import Hashable, Sequence
from typing import Final, TypeVar

_SCALE: Final = 127
# Reciprocal rank fusion's constant (Cormack et al., 2009): a result's fused score is the sum over rankings of
# 1 / (RRF_K + its rank), so agreement between rankings outweighs one ranking's extreme.
RRF_K: Final = 60

K = TypeVar("K", bound=Hashable)


def quantize(vector: Sequence[float]) -> bytes:
    """The unit vector of `vector`, each component times 127 rounded, as signed bytes."""
    norm = math.sqrt(math.fsum(x * x for x in vector))
    if norm == 0:
        raise ValueError("a zero vector has no direction")
    return array("b", [round(x / norm * _SCALE) for x in vector]).tobytes()


def _components(vector: bytes) -> array[int]:
    return array("b", vector)  # signed bytes, decoded in C


def _dot(a: Sequence[int], b: Sequence[int]) -> float:
    sumprod = getattr(math, "sumprod", None)  # Python 3.12+: the loop in C
    if sumprod is not None:
        return float(sumprod(a, b))
    return float(sum(map(operator.mul, a, b)))


def cosines(query: bytes, vectors: Sequence[bytes]) -> list[float]:
    """The cosine between `query` and each vector, as the dot product of the stored unit vectors (their rounding
    moves it by well under 1%); 0 for a vector of another length (another model's)."""
    q = _components(query)
    unit = float(_SCALE * _SCALE)
    return [_dot(q, _components(v)) / unit if len(v) == len(q) else 0.0 for v in vectors]


def fuse(*rankings: Sequence[K]) -> list[tuple[K, float]]:
    """Reciprocal rank fusion of rankings (best first) of the same kind of keys: the keys by fused score."""
    fused: dict[K, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            fused[key] = fused.get(key, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(fused.items(), key=lambda kv: -kv[1])
