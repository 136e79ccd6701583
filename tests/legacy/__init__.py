"""The tabulation stages as they were before vectorising (per-row Python loops), kept verbatim as the
reference the vectorised stages must reproduce number for number (tests/test_tabulation_equivalence.py)."""
