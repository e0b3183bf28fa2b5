"""LiB-TRAD attention auto-encoder with Mahalanobis scoring."""
