"""lstmlab.views.limits: the work budget of a dashboard study and the refusal that names the CLI command."""

from lstmlab.views import limits


def test_study_work_counts_every_compared_cell_and_at_least_one_step():
    assert limits.study_work(100, 32, 2, 50, 16, 3) == 100 * 32 * 2 * 50 * 16 * 3
    assert limits.study_work(10, 4, 1, 0, 8, 1) == 10 * 4 * 8  # steps 0 still runs the initial pass


def test_the_refusal_names_the_work_the_limit_and_the_command():
    text = limits.too_big_message(1_234_567, 1_000, "study", "`python -m lstmlab run --seq-len 400`", " Then X.")
    assert "1,234,567 work units" in text and "limit of 1,000" in text
    assert text.endswith("`python -m lstmlab run --seq-len 400` Then X.")


def test_jobs_in_flight_are_bounded_per_session_and_per_server():
    assert limits.SESSION_MAX_RUNNING + limits.SESSION_MAX_QUEUED == 9
    assert limits.jobs_refusal(2, (3, 4), (0, 0)) == ""  # 9 in flight: at the limit
    said = limits.jobs_refusal(3, (3, 4), (7, 0))
    assert said.startswith("Too many jobs in flight for this session: 3 running and 4 queued, and this would add 3;")
    assert "the limit is 3 running and 6 queued" in said
    said = limits.jobs_refusal(1, (0, 0), (16, 48))
    assert "for this server (all sessions together): 16 running and 48 queued" in said
    assert limits.jobs_refusal(1, (0, 0), (16, 47)) == ""
