"""Deep checks of a declaration: everything ``ingest`` would otherwise find out half-way.

``load_datanet`` checks shapes and types. These check what only the
libraries can say, and each problem names the YAML key:

* ``pii_problems``: every ``pii.entities`` name and ``pii.operators`` key
  is an entity a loaded recognizer supports, in ``pii.language``; the spaCy
  model is installed (``deep=True`` loads it and builds the engines); with
  ``pii.name_recognizer`` the name gazetteer is built (once per machine) so
  no worker has to;
* ``expectation_problems``: every expectation builds from its kwargs and
  runs on a one-row frame of the schema's columns without raising;
* ``runner_problems``: the runner resolves and every runner option is a
  known Beam pipeline option that parses;
* ``source_problems`` (``pipelines.driver.sources``): no source can read a
  Datanet's outputs or keys back, now or once a run has written them;
* ``schema_problems``: no schema field is named like a column the writers add;
* ``key_problems``: the signing key is for this Datanet's origin, and no
  other declaration shares its keys or origin unless both opt in.

``datanet check`` runs all of them with ``deep=True``; ``ingest`` runs them
with ``deep=False`` (no spaCy load on the driver) before planning.
``schema_warnings`` lists what is legal but probably a mistake.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from ledger import checkpoint as ckpt
from pipelines.core import keys
from pipelines.core.config import Datanet, neighbours
from pipelines.core.errors import BadInput
from pipelines.driver.sources import source_problems


class CheckError(BadInput):
    """A declaration is well-formed but cannot run; the message lists every problem, by key."""


def _registry_entities(language: str, extra: bool) -> set[str]:
    import logging

    from presidio_analyzer import RecognizerRegistry

    from pipelines.stages.anonymise.engines import extra_recognizers

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)  # it warns of every other language's recognizer
    registry = RecognizerRegistry(supported_languages=[language])
    registry.load_predefined_recognizers(languages=[language])
    found = set(registry.get_supported_entities([language]))
    if extra:
        found |= {e for r in extra_recognizers(language) for e in r.supported_entities}
    return found


def _model_language(model: str) -> str | None:
    """The language in an installed spaCy model's meta.json, read without loading the model."""
    import json

    spec = importlib.util.find_spec(model)
    if spec is None or not spec.submodule_search_locations:
        return None
    from pathlib import Path

    for folder in spec.submodule_search_locations:
        for meta in sorted(Path(folder).glob("**/meta.json")):
            lang = json.loads(meta.read_text(encoding="utf-8")).get("lang")
            return str(lang) if lang else None
    return None


def pii_problems(dn: Datanet, deep: bool = False) -> list[str]:
    """pii_problems checks entity names, operator keys, language and model against what Presidio loads."""
    cfg = dn.config.pii
    if not cfg.enabled:
        return []
    problems: list[str] = []
    lang = _model_language(cfg.spacy_model)
    if lang is not None and lang != cfg.language:
        problems.append(f"pii.language: {cfg.language!r}, but spaCy model {cfg.spacy_model!r} is for {lang!r}")
    if importlib.util.find_spec(cfg.spacy_model) is None:
        problems.append(
            f"pii.spacy_model: {cfg.spacy_model!r} is not installed (pip install it; it is never downloaded)"
        )
    known = _registry_entities(cfg.language, cfg.extra_recognizers)
    if not known:
        problems.append(f"pii.language: no Presidio recognizer supports {cfg.language!r}")
    for i, name in enumerate(cfg.entities):
        if known and name not in known:
            problems.append(f"pii.entities.{i}: unknown entity {name!r} (known: {', '.join(sorted(known))})")
    for key in cfg.operators:
        if key != "DEFAULT" and key not in cfg.entities:
            problems.append(f"pii.operators.{key}: {key!r} is not one of pii.entities")
    if cfg.name_recognizer and "PERSON" in cfg.entities:
        from pipelines.stages.anonymise.names import GazetteerError, ensure_gazetteer, load_gazetteer

        try:
            ensure_gazetteer(progress=lambda line: print(line, file=sys.stderr, flush=True))
            load_gazetteer()  # built here, once, before any worker needs it
        except (GazetteerError, OSError) as exc:
            problems.append(f"pii.name_recognizer: {exc} (or say name_recognizer: false)")
    if deep and not problems:
        from pipelines.stages.anonymise.engines import PIIEngineError, build_engines

        try:
            eng = build_engines(cfg, b"check")
            loaded = set(eng.batch.analyzer_engine.get_supported_entities(cfg.language))
        except (PIIEngineError, ValueError, OSError) as exc:
            return [f"pii: the engines do not build: {exc}"]
        problems += [
            f"pii.entities.{i}: no loaded recognizer finds {n!r}" for i, n in enumerate(cfg.entities) if n not in loaded
        ]
    return problems


def _sample_frame(dn: Datanet) -> Any:
    import pandas as pd

    sample = {"string": "A sample value of ten words or so, for the check.", "integer": 1, "boolean": True}
    row = {f.name: sample[f.type] for f in dn.schema.fields}
    row |= {"contributor_id": "c-check", "submitted_at": "2026-01-01T00:00:00Z"}
    return pd.DataFrame([row])


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors())
        except Exception:
            pass
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def expectation_problems(dn: Datanet) -> list[str]:
    """expectation_problems builds each expectation from its kwargs and runs it once on a one-row frame."""
    from pipelines.stages.validate import Validator, expectation_class

    problems: list[str] = []
    good = []
    for i, spec in enumerate(dn.config.validation.expectations):
        try:
            cls = expectation_class(spec.type)
        except KeyError:
            problems.append(f"validation.expectations.{i}.type: unknown expectation {spec.type!r}")
            continue
        try:
            cls(**spec.kwargs)
            good.append((i, spec))
        except Exception as exc:  # GX raises pydantic and its own errors for bad kwargs
            problems.append(f"validation.expectations.{i}: {spec.type} does not build: {_first_error(exc)}")
    if not good:
        return problems
    validator = Validator([spec for _, spec in good])
    batch = validator.batch_definition.get_batch(batch_parameters={"dataframe": _sample_frame(dn)})
    for (i, spec), exp in zip(good, validator.expectations, strict=True):
        try:
            result = batch.validate(exp, result_format="COMPLETE")
        except Exception as exc:
            problems.append(f"validation.expectations.{i}: {spec.type} fails on a sample row: {_first_error(exc)}")
            continue
        infos = [result.exception_info or {}]
        infos += [v for v in infos[0].values() if isinstance(v, dict)]
        raised = [x for x in infos if x.get("raised_exception")]
        if raised:
            msg = str(raised[0].get("exception_message") or "an exception").splitlines()[0]
            problems.append(f"validation.expectations.{i}: {spec.type} raises on a sample row: {msg}")
    return problems


def _beam_option_names() -> set[str]:
    """Every option name Beam's parsers accept (flags such as ``dask_client_address`` and their dests)."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False)  # what PipelineOptions.get_all_options builds
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)
    flags = {s.lstrip("-") for s in parser._option_string_actions}
    return flags | {a.dest for a in parser._actions}


def runner_problems(dn: Datanet, overrides: dict[str, Any] | None = None) -> list[str]:
    """runner_problems resolves the runner and checks every option against Beam's option parsers."""
    from apache_beam.runners.runner import create_runner

    from pipelines.stages.pipeline import pipeline_options, runner_name

    problems: list[str] = []
    name = runner_name(dn, overrides)
    try:
        create_runner(name)
    except (ValueError, ImportError) as exc:
        problems.append(f"runner.runner: {name!r} is not a Beam runner here: {str(exc).splitlines()[0]}")
    given = {**dn.config.runner.options, **{k: v for k, v in (overrides or {}).items() if k != "runner"}}
    try:
        import apache_beam.runners.dask.dask_runner  # noqa: F401 - registers the dask_* options

        import pipelines.stages.dask_partitions  # noqa: F401 - registers dask_shuffle_partitions
    except ImportError:
        pass
    known = _beam_option_names()
    for key in sorted(given):
        if key not in known:
            problems.append(f"runner.options.{key}: not a Beam pipeline option")
    if not problems:
        try:
            pipeline_options(dn, overrides).get_all_options()
        except SystemExit:
            problems.append("runner.options: a value does not parse (Beam printed which above)")
    return problems


def reserved_columns() -> dict[str, list[str]]:
    """reserved_columns maps each column the writers add to the outputs that hold it (shards, duplicates, ...).

    Read off the writers' own Arrow layouts, so a column is reserved the
    day a writer adds it; a schema field of that name (in any letter case:
    DuckDB's views do not tell ``PII`` from ``pii``) would collide with it.
    """
    from pipelines.core.config import SchemaConfig
    from pipelines.core.layouts import CONTRIBUTORS_SCHEMA, DUPLICATES_SCHEMA, QUARANTINE_SCHEMA, shard_schema
    from pipelines.stages.dedup.state import STATE_SCHEMA

    probe = SchemaConfig.model_validate({"name": "probe", "fields": [{"name": "text", "text": True}]})
    layouts = {
        "shards": shard_schema(probe).names[len(probe.fields) :],
        "duplicates": DUPLICATES_SCHEMA.names,
        "quarantine": QUARANTINE_SCHEMA.names,
        "state": STATE_SCHEMA.names,
        "contributors": CONTRIBUTORS_SCHEMA.names,
    }
    out: dict[str, list[str]] = {}
    for where, names in layouts.items():
        for name in names:
            out.setdefault(name, []).append(where)
    return out


def schema_problems(dn: Datanet) -> list[str]:
    """schema_problems names, by schema file and field, each field named like a column the writers add."""
    reserved = {name.casefold(): (name, where) for name, where in reserved_columns().items()}
    problems = []
    for i, field in enumerate(dn.schema.fields):
        hit = reserved.get(field.name.casefold())
        if hit:
            case = "" if hit[0] == field.name else f" as {hit[0]!r}"
            problems.append(
                f"{dn.config.schema_}: fields.{i}.name: {field.name!r} is a column the writers add"
                f" ({', '.join(hit[1])}{case}); rename the field"
            )
    return problems


def key_problems(dn: Datanet) -> list[str]:
    """key_problems: the key file signs for this origin, and no other declaration shares keys or origin by accident.

    See ``keys.key_problems``; the others are every declaration beside ``dn`` that parses.
    """
    return keys.key_problems(dn, neighbours(dn)[0])


def check_runnable(dn: Datanet, overrides: dict[str, Any] | None = None, deep: bool = False) -> None:
    """check_runnable raises CheckError listing every problem the deep checks find, by YAML key."""
    problems = source_problems(dn) + schema_problems(dn) + key_problems(dn)
    problems += pii_problems(dn, deep) + expectation_problems(dn) + runner_problems(dn, overrides)
    if problems:
        raise CheckError("\n".join([f"{dn.path}: cannot run", *(f"  {dn.path}: {p}" for p in problems)]))


def schema_warnings(dn: Datanet) -> list[str]:
    """schema_warnings lists legal but risky choices: string fields that nothing scrubs, a code profile without
    code fields (its code would be scrubbed as prose, identifiers and all)."""
    if not dn.config.pii.enabled:
        return []
    out = [
        f"{dn.config.schema_}: field {name!r} is a string that is neither text nor marked pii: true/false;"
        " nothing scrubs it (say pii: false if it can hold no personal data)"
        for name in dn.schema.unmarked_strings
    ]
    if dn.config.pii.profile == "code" and not dn.schema.code_fields:
        out.append(
            f"{dn.config.schema_}: pii.profile is code but no field is marked code: true;"
            " every text field is scrubbed as prose (mark the fields that hold source code)"
        )
    return out


def key_warnings(dn: Datanet) -> list[str]:
    """key_warnings says when published runs exist but the keys here are missing or not the ones they used.

    The signing key, dedup salt and contributor key are what make a Datanet
    reproducible: new ones would sign under a key ``verify`` does not know,
    stop earlier content from matching as duplicates and give returning
    contributors new pseudonyms. Reads the signing key's public half and the
    salt's fingerprint, never prints a secret.
    """
    from pipelines.core.keys import read_salt, salt_file, salt_fingerprint, secret_files
    from pipelines.core.registry import committed_runs
    from pipelines.stages.dedup.state import read_params

    runs = committed_runs(dn)
    if not runs:
        return []
    restore = f"restore them from your backup with `datanet keys {dn.name} --import FILE` before any run"
    missing = [dn.shown(p) for p in secret_files(dn) if not p.exists()]
    if missing:
        return [f"ledger.key: {len(runs)} run(s) are published but {', '.join(missing)} missing: {restore}"]
    out = []
    vkey = dn.ledger_dir / "vkey"
    if vkey.exists() and ckpt.load_signer(dn.key_path).verifier_key() != vkey.read_text().strip():
        out.append(f"ledger.key: {dn.shown(dn.key_path)} is not the key that signed the published runs; {restore}")
    states = sorted((dn.out_dir / "state" / runs[-1]["run_id"]).glob("*.parquet"))
    params = read_params(str(states[0])) if states else None
    if params and params.get("salt") not in (None, salt_fingerprint(read_salt(str(salt_file(dn))))):
        out.append(f"ledger.key: the dedup salt beside it is not the one the published runs used; {restore}")
    return out
