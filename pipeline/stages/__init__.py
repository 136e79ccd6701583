"""Stages: pure functions from checked inputs and computed totals to new tables. No IO, no printing,
no eager dask compute. Each stage module exposes `tabulate(...) -> StageResult`; the runner calls them
in one declared order and hands each the earlier tables it needs, by name."""
