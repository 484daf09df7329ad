"""Training a run: ``train(config)`` (train) and the threads a process gives its passes (runtime)."""
