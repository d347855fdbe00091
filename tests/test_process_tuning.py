"""executors.tune_simulation_process: what a process that runs simulations changes about itself."""

from __future__ import annotations

import gc

import pytest

from simulator.executors import GC_THRESHOLDS, np_multiarray, tune_simulation_process


@pytest.fixture
def process_settings(monkeypatch):
    """This test process's GC thresholds and numpy huge-page setting, restored afterwards."""
    thresholds = gc.get_threshold()
    madvise = np_multiarray._set_madvise_hugepage(True)  # returns the setting it replaces
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    yield
    gc.set_threshold(*thresholds)
    np_multiarray._set_madvise_hugepage(madvise)


def test_a_simulation_process_collects_less_often_and_asks_numpy_for_no_huge_pages(process_settings):
    tune_simulation_process()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert np_multiarray._set_madvise_hugepage(True) is False


def test_numpy_huge_pages_stay_as_the_environment_asks(process_settings, monkeypatch):
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    tune_simulation_process()
    assert np_multiarray._set_madvise_hugepage(True) is True


def test_pool_workers_are_tuned_as_the_cli_is():
    from simulator.executors import LocalExecutor

    pool = LocalExecutor(1)
    try:
        ((_, (thresholds, madvise)),) = list(pool.map_unordered(_settings, [0]))
    finally:
        pool.close()
    assert thresholds == GC_THRESHOLDS and madvise is False


def _settings(_task):
    return gc.get_threshold(), np_multiarray._set_madvise_hugepage(False)
