"""Running stage commands: one small protocol (`base`), one module per backend (`local`, ...)."""
