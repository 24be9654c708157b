"""Results: statistics over trials, the tables and figures, the report page, and the run folder that holds them.

    statistics.summarize, compare    per-model summaries and model-vs-baseline tests over correlated trials:
                                     corrected resampled t, Holm, Bayesian correlated t (numpy/scipy)
    tables.table_rows                one row per model: the numbers of Table 1
    tables.reference_rows            the reference rows against the one on the baseline's maps (their own family)
    tables.table_markdown, table_csv Table 1 and the epoch-selection table as text
    figures.plot_f1_distributions    Figure 1; plot_forest, plot_learning_curves, plot_confusion, plot_feature_stacks
    ablation.ablation_markdown       which maps carry the genre: CNNs and reference rows by map set
    curve.curve_rows, plot_curve     the data-size curve: scores and differences by training songs
    html.report_html                 report.html: every table and figure in one self-contained page
    separators.separator_comparison  the same models on different separators' stems (or any runs), paired
    sweeps.sweep_markdown            a hyperparameter sweep's table by epoch
    run_folder.write_run, load_results, rebuild_report   the run folder, written atomically (v1 upgraded)
"""

from .run_folder import load_results, rebuild_report, write_run
from .statistics import compare, summarize
from .tables import table_rows

__all__ = ["compare", "load_results", "rebuild_report", "summarize", "table_rows", "write_run"]
