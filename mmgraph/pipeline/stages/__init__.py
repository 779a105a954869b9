"""The pipeline's stages, one module each, in order:

split → encode → graph → teacher → student → index → evaluate

Each module's stage function takes a :class:`~mmgraph.pipeline.runner.StageContext`, reads its
inputs from the run folder (or the data files), writes its outputs atomically and is skipped
when already done with the same fingerprint (:func:`~mmgraph.pipeline.runner.run_stage`).
:data:`mmgraph.pipeline.STAGES` names them.
"""
