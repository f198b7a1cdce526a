"""A writer process for the concurrent-writer tests of the lake (started with multiprocessing 'spawn').

Kept apart from the test modules so that a spawned process imports only the lake, not the test suite.
"""

import pandas as pd
import pyarrow as pa

from lake.api import Lake
from lake.store import LocalStore


def write_months(root: str, month: str, frames: list[pd.DataFrame], schema: pa.Schema, barrier) -> None:
    """Wait for the other writers, then `write_month` each frame (one run each) into the lake at `root`."""
    lake = Lake(LocalStore(root))
    barrier.wait()
    for frame in frames:
        run_id = str(frame["run_id"].iloc[0])
        lake.write_month(
            "prices",
            month,
            frame.drop(columns="run_id"),
            run_id=run_id,
            computation_version="1",
            schema=schema,
        )
