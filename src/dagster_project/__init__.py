"""tickerlake's Dagster code location (see definitions.py)."""

import warnings

# Single-run backfills, partitioned asset checks and dimension partition mappings are marked beta/preview
# in Dagster 1.13; they are what this project relies on, so the warnings are noise for its users.
warnings.filterwarnings("ignore", category=Warning, module=r"dagster\..*", message=r".*(beta|preview).*")
try:
    from dagster import BetaWarning, PreviewWarning

    warnings.filterwarnings("ignore", category=BetaWarning)
    warnings.filterwarnings("ignore", category=PreviewWarning)
except ImportError:  # pragma: no cover - older Dagster
    pass
