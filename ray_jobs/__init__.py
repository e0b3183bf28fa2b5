"""Ray jobs for cluster-scale embedding extraction and cross-validation (SIREN, LiB-TRAD, ARCH, X-ARES)."""
