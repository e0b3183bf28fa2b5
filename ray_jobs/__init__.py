"""Ray jobs for cluster-scale embedding extraction and cross-validation (SIREN, LiB-TRAD, ARCH, X-ARES),
and the protocols they run: LiB-TRAD training and evaluation (``lib_trad_*``) beside pure metric
functions used in-process and on Ray alike. Models themselves live in ``libtrad.models``."""
