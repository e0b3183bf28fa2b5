"""The convert room: official checkpoints -> libtrad model folders (``libtrad convert echo``), and libtrad
models -> deployment formats (:mod:`libtrad.convert.onnx_export`, ``libtrad export onnx``).

A conversion reads a checkpoint into a model (the model family's own code, e.g.
:mod:`libtrad.models.echo.convert_echo_checkpoint`), then writes the folder a user loads with
``from_pretrained``: atomically and only where libtrad may (:mod:`libtrad.folders.outputs`), with its
card (:mod:`libtrad.cards`). It sits above ``models``, ``folders`` and ``cards``, which import none
of each other.
"""
