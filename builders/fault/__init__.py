"""SIREN's fault-diagnosis components: CWRU and MAFAULDA (vibration), IIEE and IICA (sound).

One layout module per dataset (``cwru``, ``mafaulda``, ``iiee``, ``iica``) knows its publisher's
folders and file names, how to read and check one file and what a row holds; ``common`` holds
what they share (found/checked files, strict folder walking, the column sets); ``base`` turns a
layout into a :class:`~libtrad.builders.export.DatasetComponent`; ``components`` declares the
four components with their card text; ``synth`` writes the synthetic stand-ins; ``figure``
draws the card's one-panel-per-class spectrogram.
"""
