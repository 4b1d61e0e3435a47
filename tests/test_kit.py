"""The conformance kit: it passes conforming models, and each check catches the fault it exists for."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from zoo_core import testing
from zoo_test_helpers import FAULTS, make_faulty_plugin, run_zoo


@pytest.fixture
def faulty(site):
    """PYTHONPATH for a process that has the plugin ``faulty`` installed."""
    make_faulty_plugin(site)
    return {"PYTHONPATH": str(site)}


def python(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


@pytest.mark.parametrize("architecture", ["testplugin/categorical", "testplugin/conditional", "testplugin/linear"])
def test_every_check_passes_on_conforming_models(architecture):
    outcome = testing.check_architecture(architecture)
    assert list(outcome) == testing.checks_for(architecture)
    skipped = {check for check, reason in outcome.items() if reason is not None}
    if architecture == "testplugin/linear":  # a classifier has no sampler
        assert "sampler-grey" not in outcome and "reproducible" not in outcome and not skipped
    else:
        assert skipped == {"causal-grey", "causal-rgb"}
        assert outcome["causal-grey"] == f"{architecture} does not declare autoregressive = True"


def test_each_fault_is_caught_by_the_check_that_exists_for_it(faulty):
    result = python("""
        import json
        from zoo_core import testing
        from zoo_test_helpers import FAULTS

        found = {}
        for fault, (_, _, check, _) in FAULTS.items():
            try:
                found[fault] = testing.run_check(f"faulty/{fault}", check) or "passed"
            except AssertionError as error:
                found[fault] = str(error)
        found["grey-only"] = testing.run_check("faulty/grey-only", "normalised-rgb")
        try:
            testing.run_check("faulty/labelled", "shapes")
        except AssertionError as error:
            found["raises"] = str(error)
        print(json.dumps(found))
    """, {"PYTHONPATH": os.pathsep.join([faulty["PYTHONPATH"], os.path.dirname(__file__)])})
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    for fault, (_, _, check, phrase) in FAULTS.items():
        assert found[fault].startswith(f"faulty/{fault}: {check}: ") and phrase in found[fault], found[fault]
        assert "\n" not in found[fault]
    assert found["grey-only"].startswith("faulty/grey-only does not build for RGB (3, 1, 2) with 2 levels")
    assert found["raises"].startswith("faulty/labelled: shapes: raised TypeError: ")


def test_a_non_normalised_model_fails_the_kit_at_its_first_failed_check(faulty):
    result = python("""
        from zoo_core.testing import check_architecture

        try:
            check_architecture("faulty/unnormalised")
        except AssertionError as error:
            print(error)
    """, faulty)
    assert result.stdout.startswith("faulty/unnormalised: normalised-grey: probabilities over all 729 images sum to")


def test_zoo_check_exits_1_naming_each_failed_check(faulty):
    result = run_zoo("check", "faulty/unnormalised", env=faulty)
    assert result.returncode == 1
    assert "ok    faulty/unnormalised: protocol" in result.stdout
    assert "FAIL  faulty/unnormalised: normalised-grey: probabilities over all 729 images" in result.stdout
    assert "FAIL  faulty/unnormalised: normalised-rgb: " in result.stdout
    assert "skip  faulty/unnormalised: causal-grey: " in result.stdout
    assert result.stderr.strip() == "Error: 2 of 10 checks failed"


def test_zoo_check_passes_conforming_architectures_by_pattern():
    result = run_zoo("check", "testplugin/*")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok    testplugin/linear: save-load" in result.stdout and "FAIL" not in result.stdout
    assert result.stdout.strip().endswith("all 27 checks passed")


@pytest.mark.parametrize("argument, message", [
    ("nope/thing", "needs a plugin named 'nope', which is not installed"),
    ("nope/*", "no installed architecture matches 'nope/*'"),
])
def test_zoo_check_of_what_is_not_installed_is_one_line(argument, message):
    result = run_zoo("check", argument)
    assert result.returncode == 1 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_parametrize_with_checks_gives_one_test_per_architecture_and_check(tmp_path, faulty):
    (tmp_path / "test_some_plugin_kit.py").write_text(textwrap.dedent("""
        from zoo_core.testing import parametrize_with_checks

        @parametrize_with_checks(["testplugin/categorical", "testplugin/linear", "faulty/unnormalised"])
        def test_conformance(architecture, check):
            check(architecture)
    """))
    pytest_args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                   str(tmp_path)]
    env = {**os.environ, **faulty}

    collected = subprocess.run([*pytest_args, "--collect-only"], capture_output=True, text=True, env=env,
                               cwd=tmp_path, timeout=300).stdout
    ids = [line.split("[", 1)[1].rstrip("]") for line in collected.splitlines() if "::test_conformance[" in line]
    assert ids[:3] == ["testplugin/categorical:protocol", "testplugin/categorical:shapes",
                       "testplugin/categorical:invalid-input"]
    assert len(ids) == len(set(ids)) == 12 + 7 + 12

    ran = subprocess.run(pytest_args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300).stdout
    assert "2 failed, 25 passed, 4 skipped" in ran
    assert "test_conformance[faulty/unnormalised:normalised-grey]" in ran

    one = subprocess.run([*pytest_args, "-k", "testplugin/categorical:normalised-grey"], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=300).stdout
    assert "1 passed, 30 deselected" in one


def test_the_kit_leaves_the_global_random_state_and_threads_alone():
    torch.manual_seed(3)
    before, threads = torch.get_rng_state(), torch.get_num_threads()
    testing.run_check("testplugin/categorical", "reproducible")
    testing.run_check("testplugin/categorical", "save-load")
    assert torch.equal(torch.get_rng_state(), before) and torch.get_num_threads() == threads


def test_an_unknown_check_is_refused():
    with pytest.raises(ValueError, match="unknown check 'nope'"):
        testing.run_check("testplugin/categorical", "nope")
