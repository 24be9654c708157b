"""``report.html``: one self-contained page per run folder (tables, figures embedded, configuration).

The page needs nothing beside itself: the figures are embedded as ``data:`` URIs, the styles inline, no
script or font is fetched. A short inline script counts the images that loaded into ``data-images-loaded`` on
``<body>``, which the browser test reads back.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

from .ablation import ABLATION
from .curve import CURVE, CURVE_FIGURE

#: The figures a report shows, in order, with their captions (a missing file is left out).
FIGURES = {
    "feature_stacks.png": "The idea: each song's bass, drums and other maps as the R, G, B channels of one image "
                          "(left), beside its mix (right).",
    "f1_distributions.png": "Figure 1: test F1 over trials, 3-spectrogram models (orange) against "
                            "1-spectrogram models (blue); dashed lines at the means.",
    "forest.png": "Every comparison at a glance: mean paired F1 difference from the baseline with its corrected "
                  "95 % interval (filled points: Holm-adjusted p below 0.05).",
    "learning_curves.png": "Learning curves: mean over trials with the interquartile range shaded; orange bars: "
                           "share of trials whose reported epoch it is.",
    "confusion.png": "Confusion matrices at the reported epoch, summed over trials (colour: share of the true "
                     "class).",
}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; }
th { background: #f2f2f2; }
img { max-width: 100%; border: 1px solid #ddd; }
figure { margin: 1.5rem 0; }
figcaption { font-size: 0.9rem; color: #555; }
pre { background: #f7f7f7; padding: 1rem; overflow-x: auto; font-size: 0.8rem; }
code { background: #f2f2f2; padding: 0 0.2rem; }
"""

_COUNT_IMAGES = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images-loaded", String(loaded));
});
"""


def _inline(text: str) -> str:
    """Escapes ``text`` and turns ``code`` spans into ``<code>``."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def markdown_to_html(text: str) -> str:
    """The markdown jaxsep writes (paragraphs and pipe tables) as HTML."""
    out: list[str] = []
    rows: list[list[str]] = []

    def flush_table():
        if rows:
            header, body = rows[0], rows[1:]
            out.append("<table><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in header) + "</tr></thead>"
                       + "<tbody>" + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                                             for row in body) + "</tbody></table>")
            rows.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|"):
            cells = [cell.strip() for cell in stripped.strip("|").split("|")]
            if not all(set(cell) <= set("-: ") for cell in cells):  # skip the |---| separator row
                rows.append(cells)
            continue
        flush_table()
        if stripped:
            out.append(f"<p>{_inline(stripped)}</p>")
    flush_table()
    return "\n".join(out)


def _figure(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _section(path: Path, title: str) -> list[str]:
    """A titled section holding the markdown file at ``path``; nothing when it does not exist."""
    if not path.is_file():
        return []
    return [f"<h2>{html.escape(title)}</h2>", markdown_to_html(path.read_text(encoding="utf-8"))]


def report_html(folder: Path, results: dict, *, name: str | None = None) -> str:
    """The page for a run folder that already holds ``table.md`` and the figures, titled ``name`` (default:
    the folder's name)."""
    folder = Path(folder)
    name = name or folder.name
    data = results["data"]
    meta = data.get("meta", {})
    counts = ", ".join(f"{html.escape(str(label))} {count}"
                       for label, count in zip(data["classes"], data["class_counts"]))
    summary = (f"{data['songs']} songs in {len(data['classes'])} classes ({counts}); separator "
               f"<code>{html.escape(str(meta.get('separator', '?')))}</code>; {results['config']['trials']} trials "
               f"of {html.escape(', '.join(results['models']))}.")
    settings = {key: results[key] for key in ("config", "split", "select_on", "versions", "device", "timing")
                if key in results}
    figures = [_figure(folder / name, caption) for name, caption in FIGURES.items() if (folder / name).is_file()]
    return _page("run", f"jaxsep run <code>{html.escape(name)}</code>", name, summary, [
        "<h2>Table 1</h2>",
        markdown_to_html((folder / "table.md").read_text(encoding="utf-8")),
        *_section(folder / ABLATION, "Which maps carry the genre"),
        "<h2>Figures</h2>",
        *figures,
    ], len(figures), settings)


def curve_report_html(folder: Path, runs: dict[str, dict], *, name: str | None = None) -> str:
    """The page of a data-size curve folder that already holds ``curve.md`` and ``curve.png``: the curve, and a
    link to each size's own report."""
    folder = Path(folder)
    name = name or folder.name
    first = next(iter(runs.values()))
    data = first["data"]
    models = ", ".join(first["models"])
    summary = (f"{data['songs']} songs in {len(data['classes'])} classes; {html.escape(models)} over "
               f"{first['config']['trials']} trials at every size.")
    figures = [_figure(folder / CURVE_FIGURE, "Left: test F1 against training songs, each model's mean with its "
                       "corrected 95 % band (reference rows dashed). Right: each compared model's F1 difference "
                       "from its baseline with its band.")] if (folder / CURVE_FIGURE).is_file() else []
    links = "".join(f'<li><a href="{html.escape(size)}/report.html">{html.escape(size)}</a>: '
                    f"{results['split']['train']} training / {results['split']['test']} test songs</li>"
                    for size, results in runs.items())
    return _page("curve", f"jaxsep data-size curve <code>{html.escape(name)}</code>", name, summary, [
        *_section(folder / CURVE, "Scores by the number of training songs"),
        *figures,
        "<h2>Each size</h2>",
        f"<ul>{links}</ul>",
    ], len(figures), first["config"])


def _page(kind: str, heading: str, name: str, summary: str, parts: list[str], n_images: int, settings: dict) -> str:
    """A self-contained page: title, style, the image counter, ``heading``, ``summary``, ``parts`` (HTML lines
    holding ``n_images`` figures) and the ``settings`` as JSON."""
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>jaxsep {kind}: {html.escape(name)}</title>",
        f"<style>{_STYLE}</style>",
        f"<script>{_COUNT_IMAGES}</script>",
        "</head>",
        f'<body data-images-total="{n_images}">',
        f"<h1>{heading}</h1>",
        f"<p>{summary}</p>",
        *parts,
        "<h2>Configuration</h2>",
        f"<pre>{html.escape(json.dumps(settings, indent=1))}</pre>",
        "</body></html>",
    ])
