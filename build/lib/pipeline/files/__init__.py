"""Phase 2, files: the only code that touches files. Imports from `core`.

Everything else in sinkzone works on numpy arrays, frames and plain values handed to it from here.
"""
