"""tapegrad's ``nn``: neurons, layers, MLPs and the classic learning rules, on ``engine``."""
