"""Presentation: how the worker's output looks — the HTML mail document model and its renderer,
the charts drawn into mails, and how the generated tabs are formatted (tab_formats). Pure (no
I/O); the domain decides what to say, this decides how it looks."""
