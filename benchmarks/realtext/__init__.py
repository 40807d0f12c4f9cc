"""PII precision on real text of this machine: our stage beside stock Presidio, on text tuned on or held out.

``corpus`` draws PII-free units (standard-library code and docstrings,
licence paragraphs) from the ``tuned``, ``heldout`` or ``all`` split, where
every entity found is a false redaction; ``stanzas`` labels Debian
copyright stanzas with gold PERSON and EMAIL_ADDRESS spans; ``measure``
runs three columns over both, (a) stock Presidio, (b) ours with the same
entities, (c) ours with the curator's profiles, and ``scoring`` scores
them; ``diffs`` cuts before/after excerpts and ``report`` prints it all as
Markdown. ``python -m benchmarks.realtext`` runs it; ``datanet bench``
includes it.
"""
