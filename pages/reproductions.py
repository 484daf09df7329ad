"""Reproductions: one card per recipe of the papers' long-lag experiments, with the paper's claim and figures, the
lab's latest result and verdict, the charts that compare them, a representative run's pages and a Start button."""

import pandas as pd
import streamlit as st

from lstmlab.reproduce.recipes import MAX_SEEDS, RECIPES, SCALES
from lstmlab.ui import cached, charts, live, nav
from lstmlab.ui import reproductions as repro
from lstmlab.views import reproductions
from lstmlab.views.text import escape_markdown

nav.ensure_router()

VERDICT_COLORS = {"reproduced": "green", "partly reproduced": "orange", "not reproduced": "red",
                  reproductions.INCOMPLETE: "blue", reproductions.NOT_RUN: "gray"}
CHART_TITLES = {"success": "Success over seeds", "sequences": "Sequences until the criterion (log scale)",
                "loss_ratio": "Final loss over the chance baseline"}

st.title("Reproductions")
st.markdown(
    "The published long-lag experiments as the lab's recipes: each paper's claim and figures beside the lab's "
    "latest result from the run store, the verdict its rule gives, and, where the two differ, both numbers. A quick "
    "scale shows the direction of a claim within about a minute of CPU; the paper scale runs the published settings "
    "(hours for some). The same from the command line: `python -m lstmlab reproduce ID [--scale quick|paper] "
    "[--seeds N]` and `python -m lstmlab reproduce ID --report`."
)


def start_ui(card: reproductions.Card) -> None:
    """Scale, seeds and the Start button of a card; a press submits the recipe's missing runs (lstmlab.ui.reproductions)
    and reruns the page, whose card then says what happened."""
    k = f"repro.{card.id}"
    seeds_of = dict(card.recorded_seeds)
    c1, c2, c3 = st.columns([1.2, 1, 1], vertical_alignment="bottom")
    scale = c1.radio("Scale", SCALES, key=f"{k}.scale", horizontal=True,
                     index=SCALES.index(card.scale) if card.scale else 0,
                     help="quick: a reduced budget that shows the direction of the claim; paper: the published "
                          "settings and budget, or the largest part of them one machine affords.")
    seeds = c2.number_input("Seeds per row", 1, MAX_SEEDS, value=seeds_of[scale], step=1, key=f"{k}.seeds.{scale}",
                            help=f"1 to {MAX_SEEDS}. A recipe's sweep keeps the seeds it was first submitted with.")
    if c3.button("Start", key=f"{k}.start", icon=":material/play_arrow:", type="primary",
                 help="Submit the runs of this recipe that are not in the store yet, as jobs under your name "
                      "(your quotas apply); runs already there are kept."):
        repro.start(card.id, scale, int(seeds))
        st.rerun(scope="app")
    rows = len(RECIPES[card.id].rows(scale))
    st.caption(f"{rows} rows × {int(seeds)} seeds = {rows * int(seeds):,} runs. Command line: " + escape_markdown(
        f"python -m lstmlab reproduce {card.id} --scale {scale} --seeds {int(seeds)}", code=True))


def card_ui(card: reproductions.Card) -> None:
    """One recipe's card."""
    with st.container(border=True):
        head, badge = st.columns([5, 1], vertical_alignment="center")
        head.subheader(card.id, anchor=card.id)
        with badge:
            st.badge(card.verdict, color=VERDICT_COLORS.get(card.verdict, "gray"))
        st.markdown(f"**{escape_markdown(card.paper)}**, {escape_markdown(card.section)}. **Claim:** "
                    f"{escape_markdown(card.claim)}")
        if card.figures:
            st.markdown("**The paper's figures:**\n" + "\n".join(f"- {escape_markdown(f)}" for f in card.figures))
        repro.notice(st, card.id)
        if not card.has_runs:
            st.info("Not run yet.", icon=":material/hourglass_empty:")
            start_ui(card)
            return
        st.markdown(f"**The lab:** {escape_markdown(card.result)}")
        if card.wall:
            st.caption(escape_markdown(card.wall))
        for text in card.differences:
            st.warning(f"**Differs from the paper:** {escape_markdown(text)}", icon=":material/compare_arrows:")
        if card.compared:
            st.caption(escape_markdown(card.compared))
        key = (card.id, tuple(pd.util.hash_pandas_object(card.rows, index=False)), card.x_title)
        drawn = [m for m in CHART_TITLES if (m != "loss_ratio" or card.loss_levels) and (
            (card.rows[m] > 0).any() or (m == "success" and card.rows["success"].notna().any()))]
        for start in range(0, len(drawn), 2):
            for col, measure in zip(st.columns(2), drawn[start:start + 2]):
                col.markdown(f"**{CHART_TITLES[measure]}**")
                cached.chart(col, f"repro.{measure}", key, lambda measure=measure: charts.reproduction_chart(
                    card.rows, measure, card.x_title, card.loss_levels if measure == "loss_ratio" else ()))
        if "sequences" not in drawn and card.success_kind != "bound":
            st.caption("No run met its stopping criterion and the paper gives no count of sequences, so there is "
                       "no chart of sequences until the criterion.")
        with st.expander("Rows, expectations and what this scale leaves out"):
            st.dataframe(card.table, hide_index=True, column_config={
                "sequences (median)": st.column_config.NumberColumn(format="%.0f"),
                "loss / baseline": st.column_config.NumberColumn(format="%.3g"),
                "run time (s)": st.column_config.NumberColumn(format="%.1f")})
            st.markdown(f"Success of a run: {escape_markdown(card.success_rule)}.")
            st.markdown("\n".join(
                f"- {'holds' if holds else 'not applicable' if holds is None else 'fails'}: {escape_markdown(t)}"
                for t, holds in card.checks))
            if card.models:
                st.markdown(f"Models: {escape_markdown(card.models)}.")
            if card.leaves_out:
                st.markdown(f"This scale leaves out: {escape_markdown(card.leaves_out)}.")
            if card.notes:
                st.markdown(f"Notes: {escape_markdown(card.notes)}")
            if card.other_scales:
                st.caption(f"Its {' and '.join(card.other_scales)} scale also has runs: "
                           + escape_markdown(f"python -m lstmlab reproduce {card.id} --scale "
                                             f"{card.other_scales[0]} --report", code=True))
        if card.representative:
            l1, l2, l3 = st.columns([1.6, 0.9, 2.5], vertical_alignment="center")
            l1.page_link("pages/error_flow.py", label="Error flow of a representative run",
                         icon=":material/stacked_line_chart:", query_params={"run": card.representative})
            l2.page_link("pages/training.py", label="Its training", icon=":material/show_chart:",
                         query_params={"run": card.representative})
            l3.caption(escape_markdown(card.representative_text))
        start_ui(card)


def draw() -> bool:
    """Every card as the store holds it now; True while a run of any recipe is queued or running."""
    shown = repro.cards()
    run = [c for c in shown if c.has_runs]
    st.markdown(f"{len(shown)} recipes, {len(run)} with runs in the store"
                + (": " + ", ".join(f"[{c.id}](#{c.id}) {c.verdict}" for c in run) + "." if run else "."))
    for card in shown:
        card_ui(card)
    return any(c.in_flight for c in shown)


live.refreshing(draw, repro.in_flight)
