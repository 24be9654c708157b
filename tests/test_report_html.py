"""report.html: self-contained, and rendered in a real browser (headless Chromium) with every image loaded.

The browser test needs Debian's ``chromium`` (``.ci/run`` installs it) and skips with a reason without it.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from jaxsep.cli import train as cli_train
from jaxsep.features.file import save_features
from jaxsep.features.toy import toy_features
from jaxsep.results.html import markdown_to_html
from jaxsep.results.run_folder import REPORT, load_results, write_run

DATA = Path(__file__).parent / "data"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Flags for a root user in a closed network (see the machine notes): no sandbox, no background traffic.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A run folder from the recorded version-1 results (upgraded) with a toy feature set's stacks."""
    folder = tmp_path_factory.mktemp("runs") / "demo"
    old = tmp_path_factory.mktemp("old")
    shutil.copy(DATA / "results_v1.json", old / "results.json")
    features = toy_features(songs_per_class=(3, 3, 3), n_mels=16, frames=40, seed=2)
    write_run(folder, load_results(old), features=features)
    return folder


def test_the_report_embeds_everything(run_folder):
    page = (run_folder / REPORT).read_text()
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    assert images == ["feature_stacks", "f1_distributions", "forest", "learning_curves", "confusion"]
    assert 'data-images-total="5"' in page and "<table>" in page and "min test loss (paper)" in page
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing fetched from elsewhere


def test_class_names_are_escaped(tmp_path):
    from jaxsep.results.html import report_html

    results = json.loads((DATA / "results_v1.json").read_text())
    results["data"]["classes"] = ["R&B", "<script>alert(1)</script>", 'Drum "n" Bass']
    results["data"]["class_counts"] = [2, 2, 2]
    (tmp_path / "table.md").write_text("| a |\n|---|\n| 1 |\n")
    page = report_html(tmp_path, results)
    assert "R&amp;B 2, &lt;script&gt;alert(1)&lt;/script&gt; 2, Drum &quot;n&quot; Bass 2" in page
    assert "<script>alert" not in page


def test_markdown_tables_become_html_tables():
    got = markdown_to_html("Intro with `code`.\n\n| a | b |\n|---|---|\n| 1 | <2> |\n\nAfter.")
    assert got == ("<p>Intro with <code>code</code>.</p>\n<table><thead><tr><th>a</th><th>b</th></tr></thead>"
                   "<tbody><tr><td>1</td><td>&lt;2&gt;</td></tr></tbody></table>\n<p>After.</p>")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian package 'chromium')")
def test_the_report_renders_in_chromium(run_folder, tmp_path):
    url = (run_folder / REPORT).resolve().as_uri()
    common = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2400"]
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout).group(0)
    assert 'data-images-total="5"' in body and 'data-images-loaded="5"' in body, body
    shot = tmp_path / "shot.png"
    done = subprocess.run([*common, f"--screenshot={shot}", url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.std() > 10  # text, tables and figures: not a blank page
    assert (pixels < 128).mean() > 0.01


def test_show_draws_the_stacks_of_chosen_songs(tmp_path):
    features = toy_features(songs_per_class=(2, 2), n_mels=16, frames=40, seed=3)
    path = save_features(tmp_path / "f.npz", mels=features.mels, maps=features.maps, labels=features.labels,
                         classes=features.classes, song_ids=features.song_ids, meta=features.meta)
    app = typer.Typer()
    cli_train.register(app)
    out = tmp_path / "stacks.png"
    result = CliRunner().invoke(app, ["show", str(path), "--songs", "song000,song003", "--out", str(out)])
    assert result.exit_code == 0, result.output
    width, height = Image.open(out).size
    assert width > height > 200  # two rows of two panels
    bad = CliRunner().invoke(app, ["show", str(path), "--songs", "nope", "--out", str(out)])
    assert bad.exit_code == 1 and "no song(s) ['nope']" in bad.output


def test_a_rebuilt_report_keeps_settings_recorded_as_null(tmp_path):
    """`jaxsep report` restores NaN where a metric was not finite, never in the configuration (a null
    trials_per_chunk once became NaN in report.html)."""
    from jaxsep.results.run_folder import rebuild_report

    results = load_results(_v1_copy(tmp_path))
    results["config"] |= {"trials_per_chunk": None, "concurrent_trials": None}
    folder = tmp_path / "run"
    write_run(folder, results)
    rebuild_report(folder)
    page = (folder / REPORT).read_text()
    assert "&quot;trials_per_chunk&quot;: null" in page and "NaN" not in page


def _v1_copy(tmp_path) -> Path:
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(DATA / "results_v1.json", old / "results.json")
    return old
