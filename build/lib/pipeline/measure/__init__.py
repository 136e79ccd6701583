"""Phase 4, measure: the one lazy graph, its per-chunk kernels, and reuse of cached totals.
Imports from `core`, `files`, `inputs`."""
