"""DCASE Challenge Task 2 (anomalous sound detection), 2020–2025, as libtrad dataset components.

``layout`` parses one year's raw folder and its file names, ``eval_lists`` reads the evaluation
ground truth (shipped in ``data/``), ``components`` holds the six export components
(``DCASE2020`` … ``DCASE2025``) and ``synth`` writes a small synthetic stand-in per year.
"""
