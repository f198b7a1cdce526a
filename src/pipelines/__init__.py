"""Pure computations on DataFrames (and the source fetch): raw envelopes -> prices -> indicators ->
percentiles -> features.

``COMPUTATION_VERSION`` holds one semantic version per dataset. Bump a dataset's version whenever a change
alters any value it produces (formula, warm-up rule, rounding); lineage records it with every row.
"""

COMPUTATION_VERSION: dict[str, str] = {
    "prices": "1.0.0",
    "indicators": "1.0.0",
    "percentiles": "1.0.0",
    "features": "1.0.0",
}

__all__ = ["COMPUTATION_VERSION"]
