"""Results: statistics over trials, Table 1 and Figure 1, and the run folder that holds them.

    statistics.summarize, compare    per-model summaries and model-vs-baseline tests over trials (numpy/scipy)
    tables.table_rows                one row per model: the numbers of Table 1
    tables.table_markdown, table_csv Table 1 as text
    figures.plot_f1_distributions    Figure 1
    run_folder.write_run, load_results, rebuild_report   the run folder, written atomically
"""

from .run_folder import load_results, rebuild_report, write_run
from .statistics import compare, summarize
from .tables import table_rows

__all__ = ["compare", "load_results", "rebuild_report", "summarize", "table_rows", "write_run"]
