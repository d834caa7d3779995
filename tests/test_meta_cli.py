"""``ipt-outcomes meta`` on the command line: outputs, notes, and every kind of bad input.

Bad input gives one clear message naming file, row, study and column, exit status 1, nothing
written and the input untouched; a usage error exits 2.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXCERPT = ROOT / "analyses" / "teaching" / "data" / "depression-psyctr_excerpt.csv"
DATA = ROOT / "tests" / "data" / "metapsy"

METAPSY = (
    '"";"study";".g";".g_se";"rob"\n'
    '"1";"Alpha, 2001";0,41;0,21;3\n'
    '"2";"Beta, 2005";0,12;0,15;4\n'
    '"3";"Gamma, 2010";0,77;0,30;2\n'
)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_metapsy_excerpt_writes_every_table_and_both_plots(run_cli, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = run_cli("meta", EXCERPT, "--where", "condition_arm1=ipt", "--aggregate",
                                "0.5", "--by", "rob", "--highlight", "Saloheimo, 2016", "--out", out)  # fmt: skip
    assert code == 0, err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["meta_egger.csv", "meta_fit.csv", "meta_forest.png", "meta_funnel.png",
                     "meta_pooled.csv", "meta_studies.csv", "meta_tests.csv"]  # fmt: skip
    pooled = pd.read_csv(out / "meta_pooled.csv", keep_default_na=False)
    assert list(pooled["subgroup"]) == ["", "0", "1", "2", "3", "4"]
    assert (pooled["method"] == "reml").all()
    assert "k = 31 studies (48 effect sizes pooled within studies, rho = 0.5)" in stdout
    assert "several levels of rob" in err  # a study with outcomes in two risk-of-bias levels
    studies = pd.read_csv(out / "meta_studies.csv")
    assert "Saloheimo, 2016" in set(studies["study"])


def test_same_input_gives_the_same_bytes(run_cli, tmp_path):
    outs = []
    for i in range(2):
        out = tmp_path / f"o{i}"
        assert run_cli("meta", DATA / "simulated40.tsv", "--effect", "smd", "--se", "se_smd",
                       "--study-col", "trial", "--out", out)[0] == 0  # fmt: skip
        outs.append(out)
    for name in ("meta_pooled.csv", "meta_studies.csv", "meta_egger.csv", "meta_fit.csv",
                 "meta_forest.png", "meta_funnel.png"):  # fmt: skip
        assert digest(outs[0] / name) == digest(outs[1] / name), name


def test_rows_without_numbers_are_left_out_and_named_on_stderr(run_cli, tmp_path):
    code, _, err = run_cli("meta", DATA / "na_rows.csv", "--aggregate", "0.5", "--no-plots",
                           "--out", tmp_path / "o")  # fmt: skip
    assert code == 0, err
    assert "row 4, study Jones, 2010: the effect (.g) is missing" in err
    assert "row 9, study Ode, 2020: the standard error (.g_se) is missing" in err


def _refused(run_cli, tmp_path, path, *flags, status=1):
    before = digest(path)
    out = tmp_path / "out"
    code, stdout, err = run_cli("meta", path, *flags, "--out", out)
    assert code == status, (stdout, err)
    assert not out.exists(), "nothing is written"
    assert digest(path) == before, "the input is untouched"
    assert "Traceback" not in err and "internal error" not in err
    return err


def test_no_such_column_names_file_flag_and_the_columns_it_has(run_cli, tmp_path, write_csv):
    path = write_csv("study,g,se\nA,0.1,0.1\nB,0.2,0.1\n")
    err = _refused(run_cli, tmp_path, path)
    assert f"{path}: no column '.g' (for --effect); no column '.g_se' (for --se)" in err
    assert "'study', 'g', 'se'" in err
    err = _refused(run_cli, tmp_path, path, "--effect", "g", "--se", "se", "--by", "rob")
    assert "no column 'rob' (for --by (rob))" in err


def test_standard_error_not_positive_names_row_study_and_column(run_cli, tmp_path, write_csv):
    path = write_csv("study,yi,sei\nA,0.1,0.1\nB,0.2,0\nC,0.3,-0.2\n")
    err = _refused(run_cli, tmp_path, path, "--effect", "yi", "--se", "sei")
    assert f"{path}, row 3, column sei: study B: the standard error must be positive, got 0" in err
    assert (
        f"{path}, row 4, column sei: study C: the standard error must be positive, got -0.2" in err
    )


def test_non_numeric_cells_are_named(run_cli, tmp_path, write_csv):
    path = write_csv('study,yi,sei\nA,0.1,0.1\nB,"0,2",0.1\nC,n/a?,0.1\n')
    err = _refused(run_cli, tmp_path, path, "--effect", "yi", "--se", "sei")
    assert (
        "row 3, column yi: study B: '0,2' is not a number (this file's decimal mark is '.')" in err
    )
    assert "row 4, column yi: study C: 'n/a?' is not a number" in err


def test_fewer_than_two_studies_is_refused(run_cli, tmp_path, write_csv):
    path = write_csv("study,yi,sei\nA,0.1,0.1\nB,NA,0.1\n")
    err = _refused(run_cli, tmp_path, path, "--effect", "yi", "--se", "sei")
    assert "a meta-analysis needs at least 2 studies; there is 1 study" in err


def test_a_study_in_several_rows_needs_aggregate(run_cli, tmp_path, write_csv):
    path = write_csv(METAPSY + '"4";"Beta, 2005";0,20;0,16;4\n', name="m.csv")
    err = _refused(run_cli, tmp_path, path)
    assert "row 3, column study: study Beta, 2005 has 2 effect sizes (rows 3, 5)" in err
    assert "--aggregate RHO" in err
    assert (
        run_cli("meta", path, "--aggregate", "0.5", "--no-plots", "--out", tmp_path / "ok")[0] == 0
    )


def test_unknown_highlight_suggests_the_nearest_study(run_cli, tmp_path, write_csv):
    path = write_csv(METAPSY, name="m.csv")
    err = _refused(run_cli, tmp_path, path, "--highlight", "Beta 2005")
    assert (
        "--highlight 'Beta 2005' is not a study of the analysis; did you mean 'Beta, 2005'?" in err
    )


def test_where_that_matches_nothing_lists_the_values(run_cli, tmp_path):
    err = _refused(run_cli, tmp_path, EXCERPT, "--where", "condition_arm1=IPT")
    assert "--where condition_arm1=IPT matches no row; column condition_arm1 has '3rd'" in err


@pytest.mark.parametrize("flags", [["--aggregate", "1"], ["--aggregate", "-0.1"],
                                   ["--aggregate", "x"], ["--method", "hs"], ["--test", "t"],
                                   ["--where", "rob"]])  # fmt: skip
def test_usage_errors_exit_2(run_cli, tmp_path, write_csv, flags):
    path = write_csv(METAPSY, name="m.csv")
    _refused(run_cli, tmp_path, path, *flags, status=2)


@pytest.mark.parametrize("text", ["", "study;.g;.g_se\n"])
def test_empty_files_are_refused(run_cli, tmp_path, write_csv, text):
    path = write_csv(text, name="m.csv") if text else tmp_path / "empty.csv"
    if not text:
        path.write_bytes(b"")
    err = _refused(run_cli, tmp_path, path)
    assert "empty" in err or "no data rows" in err


def test_k2_is_fitted_with_a_wide_knapp_hartung_interval_and_no_egger(run_cli, tmp_path):
    out = tmp_path / "o"
    code, stdout, err = run_cli("meta", DATA / "k2.csv", "--effect", "yi", "--se", "sei",
                                "--out", out)  # fmt: skip
    assert code == 0, err
    assert "Egger's test: not computed (the test needs at least 3 studies (k = 2))" in stdout
    egger = pd.read_csv(out / "meta_egger.csv")
    assert egger.isna().all(axis=None)
    pooled = pd.read_csv(out / "meta_pooled.csv")
    assert pooled.loc[0, "k"] == 2 and pooled.loc[0, "test"] == "knha"


def test_plots_draw_and_mark_the_highlighted_study():
    from ipt_outcomes.meta import funnel_plot, meta_analysis, meta_forest_plot, read_effect_sizes

    d = read_effect_sizes(EXCERPT, where=[("condition_arm1", ("ipt",))], keep=["format"])
    res = meta_analysis(d, rho=0.5, by="format")
    forest = meta_forest_plot(res, highlight="Saloheimo, 2016")
    assert forest.data["highlighted"].sum() == 1
    assert forest.data["label"].str.startswith("\u25b6").sum() == 1
    funnel = funnel_plot(res, highlight="Saloheimo, 2016")
    assert len(funnel.data) == res.overall.k
    for fig in (forest, funnel):
        import matplotlib.pyplot as plt

        plt.close(fig.draw())
