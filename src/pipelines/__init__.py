"""Pure computations on DataFrames (and the source fetch): raw envelopes -> prices -> indicators ->
percentiles -> features.

``COMPUTATION_VERSION`` holds one semantic version per dataset. Bump a dataset's version whenever a change
alters any value it produces (formula, warm-up rule, rounding); lineage records it with every row.
"""

COMPUTATION_VERSION: dict[str, str] = {
    "prices": "1.0.0",
    # 1.1.0: computed from a warm-up window of WARMUP_SESSIONS before the first requested date, not from the
    # ticker's first session (equal to 1e-9 relative; docs/computations.md). Percentiles stay exact.
    "indicators": "1.1.0",
    "percentiles": "1.0.0",
    "features": "1.1.0",
}

__all__ = ["COMPUTATION_VERSION"]
