"""Phase 5, metrics: one table family per module, tabulated from computed totals, no IO. Imports from the phases before.

Each module exposes `tabulate(...) -> StageResult`, pure (no IO, no printing, no eager dask compute);
the runner calls them in one declared order and hands each the earlier tables it needs, by name.
"""
