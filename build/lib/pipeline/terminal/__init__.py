"""Phase 8, terminal: the command line, the only place that prints or sets an exit code. Imports from any phase."""
