"""Command-line tools over the store: ``python -m core.cli stats show|summary|report`` (docs/migration.md) and
``python -m core.cli report --type … --format html|pdf --out FILE`` (docs/reports.md).

For the single-user case the Migration page's figures are also a terminal table, JSON and a static
HTML report. The commands read the store and call the same domain functions as the pages; they never
write to the store or create one, except that `report` records what it generated in the report history. May
import any domain package (store, query, programmes, reports, config,
model); never core.ui or streamlit.
"""
