"""MIMII (Hitachi, Purohit et al. 2019): fan, pump, slider and valve sounds from an 8-microphone array.

A dataset family of its own (``libtrad synth|build mimii``), not a SIREN component: SIREN's
benchmark uses MIMII only through DCASE 2020 Task 2's single-channel clips, while this corpus
keeps all eight microphones and its three signal-to-noise ratios.

``layout`` walks the publisher's tree and says what each path means, ``protocol`` holds the
MIMII paper's per-machine train/test split, ``component`` validates the clips and exports them
(the export driver of :mod:`libtrad.builders.export`), ``synth`` writes a synthetic stand-in in
the same layout.
"""
