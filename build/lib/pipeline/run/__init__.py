"""Phase 7, run: a whole run from config to published output, batches, sampling. Imports from the phases before."""
