"""The listening test of chapter 08: MOS and MUSHRA, blinded, in ipywidgets, resumable.

A metric such as FAD compares distributions of embeddings; a listening test asks people. This
module is the test's entry point: it gathers the public names of the modules that run one from
start to end, so ``from coursekit.eval import listening as lt`` reaches all of them.

1. **Build** a test from folders of samples, one folder a system:
   :mod:`~coursekit.eval.listening_trials` (:func:`build_test`, :func:`load_test`,
   :class:`ListeningTest`; items, loudness-aligned stimuli, the low anchor, the blinding key).
   Two protocols: ``'mos'`` (ITU-T P.800 absolute category rating, 1 to 5) and ``'mushra'``
   (ITU-R BS.1534: 0 to 100 against a reference, with a hidden reference and a low anchor).

2. **Run** it: :mod:`~coursekit.eval.listening_app` (:class:`ListeningApp`, the ipywidgets
   interface; each participant gets their own seeded order, the page shows letters and audio,
   never a system's name) appends every answer at once to the results file of
   :mod:`~coursekit.eval.listening_store` (:func:`append_record`, :func:`read_records`,
   :func:`open_results`, :func:`answered_trials`), so a killed kernel loses nothing and a
   participant who comes back resumes at the first unanswered trial.
   :mod:`~coursekit.eval.listening_serve` (:func:`serve`) puts the test on a Voila page for
   remote raters, who only need a browser. :mod:`~coursekit.eval.listening_sim`
   (:func:`simulate_raters`, :func:`make_standins`, :func:`fad_per_system`) answers through the
   same widgets and makes stand-in systems, for tests and the smoke profile.

3. **Analyse** the results files (several participants, several files merge):
   :mod:`~coursekit.eval.listening_analysis` (:func:`load_results`, :func:`mos_table`,
   :func:`friedman`, :func:`pairwise_wilcoxon`, :func:`screen_mushra`, :func:`rank_correlation`,
   :func:`plot_ratings`, :func:`plot_fad_vs_rating`, and :func:`analyse` / :func:`format_report`
   for everything at once), on the statistics of :mod:`~coursekit.eval.listening_stats`.

``python -m coursekit listening serve|analyse`` runs :func:`cli_serve` and :func:`cli_analyse`.

Example
-------
>>> from coursekit.eval import listening as lt
>>> test = lt.build_test({"a": "samples/rnn", "b": "samples/gan"},
...                      "runs/ch08/test")                               # doctest: +SKIP
>>> lt.ListeningApp(test, "runs/ch08/results.jsonl")  # in a notebook: rate  # doctest: +SKIP
>>> lt.simulate_raters(test, 10, {"a": 0.7, "b": 0.4},
...                    results="runs/ch08/sim.jsonl")                     # doctest: +SKIP
>>> print(lt.format_report(lt.analyse("runs/ch08/sim.jsonl")))          # doctest: +SKIP
"""

from __future__ import annotations

from .listening_analysis import (Results, analyse, cli_analyse, format_report, friedman,
                                 load_results, mos_table, pairwise_wilcoxon, plot_fad_vs_rating,
                                 plot_ratings, rank_correlation, read_fad, screen_mushra)
from .listening_app import ListeningApp, widget_strings
from .listening_serve import (APP_NOTEBOOK, CONFIG_ENV, app_from_config, cli_serve, serve,
                              write_config)
from .listening_sim import STANDINS, fad_per_system, make_standins, simulate_raters
from .listening_store import (RESULTS_FORMAT, answered_trials, append_record, open_results,
                              read_records)
from .listening_trials import (ANCHOR_CUTOFF_HZ, AUDIO_EXTENSIONS, FORMAT_VERSION, MOS_LABELS,
                               MUSHRA_LABELS, PROTOCOLS, RESERVED, TEST_FORMAT, ListeningTest,
                               TestFolderTaken, build_test, list_samples, load_test, low_anchor,
                               match_items, prepare_stimulus, wav_bytes)

__all__ = [
    "PROTOCOLS", "MOS_LABELS", "MUSHRA_LABELS", "ANCHOR_CUTOFF_HZ", "CONFIG_ENV",
    "RESERVED", "TEST_FORMAT", "RESULTS_FORMAT", "FORMAT_VERSION", "AUDIO_EXTENSIONS",
    "APP_NOTEBOOK",
    "list_samples", "match_items", "prepare_stimulus", "low_anchor", "wav_bytes",
    "build_test", "load_test", "ListeningTest", "TestFolderTaken",
    "append_record", "read_records", "open_results", "answered_trials",
    "ListeningApp", "simulate_raters", "app_from_config", "write_config", "serve",
    "make_standins", "STANDINS", "fad_per_system",
    "Results", "load_results", "mos_table", "friedman", "pairwise_wilcoxon", "screen_mushra",
    "rank_correlation", "analyse", "format_report", "plot_ratings", "plot_fad_vs_rating",
    "read_fad", "widget_strings", "cli_serve", "cli_analyse",
]
