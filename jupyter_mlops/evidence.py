"""Evidence for a deployment: per-example test results, the test set's fingerprint, McNemar.

A worker records which test examples a model got right (one bit per example, in test-set
order, packed and base64-encoded) and a fingerprint of the test set (sha256 of the ordered
labels and inputs). Two models tested on the same fingerprint can be compared pair by pair:
only the discordant examples tell them apart (``b``: the challenger right and the champion
wrong; ``c``: the reverse), and under "no difference" each discordant example is a fair coin.
The exact McNemar test is that binomial test. It is one-sided here, because a challenger
replaces the champion only when it is better. Pure Python: both the worker and the hub use it.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


def pack_bits(correct: Iterable[bool]) -> str:
    """One bit per example (first example = highest bit of the first byte), base64."""
    bits = [bool(x) for x in correct]
    packed = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            packed[i // 8] |= 0x80 >> (i % 8)
    return base64.b64encode(bytes(packed)).decode("ascii")


def unpack_bits(encoded: str, n: int) -> list[bool]:
    """The ``n`` booleans that :func:`pack_bits` encoded; ValueError if they do not fit."""
    raw = base64.b64decode(encoded, validate=True)
    if len(raw) != (n + 7) // 8:
        raise ValueError(f"{len(raw)} bytes cannot hold exactly {n} results")
    return [bool(raw[i // 8] & (0x80 >> (i % 8))) for i in range(n)]


def fingerprint(labels: Any, inputs: Any = None) -> str:
    """sha256 of the ordered labels (and inputs): equal only for the same test set, in order.

    ``labels`` and ``inputs`` may be sequences, numpy arrays or torch tensors (converted to
    their raw bytes in C order with their dtype and shape, so 1 and 1.0 differ).
    """
    digest = hashlib.sha256()
    for part in (labels, inputs):
        if part is None:
            continue
        if hasattr(part, "detach"):  # a torch tensor
            part = part.detach().cpu().contiguous().numpy()
        if hasattr(part, "tobytes"):
            digest.update(f"{part.dtype}{tuple(part.shape)}".encode())
            digest.update(part.tobytes())
        else:
            digest.update(repr(list(part)).encode())
    return digest.hexdigest()


def evaluation_record(correct: Iterable[bool], test_fingerprint: str) -> dict[str, Any]:
    """What travels with a model in its metadata (``metadata["evaluation"]``)."""
    bits = [bool(x) for x in correct]
    return {"n": len(bits), "correct": pack_bits(bits), "fingerprint": test_fingerprint}


#: Most examples an evaluation record may hold (its bits must fit in a model file's metadata).
MAX_EXAMPLES = 4_000_000


def record_problem(record: Any) -> str | None:
    """Why ``record`` is not a valid evaluation record (None when it is one).

    The hub checks every uploaded model's record with this: ``n`` examples (1 to
    :data:`MAX_EXAMPLES`), ``correct`` their packed bits, exactly ``(n + 7) // 8`` bytes, and a
    ``fingerprint`` (1 to 128 characters).
    """
    if not isinstance(record, dict):
        return "must be an object with n, correct and fingerprint"
    n, correct, test_set = record.get("n"), record.get("correct"), record.get("fingerprint")
    if type(n) is not int or not 0 < n <= MAX_EXAMPLES:
        return f"n must be a whole number of test examples from 1 to {MAX_EXAMPLES:,}"
    if not isinstance(test_set, str) or not 0 < len(test_set) <= 128:
        return "fingerprint must be a string of 1 to 128 characters (the test set's sha256)"
    if not isinstance(correct, str):
        return "correct must be the packed results as base64 text"
    try:
        raw = base64.b64decode(correct, validate=True)
    except ValueError:
        return "correct is not valid base64"
    if len(raw) != (n + 7) // 8:
        return f"correct holds {len(raw)} bytes; {n:,} results take {(n + 7) // 8}"
    return None


def summary(record: Any) -> dict[str, Any] | None:
    """What a list shows of a record: its ``n`` and ``fingerprint`` (not the bits)."""
    if not isinstance(record, dict):
        return None
    return {"n": record.get("n"), "fingerprint": record.get("fingerprint")}


def mcnemar_exact_p(b: int, c: int) -> float:
    """One-sided exact McNemar: P(at least ``b`` of ``b + c`` fair coin flips come up heads).

    Exact in integers up to 1,000 discordant pairs; beyond, the binomial terms are summed in
    floating point from the largest down (relative error below 1e-8 up to a million pairs),
    so a large test set takes a millisecond rather than minutes.
    """
    if b < 0 or c < 0:
        raise ValueError("counts are never negative")
    n = b + c
    if n == 0:
        return 1.0
    if n <= 1000:
        return min(1.0, sum(math.comb(n, k) for k in range(b, n + 1)) / 2**n)
    if 2 * b <= n:  # the tail holds at least half: take the complement of the other tail
        return min(1.0, max(0.0, 1.0 - _upper_tail(n, n - b + 1)))
    return min(1.0, _upper_tail(n, b))


def _upper_tail(n: int, k: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2) with k > n / 2: terms shrink as k grows."""
    log_term = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2)
    term = math.exp(log_term)
    total = 0.0
    while k <= n and term > 0.0:
        total += term
        if term < total * 1e-17:
            break
        term *= (n - k) / (k + 1)
        k += 1
    return total


@dataclass(frozen=True)
class Comparison:
    """A challenger against the champion on the same test examples."""

    n: int
    b: int  # challenger right, champion wrong
    c: int  # challenger wrong, champion right
    p_value: float

    @property
    def points(self) -> float:
        """The challenger's accuracy minus the champion's, in percentage points."""
        return 100.0 * (self.b - self.c) / self.n if self.n else 0.0


def compare(challenger: dict[str, Any], champion: dict[str, Any]) -> Comparison:
    """Pair two evaluation records of the same test set (ValueError if they do not pair)."""
    if challenger.get("fingerprint") != champion.get("fingerprint"):
        raise ValueError("the models were tested on different test sets")
    n = int(challenger.get("n", -1))
    if n != int(champion.get("n", -2)) or n <= 0:
        raise ValueError("the models were tested on different numbers of examples")
    new, old = _as_int(challenger, n), _as_int(champion, n)
    b, c = (new & ~old).bit_count(), (old & ~new).bit_count()
    return Comparison(n, b, c, mcnemar_exact_p(b, c))


def _as_int(record: dict[str, Any], n: int) -> int:
    """The packed results as one integer (bit i from the top = example i; padding cleared)."""
    raw = base64.b64decode(str(record["correct"]), validate=True)
    if len(raw) != (n + 7) // 8:
        raise ValueError(f"{len(raw)} bytes cannot hold exactly {n} results")
    return int.from_bytes(raw, "big") >> (8 * len(raw) - n)
