"""DCASE Challenge Task 2 (anomalous sound detection), 2020–2026, as libtrad dataset components.

``years`` holds each year's machine types, sections and channels (2026: two, near and far),
``layout`` parses one year's raw folder and its file names, ``eval_lists`` reads the evaluation
ground truth (shipped in ``data/`` for 2020–2025), ``clips`` scans a folder into labelled,
validated clips, ``components`` holds the seven export components (``DCASE2020`` … ``DCASE2026``),
``publications`` the organisers' records and papers, and ``synth`` writes a small synthetic
stand-in per year.
"""
