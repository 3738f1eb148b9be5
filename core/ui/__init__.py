"""Everything that draws: page chrome, login screens, Altair chart builders, the widget registry, formatting.

The only part of core/ that may import streamlit; it may import any other core package, none imports it.
"""
