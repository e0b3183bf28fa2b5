"""Embedding extraction: ``libtrad embed`` and ``libtrad check-encoder``.

* :mod:`.embed` — the driver: output checks, resumable staging, the Ray actor pool, the folder.
* :mod:`.source` — which dataset shards (local folder or Hub id) are embedded.
* :mod:`.units` — (shard, row range) units and the actor that embeds one.
* :mod:`.encoders` — the encoder contract and one module per encoder kind behind one registry.
* :mod:`.check_encoder` — the contract checker.
* :mod:`.embeddings_input` — reading an embeddings folder back (what the evaluation suites take).
"""
