"""The deploy gate's statistics: McNemar's exact test, packed results, test-set fingerprints."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from jupyter_mlops.evidence import (
    compare,
    evaluation_record,
    fingerprint,
    mcnemar_exact_p,
    pack_bits,
    unpack_bits,
)


@pytest.mark.parametrize(
    ("b", "c", "expected"),
    [
        (0, 0, 1.0),
        (10, 2, 79 / 4096),  # C(12,10)+C(12,11)+C(12,12) = 66+12+1 over 2**12
        (2, 10, 4083 / 4096),  # the challenger is worse: nowhere near significant
        (6, 0, 1 / 64),
        (5, 5, 638 / 1024),  # sum C(10,k), k=5..10 = 252+210+120+45+10+1
        (1, 0, 0.5),
    ],
)
def test_mcnemar_exact_p_matches_the_binomial_tail(b: int, c: int, expected: float) -> None:
    assert mcnemar_exact_p(b, c) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_agrees_with_scipys_binomial_test() -> None:
    from scipy import stats  # installed with scikit-learn (the tutorial's offline data)

    for b, c in [(30, 12), (7, 3), (100, 80), (0, 9)]:
        expected = stats.binomtest(b, b + c, 0.5, alternative="greater").pvalue
        assert mcnemar_exact_p(b, c) == pytest.approx(expected, rel=1e-9)


def test_packed_results_round_trip_for_any_length() -> None:
    rng = random.Random(0)
    for n in (1, 7, 8, 9, 180, 10_000):
        bits = [rng.random() < 0.7 for _ in range(n)]
        assert unpack_bits(pack_bits(bits), n) == bits
    assert len(pack_bits([True] * 10_000)) <= math.ceil(10_000 / 8 / 3) * 4  # compact
    with pytest.raises(ValueError):
        unpack_bits(pack_bits([True] * 9), 20)


def test_fingerprints_differ_for_another_split_or_order_and_match_for_the_same() -> None:
    labels = np.arange(100) % 10
    inputs = np.random.default_rng(0).random((100, 3, 4, 4)).astype(np.float32)
    same = fingerprint(labels.copy(), inputs.copy())
    assert fingerprint(labels, inputs) == same
    assert fingerprint(labels[1:], inputs[1:]) != same  # another split
    order = np.random.default_rng(1).permutation(100)
    assert fingerprint(labels[order], inputs[order]) != same  # same examples, other order
    assert fingerprint(labels.astype(np.float64), inputs) != same  # dtypes count


def test_compare_counts_discordant_pairs_on_the_same_test_set() -> None:
    champion = [True, True, False, False, True, False]
    challenger = [True, False, True, True, True, True]
    result = compare(evaluation_record(challenger, "f"), evaluation_record(champion, "f"))
    assert (result.n, result.b, result.c) == (6, 3, 1)
    assert result.p_value == pytest.approx(mcnemar_exact_p(3, 1))
    assert result.points == pytest.approx(100 * 2 / 6)
    with pytest.raises(ValueError, match="different test sets"):
        compare(evaluation_record(challenger, "f"), evaluation_record(champion, "g"))
