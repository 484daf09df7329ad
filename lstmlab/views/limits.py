"""Every limit the dashboard enforces, in one place (the library's own bounds are in lstmlab.core.config).

Interactive requests are bounded so that a run finishes while a person waits; anything larger belongs to the CLI
(``python -m lstmlab run ...``), which has no such limits. Runs trained as jobs are further bounded by how many
jobs one session and the whole server may have queued or running at once (:func:`jobs_refusal`).
"""

# Landing page: the scalar recurrence w^k.
W_MIN, W_MAX = 0.5, 1.5
POWER_T_MIN, POWER_T_MAX = 1, 1000

# One training run, field by field (slider ranges; the URL is checked against the same bounds).
SEQ_LEN_MIN, SEQ_LEN_MAX = 5, 400
HIDDEN_MIN, HIDDEN_MAX = 4, 128
LAYERS_MIN, LAYERS_MAX = 1, 3
STEPS_MIN, STEPS_MAX = 0, 2000
BATCH_MIN, BATCH_MAX = 1, 256
WEIGHT_SCALE_MIN, WEIGHT_SCALE_MAX = 0.1, 3.0
FORGET_BIAS_MIN, FORGET_BIAS_MAX = -5.0, 10.0
LR_MIN, LR_MAX = 1e-5, 1.0
CLIP_MIN, CLIP_MAX = 0.0, 100.0
SEED_MIN, SEED_MAX = 0, 2**31 - 1

# Work budget of one study: sum over the compared cells of seq_len * hidden_size * layers * steps * batch_size.
# Studies train as jobs on the worker pool, not in the page; an LSTM runs about 1.3e7 units/s per worker in numpy,
# so the limit is about 2.5 minutes of one worker (the default study is 2e8 units).
MAX_WORK = 2_000_000_000

# Jobs in flight: a session (one browser tab's person) and the whole server (every session together) may have at
# most this many jobs running and this many queued (submitted, waiting for a worker) at once. A study submits one
# job per compared cell, so a session can run one three-cell study and queue the next; the server's running limit
# is a bound on top of the worker pool (one worker per core), its queue limit keeps a crowd from burying the pool.
SESSION_MAX_RUNNING, SESSION_MAX_QUEUED = 3, 6
SERVER_MAX_RUNNING, SERVER_MAX_QUEUED = 16, 48

# Pages showing runs in flight redraw from the store this often; a freshly submitted study waits up to
# FIRST_RECORD_WAIT_S (polling every FIRST_RECORD_POLL_S) for its first records so its charts come in the same
# page run. The outcomes of a sweep's runs and of a recipe's are cached per run and progress (at most
# SWEEP_CACHE_ENTRIES each).
LIVE_REFRESH_S = 1.0
FIRST_RECORD_WAIT_S, FIRST_RECORD_POLL_S = 3.0, 0.05
SWEEP_CACHE_ENTRIES = 4096

# Recording of the error flow during a dashboard run: about this many snapshots on a held-out batch of EVAL_SIZE
# (each costs about two training steps; 40 over the default study's 1,000 steps resolve its recovery to 25 steps).
FLOW_RECORDS = 40
EVAL_SIZE = 64

# Error-flow charts: Altair ships every row to the browser, so heatmaps are binned to at most this many cells.
HEATMAP_MAX_LAGS = 100
HEATMAP_MAX_STEPS = 50
LINE_MAX_LAGS = 400

# Phase map (initialisation only, no training): grid size. The largest grid the controls allow (8 cells x 25 scales,
# T = 400, H = 64, batch 8) is 41.0M units of T * H * batch, a bounded forward pass: no work limit is needed.
PHASE_SCALES_MIN, PHASE_SCALES_MAX = 3, 25
PHASE_LENGTHS_MIN, PHASE_LENGTHS_MAX = 2, 12
PHASE_T_MAX = 400
PHASE_HIDDEN_MAX = 64
PHASE_BATCH = 8

# Inside the LSTM: one forward + backward pass.
INSIDE_T_MAX = 400
INSIDE_BATCH_MAX = 64

# Forecast task: uploaded CSV.
UPLOAD_MAX_BYTES = 2_000_000
UPLOAD_MAX_ROWS = 100_000
UPLOAD_MIN_ROWS_OVER_SEQ = 2  # a series needs at least seq_len + this many finite values
# Checked on the raw text before any parsing, so that no upload costs the server more than a bounded parse: a series
# file has a few columns, and delimiter sniffing and parsing cost grows with the columns and the line length.
UPLOAD_MAX_COLUMNS = 50
UPLOAD_MAX_LINE_CHARS = 10_000
UPLOAD_SNIFF_CHARS = 16_384  # the delimiter is guessed from the lines in this prefix

# Run cache (per process): entries kept by st.cache_data.
CACHE_MAX_ENTRIES = 64
# Drawn views (per process, lstmlab.ui.cached.chart and memo): tables and chart specs, a few kB to about 1 MB each
# (a heatmap of a long run); the default views take about 30 entries, every run in flight a few per record.
VIEW_CACHE_ENTRIES = 256


def study_work(seq_len: int, hidden_size: int, layers: int, steps: int, batch_size: int, n_cells: int) -> int:
    """Work units of one study, compared against MAX_WORK."""
    return int(seq_len) * int(hidden_size) * int(layers) * max(int(steps), 1) * int(batch_size) * int(n_cells)


def too_big_message(work: int, limit: int, what: str, cli_hint: str, after: str = "") -> str:
    """The refusal shown when a request exceeds an interactive limit (Markdown; ``cli_hint`` is the command as a
    code span)."""
    return (
        f"This {what} is too large for an interactive session: {work:,} work units "
        f"(sequence length × hidden size × layers × steps × batch × cells) against a limit of {limit:,}. "
        f"Reduce it, or run it from the command line: {cli_hint}{after}"
    )



def jobs_refusal(new: int, session: tuple[int, int], server: tuple[int, int]) -> str:
    """Why ``new`` more jobs may not be submitted now, or "" if they may.

    ``session`` and ``server`` are (running, queued) counts of the jobs already in flight; the new jobs join the
    queue, and a job counts against a running limit as soon as it may start, so a session may hold at most
    SESSION_MAX_RUNNING + SESSION_MAX_QUEUED jobs in flight, the server likewise.
    """
    for who, (running, queued), max_run, max_queue in (
            ("this session", session, SESSION_MAX_RUNNING, SESSION_MAX_QUEUED),
            ("this server (all sessions together)", server, SERVER_MAX_RUNNING, SERVER_MAX_QUEUED)):
        if running + queued + new > max_run + max_queue:
            return (f"Too many jobs in flight for {who}: {running} running and {queued} queued, and this would "
                    f"add {new}; the limit is {max_run} running and {max_queue} queued. Wait for some to finish "
                    "or stop them, or run larger experiments from the command line (python -m lstmlab submit).")
    return ""
