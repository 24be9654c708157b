"""Workflows: what a command runs end to end, and the only layer that writes run folders.

    runs.run_into_folder      the experiment into a run folder, unit by unit: a killed run continues
    runs.run_into_folders     several runs side by side (pairs, separators), each resumable, then a summary
    demo.run_demo             the main job: synthetic set (or your songs) → stems → features → Table 1
    demo.run_pairs            the paper's introductory experiment: binary tasks on class pairs
    predict.predict           classify new songs with a run's saved models

Imported on use by the CLI; nothing below this layer imports it.
"""
