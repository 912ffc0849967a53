"""The tutorial wing (`calspike run`).

Training steps, analysis, figures, the pipeline and its HTML page. It imports the foundation
only, never the inference wing.
"""
