"""lstmlab: how error signals flow back through recurrent networks.

Pure numpy RNN, LSTM and GRU with hand-written backpropagation through time
that records dL/dh_t and dL/dc_t at every step.
"""

from .config import GATES
from .gradcheck import GradCheck, grad_check
from .jacobian import jacobian_spectrum
from .model import BPTTResult, bptt, forward
from .params import init_params
from .spec import ModelSpec

__all__ = [
    "GATES",
    "BPTTResult",
    "GradCheck",
    "ModelSpec",
    "bptt",
    "forward",
    "grad_check",
    "init_params",
    "jacobian_spectrum",
]
