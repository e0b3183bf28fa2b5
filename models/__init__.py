"""HF-compatible models (ECHO, LiB-TRAD attention auto-encoder, LiB-TRAD CNN).

Importing this package registers each model family with the transformers Auto classes.
"""

from libtrad.models import attention_ae as _attention_ae  # noqa: E402,F401  (registers LiB-TRAD AE)
from libtrad.models import cnn as _cnn  # noqa: E402,F401  (registers LiB-TRAD CNN)
from libtrad.models import echo as _echo  # noqa: E402,F401  (registers ECHO)
