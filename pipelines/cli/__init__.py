"""The ``datanet`` command line (``main``), with ``payable``, ``attribution`` and ``pii`` command groups."""
