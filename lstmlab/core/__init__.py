"""The numerical core: models (spec, params), the forward and BPTT passes (model, engines), optimisers, tasks,
readings of the error flow (analysis, jacobian), gradient checks, PyTorch interop and the run's config.

Imports nothing from lstmlab outside this package.
"""
