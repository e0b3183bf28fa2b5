"""HF-compatible models (ECHO, LiB-TRAD attention auto-encoder, LiB-TRAD CNN).

Importing this package registers each model family with the transformers Auto classes.
"""
