"""The README's Python example runs as written (on a small generated feature file)."""

import re
from pathlib import Path

from jaxsep.features.file import save_features
from jaxsep.features.toy import toy_features

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_python_example_runs(tmp_path, capsys, monkeypatch):
    block = re.search(r"<!-- example: python -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert block, "the README lost its Python example"
    toy = toy_features(songs_per_class=(6, 6, 6), n_mels=8, frames=12, seed=1)
    save_features(tmp_path / "features.npz", mels=toy.mels, maps=toy.maps, labels=toy.labels, classes=toy.classes,
                  song_ids=toy.song_ids, meta=toy.meta)
    monkeypatch.chdir(tmp_path)
    exec(compile(block.group(1), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "novox" in printed and "stems3:pool" in printed and "ΔF1" in printed
    assert (tmp_path / "runs" / "from-python" / "report.html").is_file()
