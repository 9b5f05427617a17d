"""The integration hub: connector specs, runtime, auth, resilience and callbacks.

Spec side: ``spec`` (models, loading with located problems, JSON Schema, action params and
permissions; models by section in ``spec_models/``, cross-field checks in ``spec_checks``,
YAML line numbers in ``spec_yaml``), ``templating`` (``{{ expr }}`` request templates),
``mapping`` and ``coercion`` (response select + field mapping), ``canonical`` (the
canonical output shapes). Decision record: docs/decisions/0005-mapping-language.md.
"""
