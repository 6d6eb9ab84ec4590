"""Helpers with no import of the rest of the package: the runner set-up of the tools, the
mmpretrain / transformers >= 5 workaround, the one Markdown table writer, and :mod:`.compat`,
the one module that asks which torch and Triton are installed."""
