"""Phase 3, inputs: the run's config and every input, read and checked before compute. Imports from `core` and `files`.

`pipeline.inputs.check.check_inputs` is the entry point; one module per kind of input does the work.
"""
