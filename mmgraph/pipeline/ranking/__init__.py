"""The ranking task (``task: ranking``, the default): what its teacher, student and evaluate
stages train and measure (:mod:`mmgraph.pipeline.tasks` names it)."""
