"""Models: Spark start-up, training, the model repository, and the JVM-free compiled scorer.

`spark` · `training` (the tutorial's pipeline) · `repository` (stored models and metadata) ·
`saved_pipeline` (reading a saved Spark pipeline) · `scorer` (the compiled scorer) · `plots`.
"""
