"""Reading and checking every input before any compute: land cover, zones, carbon tables, plan sheets.

`pipeline.inputs.check.check_inputs` is the entry point; one module per kind of input does the work.
"""
