"""Phase 1, core: pure models and maths (no file access). Imports nothing else of sinkzone."""
