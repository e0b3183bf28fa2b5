"""ECHO: band-split ViT foundation encoder for machine signals."""
