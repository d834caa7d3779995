"""The one parallel runner (``ipt_outcomes.runtime``) and the work shared between analyses.

Rules: results come back in task order whatever runs them (this process, 2 processes, the
adaptive mode that times the first chunk); the same seed gives the same bytes whatever the
number of workers (here for the reference-based MI's bootstrap; ``test_power.py`` for power);
the imputation model and its refits are fitted once for several strategies and give the numbers
of separate runs exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.runtime import Background, run_chunks

from .test_estimands_rules import make_trial


def _square_after(task):
    seed, k = task
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
    return float(rng.normal()) ** 2


def test_chunks_come_back_in_task_order_wherever_they_run():
    tasks = [(7, k) for k in range(6)]
    here = run_chunks(_square_after, tasks, workers=1)
    assert here == [_square_after(t) for t in tasks]
    assert run_chunks(_square_after, tasks, workers=2) == here
    assert run_chunks(_square_after, tasks, workers=2, fork=True) == here
    assert run_chunks(_square_after, tasks, workers=None, quick=1e9) == here  # stays here
    assert run_chunks(_square_after, [], workers=2) == []
    with pytest.raises(ValueError, match="workers"):
        run_chunks(_square_after, tasks, workers=0)


def _fail(_):
    raise RuntimeError("chunk failed")


def test_an_error_in_a_worker_is_raised_in_the_caller():
    with pytest.raises(RuntimeError, match="chunk failed"):
        run_chunks(_fail, [1, 2], workers=2)


def test_background_task_returns_its_value():
    assert Background(sum, [1, 2, 3]).result() == 6


@pytest.fixture(scope="module")
def trial():
    return make_trial(arms=("TAU", "CBT", "IPT"), n_per_arm=25, seed=4)


@pytest.mark.parametrize("resampling", ["jackknife", "bootstrap"])
def test_one_imputation_model_and_one_set_of_refits_serve_every_strategy(trial, resampling):
    from ipt_outcomes.estimands.reference_based import ImputationCache, reference_based_mi

    kw = dict(method="condmean", resampling=resampling, n_samples=40, seed=3)
    cache = ImputationCache()
    shared = {s: reference_based_mi(trial, s, cache=cache, **kw) for s in ("JR", "CIR", "MAR")}
    assert (cache.models_fitted, cache.refits_computed) == (1, 1)
    for s, res in shared.items():
        alone = reference_based_mi(trial, s, **kw)
        for a, b in ((res.contrasts(), alone.contrasts()), (res.lsmeans(), alone.lsmeans())):
            pd.testing.assert_frame_equal(a, b, check_exact=True)
    # another model setting is another model
    reference_based_mi(trial, "JR", cache=cache, optimizer="exact", **kw)
    assert cache.models_fitted == 2


def test_bootstrap_gives_the_same_bytes_with_one_or_two_workers(trial):
    from ipt_outcomes.estimands.reference_based import reference_based_mi

    kw = dict(method="condmean", resampling="bootstrap", n_samples=600, seed=9)  # 3 chunks
    one = reference_based_mi(trial, "JR", workers=1, **kw).contrasts()
    two = reference_based_mi(trial, "JR", workers=2, **kw).contrasts()
    pd.testing.assert_frame_equal(one, two, check_exact=True)


def test_side_by_side_gives_every_result_in_order_and_raises_a_childs_error():
    from ipt_outcomes.runtime import side_by_side

    assert side_by_side(_square_after, [(1, k) for k in range(7)]) == [
        _square_after((1, k)) for k in range(7)
    ]
    with pytest.raises(RuntimeError, match="chunk failed"):
        side_by_side(_fail, [1, 2, 3])
    with pytest.raises(RuntimeError, match="chunk failed"):
        run_chunks(_fail, [1, 2, 3], workers=2, fork=True)


def _nested(tasks):
    """What a report stage does in a forked child: parallel work of its own."""
    from ipt_outcomes.runtime import side_by_side

    return (run_chunks(_square_after, tasks, workers=2),
            run_chunks(_square_after, tasks, workers=2, fork=True),
            side_by_side(_square_after, tasks))  # fmt: skip


def test_parallel_work_inside_a_background_child_runs_there_instead_of_failing():
    """A plan stage that lands in a forked (daemonic) child and then asks for workers of its own
    (the MI's jackknife when its first chunk is slow) once failed with Python's 'daemonic
    processes are not allowed to have children' as an internal error of the report."""
    import os

    if not hasattr(os, "fork") or (os.cpu_count() or 1) < 2:
        pytest.skip("no fork or one core: no child process")
    tasks = [(5, k) for k in range(4)]
    want = [_square_after(t) for t in tasks]
    assert Background(_nested, tasks).result() == (want, want, want)


def _pid(_):
    import os

    return os.getpid()


def test_side_by_side_keeps_the_first_item_in_the_calling_process():
    """The first item (the plan puts its multiple imputations there) runs where it may start
    workers of its own, whichever process is quicker to start."""
    import os

    from ipt_outcomes.runtime import side_by_side

    for _ in range(5):
        assert side_by_side(_pid, list(range(3)))[0] == os.getpid()


def test_the_plan_run_on_both_cores_gives_the_same_results_data():
    import ipt_outcomes
    from ipt_outcomes.plan import run_plan

    from .conftest import ROOT

    ref = ROOT / "tests" / "reference" / "plan"
    trial = ipt_outcomes.load_trial(ref / "plan_trial.csv", ref / "plan_trial.toml")
    one = run_plan(trial)
    both = run_plan(trial, parallel=True)
    pd.testing.assert_frame_equal(one.ard(), both.ard(), check_exact=True)
    assert [r.id for r in one.results] == [r.id for r in both.results]


@pytest.mark.parametrize(("group_by_arm", "estimation"), [(False, "reml"), (True, "ml")])
def test_jackknife_sums_from_the_full_data_equal_each_samples_own_sums(group_by_arm, estimation):
    """A leave-one-out batch works from the sums of every subject with the one subject's rows
    taken off (``_DeltaBatch``); each sample's own sums (``_DenseBatch``) give the same value,
    gradient and fixed effects."""
    from ipt_outcomes.estimands.imputation import ImputationModel, mi_data
    from ipt_outcomes.models.mmrm import refit as R

    scores = make_trial(arms=("TAU", "CBT", "IPT"), n_per_arm=20, seed=8).scores
    gap = scores["visit"].eq(4) & scores["subject_id"].str.endswith(("1", "5"))  # intermittent
    from ipt_outcomes.data.trial import trial_from_frame

    trial = trial_from_frame(scores.loc[~gap, ["subject_id", "arm", "visit", "score"]]
                             .rename(columns={"score": "hamd17"}), reference="TAU")  # fmt: skip
    model = ImputationModel(mi_data(trial, "JR"), group_by_arm=group_by_arm, method=estimation)
    r = model.refitter
    n = model.data.n
    W = np.ones((n + 1, n))
    W[np.arange(n), np.arange(n)] = 0.0  # every subject left out, and the full data
    rng = np.random.default_rng(2)
    theta = model.theta + rng.normal(0, 0.05, (n + 1, len(model.theta)))
    delta = R._batch(r, W)
    assert type(delta).__name__ == "_DeltaBatch"
    dense = R._DenseBatch(r.layout, W, r.n_rows)
    for members in (np.arange(n + 1), np.array([3, 0, n])):
        got = R._evaluate_batch(r, delta, theta[members], members)
        want = R._evaluate_batch(r, dense, theta[members], members)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def _asks_for_processes(kind):
    """Work that itself asks for processes, as the multiple imputations' resampled refits do
    when the report runs them in a child beside its other analyses."""
    from ipt_outcomes.runtime import side_by_side

    tasks = [(11, k) for k in range(4)]
    if kind == "fork":
        return run_chunks(_square_after, tasks, workers=2, fork=True)
    if kind == "pool":
        return run_chunks(_square_after, tasks, workers=2)
    if kind == "timed":  # the adaptive mode judging the rest too slow for one process
        return run_chunks(_square_after, tasks, workers=None, quick=0.0, fork=True)
    if kind == "background":
        return [Background(_square_after, t).result() for t in tasks]
    return side_by_side(_square_after, tasks)


def test_work_in_a_child_that_asks_for_processes_runs_in_that_child():
    """Regression (issue 24 acceptance, a 1000-subject report): the plan's multiple imputations
    ran in the daemonic child of side_by_side, their jackknife asked for forked workers and the
    report stopped with "internal error (AssertionError: daemonic processes are not allowed to
    have children)", depending on which process took the task. The same numbers, computed in
    the child."""
    from ipt_outcomes.runtime import side_by_side

    expected = [_square_after((11, k)) for k in range(4)]
    kinds = ["fork", "pool", "timed", "background", "side_by_side"]
    assert side_by_side(_asks_for_processes, kinds) == [expected] * len(kinds)


def test_work_that_ends_within_a_second_prints_no_progress_bar(capfd):
    assert run_chunks(_square_after, [(1, k) for k in range(3)], workers=1, progress=True,
                      desc="jackknife") == [_square_after((1, k)) for k in range(3)]  # fmt: skip
    assert "jackknife" not in capfd.readouterr().err


def _blocked_signals(_):
    """The signal mask of the worker thread that runs this chunk (Linux /proc)."""
    from pathlib import Path

    status = Path("/proc/thread-self/status").read_text()
    return int(next(x for x in status.splitlines() if x.startswith("SigBlk:")).split()[1], 16)


def test_pool_workers_can_be_stopped_by_sigterm():
    """Workers start with SIGINT and SIGTERM blocked (the mask is set while they are spawned and
    survives exec); each must unblock them, or the SIGTERM with which an interrupted command
    stops them never arrives and they outlive it, holding its output pipes open."""
    from pathlib import Path

    from ipt_outcomes.runtime.chunks import process_pool

    if not Path("/proc/thread-self/status").exists():
        pytest.skip("no /proc: the signal mask of a process cannot be read here")
    with process_pool(2) as pool:
        masks = run_chunks(_blocked_signals, list(range(6)), executor=pool)
    sigterm = 1 << (15 - 1)
    assert [m & sigterm for m in masks] == [0] * 6
