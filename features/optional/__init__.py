"""Optional model sets, not built unless their folder is added to ``[paths] python_models``."""
