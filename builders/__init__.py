"""Dataset builders (``datasets.GeneratorBasedBuilder`` subclasses) and their Hub-ready export."""
