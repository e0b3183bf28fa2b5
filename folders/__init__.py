"""The folders room: libtrad folders and where they live. It imports only :mod:`libtrad.core`.

* :mod:`.marker` — ``.libtrad.json``: how libtrad knows a folder is its own (the one reader);
* :mod:`.checksums` — the one checksum checker of the files a marker lists;
* :mod:`.outputs` — local output folders: checks, staging, the atomic replace; :mod:`.lock` one job per output;
* :mod:`.storage` — fsspec URLs and the object-store output protocol ``embed`` writes with;
* :mod:`.remote` — input folders at a URL, fetched once into libtrad's cache and read as local ones;
* :mod:`.hub` — a model folder named by a Hub id; :mod:`.hub_cache` — the Hub cache's snapshot links;
* :mod:`.publish` — upload a libtrad folder to the Hub; :mod:`.verify` — ``libtrad verify`` and the
  check every reader runs on its inputs (:mod:`.verify.inputs`);
* :mod:`.cli` — ``verify``, ``publish dataset|model`` and the option helpers over this room.

What a folder kind needs from a higher room (the model types libtrad renamed, for the model check) is
reached by name through :func:`libtrad.core.resolve.resolve`, never imported.
"""
