"""SIREN's fault-diagnosis components: CWRU and MAFAULDA (vibration), IIEE and IICA (sound), and the
corpora SIREN plans but never wrote loaders for: Paderborn (KAt), XJTU-SY, MFPT, Southeast
University (SEU) and JNU (vibration; XJTU-SY with each file's time to failure).

One module per corpus (``cwru``, ``mafaulda``, ``iiee``, ``iica``, ``paderborn``, ``xjtu_sy``, ``mfpt``,
``seu``, ``jnu``) holds it whole: its layout
(the publisher's folders and file names, how to read and check one file, what a row holds), its
``COMPONENT`` (a :class:`~libtrad.builders.fault.base.FaultComponent` over that layout: what differs
between corpora is data, the card text and the citation) and its synthetic stand-in. ``common``
holds what the layouts share (found/checked files, strict folder walking, the column sets);
``base`` turns a layout into a :class:`~libtrad.builders.export.DatasetComponent` and holds the
shared card text; ``synth`` drives the stand-ins over shared signal pieces; ``figure`` draws the
card's one-panel-per-class spectrogram; ``matfile`` reads MATLAB v5 files (Paderborn, MFPT) with
one-line errors naming the file and the missing variable.

To add a corpus: write ``builders/fault/<corpus>.py`` with its three parts (``LAYOUT``; ``COMPONENT =
FaultComponent("<corpus>", ...)``; ``plan_synthetic(scale)`` + ``write_synthetic(path, params, rng)``),
then add ``"<corpus>": "libtrad.builders.fault.<corpus>:COMPONENT"`` to SIREN's ``components`` in the registry.
"""
