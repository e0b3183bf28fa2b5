"""Dataset and model cards: templates under ``templates/`` and the code that renders them."""
