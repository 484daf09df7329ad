"""lstmlab: how error signals flow back through recurrent networks.

Pure numpy RNNs (tanh, ReLU, logistic), LSTMs (modern and 1997) and GRU with
hand-written backpropagation through time, full or truncated, that records
dL/dh_t and dL/dc_t at every step.
"""

from .config import GATES
from .gradcheck import GradCheck, grad_check
from .jacobian import cell_state_jacobian, jacobian_spectrum
from .model import BPTTResult, bptt, forward
from .params import init_params
from .spec import ModelSpec

__all__ = [
    "GATES",
    "BPTTResult",
    "GradCheck",
    "ModelSpec",
    "bptt",
    "cell_state_jacobian",
    "forward",
    "grad_check",
    "init_params",
    "jacobian_spectrum",
]
