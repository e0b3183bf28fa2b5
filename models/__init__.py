"""HF-compatible models (ECHO, LiB-TRAD attention auto-encoder, LiB-TRAD CNN), and only models:
training and evaluation protocols live in ``libtrad.ray_jobs``. ``model_types`` is the one map
from ``model_type`` to Auto class; ``mahalanobis`` is the anomaly scorer shared with the
embedding suites.

Each family registers itself with the transformers Auto classes when its package is imported;
``import libtrad`` arranges for all of them to be imported together with transformers (see
:func:`libtrad.models.auto_registration.register_on_transformers_import`). Importing this package
alone (e.g. for ``frontend``) does not import transformers.
"""
