"""Per-chunk numpy kernels of the `measure` phase: pure functions on arrays. Import only `core`."""
