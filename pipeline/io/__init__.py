"""The only package that touches files: rasters, vectors, tables, output folders, locks and run logs.

Everything else in sinkzone works on numpy arrays, frames and plain values handed to it from here.
"""
