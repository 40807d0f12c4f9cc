"""Shared types every layer stands on: config models, paths, keys, records, reasons, layouts, file I/O.

Nothing here imports a stage, the driver, a downstream job or the CLI, and
nothing here imports Apache Beam at module level (``fs`` loads Beam's
FileSystems only for a path with a scheme such as ``gs://``).
"""
