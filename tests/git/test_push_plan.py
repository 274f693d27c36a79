"""Grouping commits into pushes by the bytes of the objects they add."""

from __future__ import annotations

import pytest

from airflow_gitsync.git.sizes import MAX_PUSH_BYTES, check_push_bytes, push_points


@pytest.mark.parametrize(
    ("sizes", "budget", "points"),
    [
        ([], 100, []),
        ([10], 100, [0]),
        ([10, 20, 30], 100, [2]),  # everything fits: one push of the last commit
        ([40, 40, 40, 40], 100, [1, 3]),
        ([60, 40, 1], 100, [1, 2]),  # exactly the budget still fits
        ([500, 10, 10, 500], 100, [0, 2, 3]),  # a commit over the budget goes alone
    ],
)
def test_push_points_fill_each_push_up_to_the_budget(sizes, budget, points):
    assert push_points(sizes, budget) == points


@pytest.mark.parametrize("budget", [0, -1, MAX_PUSH_BYTES + 1])
def test_push_budget_must_stay_far_below_the_azure_devops_limit(budget):
    with pytest.raises(ValueError, match="push_bytes must be between"):
        check_push_bytes(budget)
