"""One module per map layer: Filters + Scope in, features + legend out."""
