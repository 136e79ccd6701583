"""sinkzone: exact per-zone land-cover area and carbon for carbon-sink development zones."""

__version__ = "0.1.0"
