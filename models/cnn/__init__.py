"""LiB-TRAD CNN (supervised baseline)."""
