"""The report's figures as exported (issue 29): every text within the figure (titles and axis
labels not clipped, measured with matplotlib's renderer), colour meaning arm and only arm,
legend glyphs as the marks are drawn (a diamond and a dashed line for the modelled arm),
whisker caps that do not run into each other, true minus signs on the axes, the CONSORT 2010
diagram drawn from the flow tables (enrolment from the design, the modelled arm apart), the
synthetic mark, and alternative text that says what the figure shows.

The tables come from a report of the project's design on a smaller synthetic trial made by
``simulate`` (with its calibration table, so the data are known to be synthetic); the same
checks run on another trial's figures in ``test_report_foreign.py``.
"""

from __future__ import annotations

import matplotlib
import pandas as pd
import pytest

from ipt_outcomes.report.html import read_tables

from .conftest import ROOT

matplotlib.use("Agg")

DESIGN = ROOT / "analyses" / "saloheimo2016.toml"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(tables, scores) of a report of the project's design on a synthetic trial."""
    from ipt_outcomes.cli import main
    from ipt_outcomes.data.trial import load_trial

    folder = tmp_path_factory.mktemp("figures")
    data, calib = folder / "trial.csv", folder / "calibration.csv"
    assert main(["simulate", "--seed", "7", "--n-per-arm", "40", "--out", str(data),
                 "--calibration", str(calib), "--quiet"]) == 0  # fmt: skip
    out = folder / "report"
    assert main(["report", "--data", str(data), "--design", str(DESIGN), "--out", str(out)]) == 0
    tables = read_tables(out / "tables")
    return tables, load_trial(data, DESIGN).scores


def figures_of(tables, scores):
    """(name, kind, src, ggplot) of every figure of the catalogue, as exported."""
    from ipt_outcomes.report.figures import figure_of

    tlf = tables["tlf"]
    for r in tlf[tlf["kind"] == "Figure"].itertuples(index=False):
        src = r.src if isinstance(r.src, str) else ""
        yield r.name, r.figure, src, figure_of(tables, scores, r.figure, src)


def drawn(fig):
    """The matplotlib figure of a ggplot, laid out and rendered (Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = fig.draw()
    FigureCanvasAgg(figure)
    figure.canvas.draw()
    return figure


def clipped_texts(figure) -> list:
    """Texts drawn (partly) outside the figure: (text, its extent, the figure's)."""
    from matplotlib.text import Text

    renderer = figure.canvas.get_renderer()
    box = figure.bbox
    out = []
    for t in figure.findobj(Text):
        if not t.get_visible() or not t.get_text().strip():
            continue
        e = t.get_window_extent(renderer)
        if e.x0 < box.x0 - 1 or e.y0 < box.y0 - 1 or e.x1 > box.x1 + 1 or e.y1 > box.y1 + 1:
            out.append((t.get_text()[:50], tuple(round(v) for v in e.extents)))
    return out


def colour_meanings(fig, arm_colours) -> list[str]:
    """Problems with what colour means in a drawn ggplot: a layer whose colour or fill is mapped
    to the arm must use arm colours only; any other colour (mapped to something else, or fixed)
    must be none of the arm colours."""
    from matplotlib.colors import to_hex

    arm = {to_hex(c).lower() for c in arm_colours}
    problems = []
    for i, layer in enumerate(fig.layers):
        mapping = dict(fig.mapping) if layer.inherit_aes else {}
        mapping.update(dict(layer.mapping))
        data = layer.data if isinstance(layer.data, pd.DataFrame) else pd.DataFrame()
        for ch in ("color", "fill"):
            used = {to_hex(v).lower() for v in data.get(ch, pd.Series(dtype=object)).dropna()
                    if str(v) not in ("None", "")}  # fmt: skip
            fixed = layer.geom.aes_params.get(ch)
            if fixed is not None:
                used.add(to_hex(fixed).lower())
            if str(mapping.get(ch)) == "arm":
                if not used <= arm:
                    problems.append(f"layer {i} {ch}: arm mapped to {sorted(used - arm)}")
            elif used & arm:
                problems.append(
                    f"layer {i} {ch} ({mapping.get(ch)}): arm colours {sorted(used & arm)}"
                )
    return problems


def _arm_colours(tables):
    from ipt_outcomes.report.figures import FigureLabels

    return list(FigureLabels.from_tables(tables).palette().values())


def check_figures(tables, scores) -> None:
    """The checks every exported figure must pass, whatever the trial."""
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    colours = _arm_colours(tables)
    for name, _kind, _src, fig in figures_of(tables, scores):
        figure = drawn(fig)
        try:
            assert not clipped_texts(figure), (name, clipped_texts(figure))
            assert not colour_meanings(fig, colours), (name, colour_meanings(fig, colours))
            ticks = [t.get_text() for t in figure.findobj(Text) if t.get_text()]
            assert not [t for t in ticks if t.startswith("-") and t[1:2].isdigit()], name
        finally:
            plt.close(figure)


def test_every_figure_keeps_its_text_inside_and_its_colours_for_arms(built):
    """Issue 29: Figure 14.2.3's axis title was clipped ("favours the arm" lost); blue meant
    four different things across the figures; minus signs were hyphens."""
    check_figures(*built)


def test_the_clipping_check_finds_a_clipped_axis_title():
    from plotnine import aes, geom_point, ggplot, labs, scale_y_continuous, theme

    df = pd.DataFrame({"x": [1, 2], "y": [1, 2]})
    fig = (ggplot(df, aes("x", "y")) + geom_point()
           + scale_y_continuous(breaks=[1, 2], labels=["a very long row label for the y axis", "b"])
           + labs(x="Risk difference against Treatment as usual, percentage points (95% interval;"
                    " right of zero favours the arm)") + theme(figure_size=(6, 3)))  # fmt: skip
    assert clipped_texts(drawn(fig))


def test_the_colour_check_finds_an_arm_colour_used_for_something_else(built):
    """The tipping-point figure of issue 29 used IPT's blue for p < 0.05."""
    from plotnine import aes, geom_point, ggplot, scale_color_manual

    tables, _ = built
    blue = _arm_colours(tables)[0]
    df = pd.DataFrame({"x": [1, 2], "y": [1, 2], "significant": ["p < 0.05", "p >= 0.05"]})
    fig = ggplot(df, aes("x", "y", color="significant")) + geom_point() + scale_color_manual(
        values={"p < 0.05": blue, "p >= 0.05": "#D55E00"})  # fmt: skip
    drawn(fig)
    assert colour_meanings(fig, _arm_colours(tables))


def _legend_markers(figure):
    from matplotlib.lines import Line2D

    return [(a.get_marker(), a.get_linestyle()) for a in figure.findobj(Line2D)
            if a.axes is None and a.get_marker() in ("o", "D")]  # fmt: skip


def test_the_legend_shows_the_modelled_arm_with_its_diamond_and_dashed_line(built):
    """Issue 29: the legend showed circles for the diamond-marked modelled arm."""
    from matplotlib.lines import Line2D

    tables, scores = built
    arms = tables["arms"]
    n_modelled = int((arms["modelled"].astype(str) == "True").sum())
    n_observed = len(arms) - n_modelled
    figs = {name: fig for name, kind, _, fig in figures_of(tables, scores) if kind == "mmrm"}
    assert figs
    for name, fig in figs.items():
        figure = drawn(fig)
        markers = [m for m, _ in _legend_markers(figure)]
        assert markers.count("D") == n_modelled and markers.count("o") == n_observed, name
        lines = [a.get_linestyle() for a in figure.findobj(Line2D)
                 if a.axes is None and a.get_marker() in (None, "None", "")]  # fmt: skip
        assert "--" in lines, name  # the modelled arm's key line is dashed


def test_whisker_caps_do_not_run_into_each_other(built):
    """Issue 29: oversized whisker caps; with the arms dodged, each cap is narrower than the
    space between arms and a small share of the time axis."""
    tables, scores = built
    for name, _kind, _, fig in figures_of(tables, scores):
        drawn(fig)
        for layer in fig.layers:
            if type(layer.geom).__name__ != "geom_errorbar" or "xmin" not in layer.data:
                continue
            for _, d in layer.data.groupby("PANEL"):
                d = d.sort_values("x")
                span = d["x"].max() - d["x"].min() or 1.0
                assert ((d["xmax"] - d["xmin"]) <= 0.03 * span).all(), name
                for _, group in d.groupby((d["x"].diff() > 0.05 * span).cumsum()):
                    g = group.sort_values("x")
                    assert (g["xmax"].to_numpy()[:-1] < g["xmin"].to_numpy()[1:]).all(), name


def test_axis_numbers_use_a_true_minus_sign(built):
    from matplotlib.text import Text

    tables, scores = built
    fig = next(f for _, kind, _, f in figures_of(tables, scores) if kind == "mmrm")
    ticks = [t.get_text() for t in drawn(fig).findobj(Text)]
    assert any(t.startswith("\u2212") for t in ticks)


# ------------------------------------------------------------------------------------------
# CONSORT
# ------------------------------------------------------------------------------------------


def test_the_consort_diagram_is_the_consort_2010_flow(built):
    """Issue 29: enrolment (from the design), allocation, follow-up with losses, analysis; the
    modelled arm in a dashed panel of its own, outside the randomised flow; CONSORT wording."""
    tables, scores = built
    fig = next(f for _, kind, _, f in figures_of(tables, scores) if kind == "consort")
    figure = drawn(fig)
    texts = [t.get_text() for t in figure.findobj(matplotlib.text.Text)]
    joined = " ".join(texts)
    enrol = tables["consort_enrolment"].fillna("")
    randomised = int(enrol.loc[enrol["stage"] == "Randomised", "n"].iloc[0])
    assert "Assessed for eligibility (n = 1515)" in joined
    assert f"Excluded (n = {1515 - randomised})" in joined and "reasons not reported" in joined
    assert f"Randomised (n = {randomised})" in joined
    for stage in ("Enrolment", "Allocation", "Follow-up", "Analysis"):
        assert stage in texts
    assert "Lost for good" not in joined and "Lost to follow-up" in joined
    assert "Modelled arm, not randomised" in texts
    # the modelled panel is dashed and nothing of the flow reaches into it
    rects, segs = fig.layers[0].data, pd.concat([fig.layers[1].data, fig.layers[2].data])
    dashed = rects[rects["linetype"].astype(str).isin(["dashed", "--"])]
    assert len(dashed) == 1
    x0, x1 = float(dashed["xmin"].iloc[0]), float(dashed["xmax"].iloc[0])
    assert not ((segs[["x", "xend"]] > x0) & (segs[["x", "xend"]] < x1)).any().any()
    # every line of text inside its box
    renderer = figure.canvas.get_renderer()
    ax = figure.axes[0]
    boxes = [ax.transData.transform([(r.xmin, r.ymin), (r.xmax, r.ymax)])
             for r in rects.itertuples()]  # fmt: skip
    for t in figure.findobj(matplotlib.text.Text):
        if t.axes is not ax or not t.get_text().strip():
            continue
        e = t.get_window_extent(renderer)
        inside = [b for b in boxes if b[0][0] - 1 <= e.x0 and e.x1 <= b[1][0] + 1
                  and b[0][1] - 1 <= e.y0 and e.y1 <= b[1][1] + 1]  # fmt: skip
        assert inside, t.get_text()


def test_the_flow_table_counts_every_arm_and_the_modelled_arm_apart(built):
    from ipt_outcomes.report.views import consort_view, text_of

    tables, _ = built
    view = consort_view(tables)
    rows = [[text_of(c, tables) for c in r] for r in view.rows]
    stages = [r[0] for r in rows]
    assert stages[:4] == ["Assessed for eligibility", "Excluded", "Excluded: reasons not reported",
                          "Randomised"]  # fmt: skip
    assert "Modelled, not randomised" in stages and "Allocated" in stages
    assert any(s.startswith("Lost to follow-up: ") for s in stages)
    modelled = [r for r, c in zip(rows, view.row_class, strict=True) if "modelled" in c]
    assert modelled and all("(modelled)" in r[1] for r in modelled)


# ------------------------------------------------------------------------------------------
# the synthetic mark and the alternative text
# ------------------------------------------------------------------------------------------


def test_every_figure_of_synthetic_data_says_so_in_its_caption(built):
    tables, scores = built
    for name, _kind, _, fig in figures_of(tables, scores):
        caption = str(fig.labels.get("caption", ""))
        assert caption.startswith("SYNTHETIC DATA, calibrated to"), name


def test_alt_text_says_what_each_figure_shows_with_the_tables_numbers(built):
    """Issue 29: the alt text was only the title."""
    from ipt_outcomes.format import fmt
    from ipt_outcomes.report.alt import describe
    from ipt_outcomes.report.figures import FigureLabels

    tables, scores = built
    lab = FigureLabels.from_tables(tables)
    tlf = tables["tlf"]
    for r in tlf[tlf["kind"] == "Figure"].itertuples(index=False):
        src = r.src if isinstance(r.src, str) else ""
        alt = describe(r.figure, tables, src, r.title)
        assert alt != r.title and len(alt) > 60 and "nan" not in alt.split(), (r.name, alt)
    lsm = lab.without_repeated_reference(tables["primary__lsmeans"])
    last = lsm[lsm["visit"].astype(float) == lsm["visit"].astype(float).max()]
    alt = describe("mmrm", tables, "primary__lsmeans")
    assert alt.startswith("Line chart of the least-squares mean change")
    for row in last.itertuples(index=False):
        assert f"{lab.label(row.arm)} {fmt(row.estimate, 'f1')}" in alt


# ------------------------------------------------------------------------------------------
# per-participant figures of a large trial: a cost that does not grow with participants
# ------------------------------------------------------------------------------------------


def _large_scores(n_per_arm=(150, 80, 20), visits=(0, 1, 2, 3)):
    import numpy as np

    rng = np.random.default_rng(3)
    rows = []
    for arm, n in zip(("TAU", "IPT", "PeGT"), n_per_arm, strict=True):
        for i in range(n):
            for v in visits:
                rows.append((f"{arm}-{i:03d}", arm, float(v), float(rng.integers(0, 30))))
    return pd.DataFrame(rows, columns=["subject_id", "arm", "visit", "score"])


def _labels():
    from ipt_outcomes.report.figures import FigureLabels

    return FigureLabels(arms=("TAU", "IPT", "PeGT"), reference="TAU",
                        arm_label={"TAU": "TAU", "IPT": "IPT", "PeGT": "PeGT"})  # fmt: skip


def test_spaghetti_of_a_large_arm_draws_a_seeded_sample_of_60_and_says_so():
    from ipt_outcomes.report.figures import spaghetti_plot, spaghetti_sample

    scores = _large_scores()
    fig = spaghetti_plot(scores, _labels())
    drawn_ids = fig.data.groupby("arm", observed=True)["subject_id"].nunique()
    assert drawn_ids.to_dict() == {"TAU": 60, "IPT": 60, "PeGT": 20}
    assert fig.labels.subtitle == (
        "A random sample of participants (seed 2016): TAU 60 of 150, IPT 60 of 80"
    )
    # the same data give the same sample; another seed another one
    again = spaghetti_sample(scores).attrs["subjects"]
    assert again == set(fig.data["subject_id"])
    assert spaghetti_sample(scores, seed=1).attrs["subjects"] != again
    # every score of a drawn participant is drawn
    picked = scores[scores["subject_id"].isin(again)]
    assert len(fig.data) == len(picked)


def test_spaghetti_of_a_small_trial_draws_everyone_without_a_subtitle():
    from ipt_outcomes.report.figures import spaghetti_plot

    scores = _large_scores((30, 25, 20))
    fig = spaghetti_plot(scores, _labels())
    assert fig.data["subject_id"].nunique() == 75
    assert "subtitle" not in fig.labels or not fig.labels.subtitle


def test_waterfall_of_many_participants_is_one_outline_per_arm_and_status_with_the_bars_tops():
    import numpy as np

    from ipt_outcomes.report.figures import waterfall_plot

    rng = np.random.default_rng(5)
    n = {"TAU": 400, "IPT": 200}
    rows = []
    for arm, k in n.items():
        pc = np.sort(rng.uniform(-100, 40, k))[::-1]
        rows += [dict(subject_id=f"{arm}{i}", arm=arm, visit=3.0, percent_change=x,
                      responder=x <= -50) for i, x in enumerate(pc)]  # fmt: skip
    table = pd.DataFrame(rows)
    fig = waterfall_plot(table, _labels())
    layer = fig.layers[0]
    assert type(layer.geom).__name__ == "geom_ribbon"
    steps = layer.geom.data
    assert steps["part"].nunique() == 4  # two arms x responder / non-responder
    for arm, k in n.items():  # two corners per participant, at each bar's edges, its height
        mine = steps[steps["arm"].astype(str) == arm]
        assert len(mine) == 2 * k
        src = table[table["arm"] == arm].reset_index(drop=True)
        left = mine.iloc[0::2]
        np.testing.assert_allclose(left["rank"], np.arange(k) - 0.45)
        np.testing.assert_allclose(left["percent_change"], src["percent_change"])
    few = waterfall_plot(table.groupby("arm").head(100), _labels())
    assert type(few.layers[0].geom).__name__ == "geom_col"
    drawn(fig)
