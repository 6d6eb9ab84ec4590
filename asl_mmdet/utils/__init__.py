"""Helpers with no import of the rest of the package: the runner set-up of the tools, the
mmpretrain / transformers >= 5 workaround, and the one Markdown table writer."""
