"""Packaging: the core install needs neither torch nor demucs (the ``demucs`` extra brings both); asking for demucs
without them is one line naming the install command; ``--version`` and shell completion.

A real clean install (the wheel in a fresh venv, no torch) is ``.ci/wheel-check``, run by CI after ``make test``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jaxsep.cli import app, package_version
from jaxsep.separation import DemucsNotInstalledError, DemucsNotInstalledWarning, backends, get_separator
from jaxsep.separation.backends import INSTALL_DEMUCS, default_separator_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
runner = CliRunner()


def _names(requirements: list[str]) -> set[str]:
    """``["torch>=2.1", "demucs[x]>=4"]`` → ``{"torch", "demucs"}`` (PEP 503 names)."""
    return {re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", r.strip()).group()).lower()
            for r in requirements}


def test_the_core_install_leaves_torch_and_demucs_to_the_extra():
    assert not _names(PYPROJECT["dependencies"]) & {"torch", "demucs", "torchaudio"}
    assert {"torch", "demucs"} <= _names(PYPROJECT["optional-dependencies"]["demucs"])
    # the command every message and the README give installs that extra, torch pinned in the same command
    assert INSTALL_DEMUCS == 'pip install "torch==2.13.0" "jaxsep[demucs]"'
    assert '"torch==2.13.0" -e ".[test,demucs]"' in (ROOT / "Makefile").read_text()


#: In a fresh interpreter: import jaxsep and its CLI, list torch/demucs modules loaded; then hide torch and demucs
#: from the import system (as in a core install) and ask the CLI for the demucs separator.
_FRESH = """
import json, sys
import jaxsep, jaxsep.cli
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "demucs"))

class HideTorchAndDemucs:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "demucs"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, HideTorchAndDemucs())
from typer.testing import CliRunner
from jaxsep.separation.backends import missing_demucs_packages
result = CliRunner().invoke(jaxsep.cli.app, ["evaluate-separation", sys.argv[1], "--separator", "demucs"])
print(json.dumps({"loaded": loaded, "missing": missing_demucs_packages(), "exit_code": result.exit_code,
                  "output": result.output}))
"""


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stems")
    done = subprocess.run([sys.executable, "-c", _FRESH, str(folder)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_jaxsep_and_its_cli_loads_neither_torch_nor_demucs(fresh):
    assert fresh["loaded"] == []


def test_without_torch_and_demucs_the_demucs_separator_is_one_line_naming_the_install(fresh):
    assert fresh["missing"] == ["torch", "demucs"]
    assert fresh["exit_code"] == 1
    lines = fresh["output"].strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in fresh["output"], fresh["output"]
    assert lines[0].startswith("error: the demucs separator needs PyTorch and demucs (torch, demucs not installed): "
                               'pip install "torch==2.13.0" "jaxsep[demucs]"')
    assert "--separator dsp" in lines[0]


@pytest.fixture
def without_demucs(monkeypatch):
    """As if demucs alone were not installed (torch may be imported already in this process)."""
    monkeypatch.setattr(backends, "missing_demucs_packages", lambda: ("demucs",))


@pytest.fixture
def htdemucs_in_cache(tmp_path, monkeypatch):
    """Placeholder htdemucs weights in a Hugging Face cache layout (nothing is loaded), offline."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snapshot = tmp_path / "hf" / "hub" / "models--adefossez--HTDemucs" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "htdemucs.yaml").write_text("models: ['955717e8']\n")
    (snapshot / "955717e8.safetensors").write_bytes(b"placeholder")
    return tmp_path


def test_asking_for_demucs_without_it_fails_before_looking_for_weights(without_demucs, tmp_path):
    with pytest.raises(DemucsNotInstalledError, match=re.escape(INSTALL_DEMUCS)):
        get_separator("demucs", model_name="demucs_unittest")  # needs no weights, but torch and demucs
    with pytest.raises(DemucsNotInstalledError, match=r"^the demucs separator .*\(demucs not installed\)"):
        get_separator("demucs", model_repo=tmp_path)  # no weights there either: installing comes first
    assert get_separator("dsp").name == "dsp"


def test_the_default_separator_falls_back_to_dsp_with_a_note(without_demucs, htdemucs_in_cache):
    with pytest.warns(DemucsNotInstalledWarning, match=re.escape(INSTALL_DEMUCS)):
        assert default_separator_name() == "dsp"
    stems = htdemucs_in_cache / "stems"
    stems.mkdir()
    # No --separator: the note, then dsp goes on (and stops at the empty folder); one line each, no warning text.
    result = runner.invoke(app, ["evaluate-separation", str(stems)])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 2, result.output
    assert lines[0] == ("note: htdemucs weights found, but demucs not installed: separating with dsp "
                        f"({INSTALL_DEMUCS} to use htdemucs)")
    assert lines[1] == f"error: {stems}: no stem audio files found"


def test_a_model_repo_asks_for_demucs_so_its_absence_is_an_error(without_demucs, htdemucs_in_cache):
    repo = htdemucs_in_cache / "repo"
    repo.mkdir()
    result = runner.invoke(app, ["evaluate-separation", str(repo), "--model-repo", str(repo)])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith(f"error: --model-repo {repo}: the demucs separator needs PyTorch and demucs")
    assert INSTALL_DEMUCS in result.output


def test_version_prints_the_installed_version(monkeypatch):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"jaxsep {metadata.version('jaxsep')}\n"
    assert metadata.version("jaxsep") == PYPROJECT["version"]

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    assert package_version() == "unknown (not installed)"


def test_shell_completion_is_offered_and_completes_commands_and_choices(monkeypatch):
    shown = runner.invoke(app, ["--help"], terminal_width=200)
    assert shown.exit_code == 0
    assert all(option in shown.output for option in ("--install-completion", "--show-completion", "--version"))

    # Name the shell instead of detecting it: CI runs with no interactive shell above pytest.
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    script = runner.invoke(app, ["--show-completion", "bash"], prog_name="jaxsep")
    assert script.exit_code == 0 and "complete -o default -F _jaxsep_completion jaxsep" in script.output

    def complete(words: str) -> list[str]:
        env = {"_JAXSEP_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
        return runner.invoke(app, [], prog_name="jaxsep", env=env).output.split()

    assert complete("jaxsep evaluate-sep") == ["evaluate-separation"]
    assert complete("jaxsep evaluate-separation stems --separator ") == ["dsp", "demucs"]
