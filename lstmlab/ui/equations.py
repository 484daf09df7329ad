r"""LaTeX shown beside the plots (st.latex), and the code that computes it. Symbols follow lstmlab.core.model: h_t hidden
state, c_t cell state, W_x / W_h input and recurrent weights, σ the logistic sigmoid, ⊙ the elementwise product."""

from pathlib import Path

from lstmlab.core.engines import reference

# Where the LSTM equations below are computed, one line per equation: the reference engine's step functions.
LSTM_CODE = (f"In code: `{reference.lstm_step_forward.__name__}` and `{reference.lstm_step_backward.__name__}` in "
             f"`lstmlab/core/engines/{Path(reference.__file__).name}`, one line per equation.")

RNN_FORWARD = r"h_t = \tanh\bigl(W_x^\top x_t + W_h^\top h_{t-1} + b\bigr)"

# Where the LSTM of 1997's equations below are computed.
LSTM97_CODE = (f"In code: `{reference.lstm97_step_forward.__name__}` and `{reference.lstm97_step_backward.__name__}` "
               f"in `lstmlab/core/engines/{Path(reference.__file__).name}`, one line per equation.")
# Where the equations of the LSTM of 1997 in HS97's fully connected hidden layer are computed.
LSTM97FC_CODE = (f"In code: `{reference.lstm97fc_step_forward.__name__}` and "
                 f"`{reference.lstm97fc_step_backward.__name__}` in "
                 f"`lstmlab/core/engines/{Path(reference.__file__).name}`, one line per equation.")

RNN_BPTT = r"""\begin{aligned}
\frac{\partial L}{\partial h_t} &= \frac{\partial L}{\partial h_T}
\prod_{k=t+1}^{T} \operatorname{diag}\bigl(1 - h_k^{2}\bigr) W_h^{\top}\\
&= \frac{\partial L}{\partial h_T}\,\underbrace{\operatorname{diag}(1-h_T^2)\,W_h^\top
\cdots\operatorname{diag}(1-h_{t+1}^2)\,W_h^\top}_{T-t\ \text{factors}}
\end{aligned}"""

RNN_BOUND = r"""\begin{aligned}
\left\|\frac{\partial L}{\partial h_t}\right\| &\le \left\|\frac{\partial L}{\partial h_T}\right\|
\left(\gamma\,\sigma_{\max}(W_h)\right)^{T-t},\\
\gamma &= \max|\tanh'| = 1
\end{aligned}"""

SCALAR = r"h_t = w\,h_{t-1}\;\Rightarrow\;\frac{\partial h_T}{\partial h_{T-k}} = w^{k}"

LSTM_FORWARD = r"""\begin{aligned}
i_t &= \sigma\bigl(W_{xi}^\top x_t + W_{hi}^\top h_{t-1} + b_i\bigr) \quad \text{input gate}\\
f_t &= \sigma\bigl(W_{xf}^\top x_t + W_{hf}^\top h_{t-1} + b_f\bigr) \quad \text{forget gate}\\
n_t &= \tanh\bigl(W_{xn}^\top x_t + W_{hn}^\top h_{t-1} + b_n\bigr) \quad \text{candidate}\\
o_t &= \sigma\bigl(W_{xo}^\top x_t + W_{ho}^\top h_{t-1} + b_o\bigr) \quad \text{output gate}\\
c_t &= f_t \odot c_{t-1} + i_t \odot n_t\\
h_t &= o_t \odot \tanh(c_t)
\end{aligned}"""

LSTM_BACKWARD = r"""\begin{aligned}
\delta c_t &= \delta h_t \odot o_t \odot \left(1-\tanh^2 c_t\right)
 + \underbrace{\delta c_{t+1} \odot f_{t+1}}_{\text{carousel}}\\
\delta o_t &= \delta h_t \odot \tanh(c_t) \odot o_t (1-o_t)\\
\delta i_t &= \delta c_t \odot n_t \odot i_t (1-i_t)\\
\delta f_t &= \delta c_t \odot c_{t-1} \odot f_t (1-f_t)\\
\delta n_t &= \delta c_t \odot i_t \odot \left(1-n_t^2\right)\\
\delta h_{t-1} &= W_{h}\,[\delta i_t;\delta f_t;\delta n_t;\delta o_t] + \text{(loss at } t-1)
\end{aligned}"""

LSTM_CEC = r"""\begin{aligned}
\frac{\partial c_t}{\partial c_{t-1}}\Big|_{\text{direct}} &= \operatorname{diag}(f_t)\\
\frac{\partial c_T}{\partial c_t}\Big|_{\text{direct}} &= \prod_{k=t+1}^{T} \operatorname{diag}(f_k)
\approx I \ \text{ when } f_k \approx 1
\end{aligned}"""

LSTM97_FORWARD = r"""\begin{aligned}
i_t &= \sigma\bigl(W_{xi}^\top x_t + W_{hi}^\top h_{t-1} + b_i\bigr) \quad \text{input gate}\\
n_t &= g\bigl(W_{xn}^\top x_t + W_{hn}^\top h_{t-1} + b_n\bigr) \quad \text{cell input}\\
o_t &= \sigma\bigl(W_{xo}^\top x_t + W_{ho}^\top h_{t-1} + b_o\bigr) \quad \text{output gate}\\
c_t &= c_{t-1} + i_t \odot n_t \quad \text{no forget gate}\\
h_t &= o_t \odot h(c_t) \quad g = 4\sigma - 2,\ h = 2\sigma - 1
\end{aligned}"""

LSTM97_BACKWARD = r"""\begin{aligned}
\delta c_t &= \delta h_t \odot o_t \odot h'(c_t) + \underbrace{\delta c_{t+1}}_{\text{carousel}}\\
\delta o_t &= \delta h_t \odot h(c_t) \odot o_t (1-o_t)\\
\delta i_t &= \delta c_t \odot n_t \odot i_t (1-i_t)\\
\delta n_t &= \delta c_t \odot i_t \odot g'(a_{n,t})\\
\delta h_{t-1} &= \underbrace{W_{h}\,[\delta i_t;\delta n_t;\delta o_t]}_{0\ \text{when truncated (HS97)}}
 + \text{(loss at } t-1)
\end{aligned}"""

# lstm97fc: every gate and cell input reads u_{t-1}, the outputs of every hidden unit (HS97's fully connected layer)
LSTM97FC_FORWARD = LSTM97_FORWARD.replace(r"\begin{aligned}", r"""\begin{aligned}
u_{t-1} &= [h_{t-1};\, i_{t-1};\, o_{t-1}] \quad \text{every unit's output}\\""").replace(
    "W_{hi}^\\top h_{t-1}", "W_{ui}^\\top u_{t-1}").replace("W_{hn}^\\top h_{t-1}", "W_{un}^\\top u_{t-1}").replace(
    "W_{ho}^\\top h_{t-1}", "W_{uo}^\\top u_{t-1}")

LSTM97FC_BACKWARD = r"""\begin{aligned}
\delta c_t &= \delta h_t \odot o_t \odot h'(c_t) + \underbrace{\delta c_{t+1}}_{\text{carousel}}\\
\delta o_t &= \bigl(\delta h_t \odot h(c_t) + \varepsilon^{o}_t\bigr) \odot o_t (1-o_t)\\
\delta i_t &= \bigl(\delta c_t \odot n_t + \varepsilon^{i}_t\bigr) \odot i_t (1-i_t)\\
\delta n_t &= \delta c_t \odot i_t \odot g'(a_{n,t})\\
[\delta h_{t-1};\, \varepsilon^{i}_{t-1};\, \varepsilon^{o}_{t-1}] &=
\underbrace{W_{h}\,[\delta i_t;\delta n_t;\delta o_t]}_{0\ \text{when truncated (HS97)}}
 + \text{(loss at } t-1)
\end{aligned}"""

# lstm97ig: the memory cell of HS97's Experiment 2 nets, an input gate only, the cell state its output
LSTM97IG_CODE = (f"In code: `{reference.lstm97ig_step_forward.__name__}` and "
                 f"`{reference.lstm97ig_step_backward.__name__}` in "
                 f"`lstmlab/core/engines/{Path(reference.__file__).name}`, one line per equation.")

LSTM97IG_FORWARD = r"""\begin{aligned}
i_t &= \sigma\bigl(W_{xi}^\top x_t + W_{hi}^\top h_{t-1} + b_i\bigr) \quad \text{input gate}\\
n_t &= g\bigl(W_{xn}^\top x_t + W_{hn}^\top h_{t-1} + b_n\bigr) \quad \text{cell input},\ g = 2\sigma - 1\\
c_t &= c_{t-1} + i_t \odot n_t \quad \text{no forget gate}\\
h_t &= c_t \quad \text{no output gate}
\end{aligned}"""

LSTM97IG_BACKWARD = r"""\begin{aligned}
\delta c_t &= \delta h_t + \underbrace{\delta c_{t+1}}_{\text{carousel}}\\
\delta i_t &= \delta c_t \odot n_t \odot i_t (1-i_t)\\
\delta n_t &= \delta c_t \odot i_t \odot g'(a_{n,t})\\
\delta h_{t-1} &= \underbrace{W_{h}\,[\delta i_t;\delta n_t]}_{0\ \text{when truncated (HS97)}}
 + \text{(loss at } t-1)
\end{aligned}"""

LSTM97_CEC = r"""\begin{aligned}
\frac{\partial c_t}{\partial c_{t-1}}\Big|_{\text{direct}} &= I\\
\frac{\partial c_T}{\partial c_t}\Big|_{\text{direct}} &= I \ \text{ for every lag}
\end{aligned}"""

GATE_EQUATIONS = {
    "i": (r"i_t = \sigma(W_{xi}^\top x_t + W_{hi}^\top h_{t-1} + b_i)",
          r"\delta i_t = \delta c_t \odot n_t \odot i_t(1-i_t)"),
    "f": (r"f_t = \sigma(W_{xf}^\top x_t + W_{hf}^\top h_{t-1} + b_f)",
          r"\delta f_t = \delta c_t \odot c_{t-1} \odot f_t(1-f_t)"),
    "n": (r"n_t = \tanh(W_{xn}^\top x_t + W_{hn}^\top h_{t-1} + b_n)",
          r"\delta n_t = \delta c_t \odot i_t \odot (1-n_t^2)"),
    "o": (r"o_t = \sigma(W_{xo}^\top x_t + W_{ho}^\top h_{t-1} + b_o)",
          r"\delta o_t = \delta h_t \odot \tanh(c_t) \odot o_t(1-o_t)"),
}

PHASE_RATIO = (
    r"\rho(w, T) = \log_{10}\frac{\|\partial L/\partial h_1\|}{\|\partial L/\partial h_T\|},"
    r"\qquad \rho \approx (T-1)\log_{10}\!\left(\gamma\,\sigma_{\max}(W_h)\right)\ \text{(linear RNN)}"
)

GATE_TEXT = {
    "i": "how much of the candidate enters the cell",
    "f": "how much of the cell state is kept; the carousel's factor",
    "n": "the candidate value written to the cell",
    "o": "how much of tanh(c_t) is shown as h_t",
}
GATE_TEXT_97 = {
    "i": "how much of the cell input enters the cell",
    "n": "the cell input g(a_n) ∈ [−2, 2] added to the cell state",
    "o": "how much of h(c_t) = 2σ(c_t) − 1 is shown as h_t",
}
GATE_TEXT_97IG = {**GATE_TEXT_97, "n": "the cell input g(a_n) ∈ [−1, 1] added to the cell state, which is h_t"}

# Each memory cell's forward and backward equations, where they are computed, and its gates' texts (Inside the LSTM)
CELL_EQUATIONS = {
    "lstm": (LSTM_FORWARD, LSTM_BACKWARD, LSTM_CODE, GATE_TEXT),
    "lstm97": (LSTM97_FORWARD, LSTM97_BACKWARD, LSTM97_CODE, GATE_TEXT_97),
    "lstm97fc": (LSTM97FC_FORWARD, LSTM97FC_BACKWARD, LSTM97FC_CODE, GATE_TEXT_97),
    "lstm97ig": (LSTM97IG_FORWARD, LSTM97IG_BACKWARD, LSTM97IG_CODE, GATE_TEXT_97IG),
}
