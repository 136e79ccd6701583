"""Per-chunk kernels: pure numpy functions that graph tasks run on one chunk and merge across chunks."""
