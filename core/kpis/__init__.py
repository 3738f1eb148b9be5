"""Domain figures for the role pages: pure functions over polars frames, one module per page or theme."""
