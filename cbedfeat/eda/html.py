"""The HTML page of the exploratory report: text, tables and the PNG figures."""

from __future__ import annotations

import html
import os
from pathlib import Path

import pandas as pd

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; color: #222; }
h1 { border-bottom: 2px solid #444; } h2 { margin-top: 2em; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
img { max-width: 100%; margin: 0.5em 0; border: 1px solid #eee; }
.note { background: #fff7e0; border-left: 4px solid #e0a800; padding: 0.5em 1em; }
.bad { color: #a00; }
"""


def _img(names: list[str]) -> str:
    return "\n".join(f'<img src="{html.escape(n)}" alt="{html.escape(n)}">' for n in names)


def _fmt(x, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return html.escape(str(x))


def write_html(
    path: Path, summary: dict, tables: dict[str, pd.DataFrame], figs: dict[str, list[str]], fstats
) -> None:
    """Write ``report.html`` (atomically) from the summary, count tables and figure names."""
    imb = summary["imbalance"]
    leak = summary["leakage"]
    cmp_ = summary["ornl_comparison"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>cbedfeat EDA</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Exploratory analysis of a CBED data set</h1>",
        f"<p>{summary['n_files']} files, {imb['n_samples']} valid samples of {imb['n_materials']} materials, "
        f"{imb['n_classes']} space groups, beam energies {summary['energies_keV']} keV; "
        f"{summary.get('n_unlabelled', 0)} unlabelled samples (missing or invalid metadata: left "
        "out of this report and of training, still predicted). "
        f"{'Simulated by cbedfeat.' if summary['simulated'] else ''}</p>",
        "<h2>Targets</h2>",
        "<h3>Imbalance</h3><table>",
        f"<tr><th>Gini coefficient of class sizes</th><td>{_fmt(imb['gini'])}</td></tr>",
        f"<tr><th>entropy / log(classes)</th><td>{_fmt(imb['entropy_ratio'])}</td></tr>",
        f"<tr><th>classes holding half the samples</th><td>{imb['classes_for_half']}</td></tr>",
        f"<tr><th>largest / smallest class</th><td>{_fmt(imb['imbalance_ratio'], 1)}</td></tr>",
    ]
    if imb["largest_class"]:
        parts.append(
            f"<tr><th>largest class</th><td>{imb['largest_class']['space_group']} "
            f"({100 * imb['largest_class']['fraction']:.1f} % of samples)</td></tr>"
        )
    for t, n in imb["classes_below"].items():
        parts.append(f"<tr><th>classes with fewer than {t} samples</th><td>{n}</td></tr>")
    parts.append(
        "</table><table><tr><th>split</th><th>classes</th><th>only in this split</th><th>missing here</th></tr>"
    )
    for split, p in imb["splits"].items():
        parts.append(
            f"<tr><td>{html.escape(split)}</td><td>{p['n_classes']}</td>"
            f"<td>{_fmt(p['only_here'][:30])}</td><td>{_fmt(p['missing_here'][:30])}</td></tr>"
        )
    parts.append("</table>")
    if imb["eval_classes_not_in_train"]:
        parts.append(
            f"<p class='bad'>Space groups in dev/test but never in train (a classifier cannot predict them): "
            f"{_fmt(imb['eval_classes_not_in_train'])}</p>"
        )
    parts += [
        "<h3>Samples and materials per space group</h3>",
        _img(figs["targets"][:2]),
        "<h3>Per crystal system, Laue class and point group, by split</h3>",
        tables["crystal_system"].to_html(),
        _img(figs["targets"][2:3]),
        "<h3>Against the real ORNL distribution</h3>",
        f"<p>Total variation distance to the ORNL train distribution: {_fmt(cmp_['total_variation'])} "
        f"(0 = identical, 1 = disjoint); Spearman rank correlation over the ORNL classes: "
        f"{_fmt(cmp_['spearman_rank_correlation'])}.</p>",
        _img(figs["targets"][3:]),
        "<h2>Material properties</h2>",
        "<div class='note'><b>Leakage danger.</b> The lattice constants and angles, the formula, the "
        "d-spacings and semi-angles and the material id are stored beside every pattern, and they nearly give "
        "the label away: a depth-6 decision tree on (a, b, c, alpha, beta, gamma) alone, with folds grouped by "
        f"material, predicts the crystal system with accuracy {_fmt(leak['tree_accuracy'])} against a majority "
        f"baseline of {_fmt(leak['majority_baseline'])}; "
        f"{_fmt(None if leak['cubic_metric_fraction'] is None else 100 * leak['cubic_metric_fraction'], 1)} % of "
        "cubic samples have a = b = c and three right angles. cbedfeat uses them as targets and grouping keys "
        "only, never as classifier inputs.</div>",
        _img(figs["properties"]),
        "<h2>Patterns</h2>",
        f"<p>Statistics over a seeded subsample of {summary['patterns']['n_read']} stacks "
        f"(at most {summary['patterns']['max_samples']}), each pattern normalised to unit total intensity, "
        "log10-scaled and area-averaged to 64 x 64.</p>",
    ]
    if "patterns" in figs:
        parts.append(
            f"<p>Median dynamic range: {_fmt(summary['patterns'].get('dynamic_range_decades_median'), 1)} decades of intensity "
            "per pattern: a linear display shows the central disk alone, hence the log scaling.</p>"
        )
        parts.append(_img(figs["patterns"]))
    if "pca" in figs:
        parts += ["<h3>Principal components (incremental PCA)</h3>", _img(figs["pca"])]
    if fstats is not None and "features" in figs:
        fs = summary["features"]
        parts += [
            "<h2>Features</h2>",
            f"<p>{fs['n_features']} features over {fs['n_rows_analysed']} rows fall into "
            f"{fs['n_correlation_clusters']} clusters of |Spearman rho| >= 0.9 (average linkage).</p>",
            _img(figs["features"]),
        ]
    parts.append(f"<h2>Problems ({len(summary['problems'])})</h2>")
    if summary["problems"]:
        parts.append("<table><tr><th>file</th><th>sample</th><th>kind</th><th>reason</th></tr>")
        for p in summary["problems"][:500]:
            parts.append(
                f"<tr><td>{_fmt(p['file'])}</td><td>{_fmt(p['group'])}</td>"
                f"<td>{_fmt(p['kind'])}</td><td style='text-align:left'>{_fmt(p['reason'])}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>Every sample passed validation.</p>")
    parts.append("</body></html>")
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    os.replace(tmp, path)
