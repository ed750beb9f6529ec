"""The campaign spec: everything a send needs, as one validated object (YAML or parameters).

Example YAML:

```yaml
campaign_id: spring-sale-2026
segment:
  sql_file: segments/spring_sale.sql      # under sql/, or `query:` inline, or `path:` a file
  connection: warehouse.duckdb            # DuckDB file (default), any SQLAlchemy URL,
                                          # block:<SqlAlchemyConnector name>
recipient_column: phone
default_region: DE
template: {name: spring_sale, language: en}
parameters:
  header: {type: image, column: image_url}
  body:
    - {type: text, column: first_name}
    - {type: text, value: "20%"}
  buttons:
    - {index: 0, sub_type: url, type: text, column: coupon}
arms: {mm: 0.9, cloud: 0.1}
product_policy: strict
activity_sharing: true
ttl_seconds: 86400
messages_per_second: 80
```
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import SpecError
from .input_files import read_text
from .models import PolicyField, ProductPolicy
from .settings import (
    DEFAULT_ARRIVAL_JITTER_SECONDS,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_MESSAGES_PER_SECOND,
    MAX_MESSAGES_PER_SECOND,
    MAX_SPEC_BYTES,
)
from .templates import validate_marketing_ttl

__all__ = [
    "ArmSplit",
    "CampaignSpec",
    "ParameterSpec",
    "SegmentSource",
    "SuppressionSpec",
    "TemplateParameters",
    "TemplateRef",
]

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)
_CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class SegmentSource(BaseModel):
    """Where the audience comes from: a query on a connection, or a Parquet/CSV file.

    Attributes:
        sql_file: A SQL file, relative to the project's `sql/` folder or absolute.
        query: An inline SQL query (instead of `sql_file`).
        path: A Parquet or CSV file (instead of a query).
        connection: DuckDB file path (default `warehouse.duckdb`), a SQLAlchemy URL, or
            `block:<name>` of a Prefect SqlAlchemyConnector block.
    """

    model_config = _STRICT
    sql_file: str | None = Field(default=None, description="SQL file under sql/ or absolute.")
    query: str | None = Field(default=None, description="Inline SQL query.")
    path: str | None = Field(default=None, description="Parquet or CSV file of the segment.")
    connection: str = Field(
        default="warehouse.duckdb",
        description="DuckDB file, SQLAlchemy URL, or block:<SqlAlchemyConnector name>.",
    )

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # A SQLAlchemy URL may hold the warehouse password: reprs (and so logs) show it masked.
        from .audience.sources import mask_url  # imports this module

        for name, value in super().__repr_args__():
            yield name, mask_url(value) if name == "connection" else value

    @model_validator(mode="after")
    def _one_source(self) -> SegmentSource:
        given = [name for name in ("sql_file", "query", "path") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of sql_file, query or path (got {given or 'none'})")
        if self.path and not self.path.lower().endswith((".parquet", ".csv", ".csv.gz")):
            raise ValueError(f"path must be a .parquet or .csv file (got {self.path!r})")
        return self


class TemplateRef(BaseModel):
    """The template to send."""

    model_config = _STRICT
    name: str = Field(min_length=1, description="Template name.")
    language: str = Field(min_length=2, description="Language code, e.g. en or en_US.")


ParameterKind = Literal["text", "currency", "date_time", "image", "video", "document"]


class ParameterSpec(BaseModel):
    """One template parameter, from a segment column or a constant.

    Attributes:
        type: text, currency, date_time, image, video or document.
        column: The segment column holding the value (amount for currency).
        value: A constant value instead of a column.
        currency: ISO 4217 code, for currency parameters.
        parameter_name: For templates with named parameters.
    """

    model_config = _STRICT
    type: ParameterKind
    column: str | None = None
    value: str | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    parameter_name: str | None = None

    @model_validator(mode="after")
    def _source(self) -> ParameterSpec:
        if (self.column is None) == (self.value is None):
            raise ValueError("give exactly one of column or value")
        if self.type == "currency" and self.currency is None:
            raise ValueError("a currency parameter needs its currency code")
        return self


class ButtonSpec(ParameterSpec):
    """A dynamic button parameter (URL suffix, coupon code, quick reply payload)."""

    index: int = Field(ge=0, le=9)
    sub_type: Literal["url", "quick_reply", "copy_code"] = "url"


class TemplateParameters(BaseModel):
    """How the template's components are filled, per component."""

    model_config = _STRICT
    header: ParameterSpec | None = None
    body: list[ParameterSpec] = Field(default_factory=list)
    buttons: list[ButtonSpec] = Field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """Every segment column the template reads."""
        specs = [self.header, *self.body, *self.buttons]
        return [spec.column for spec in specs if spec is not None and spec.column is not None]


class ArmSplit(BaseModel):
    """Share of recipients per arm; they add up to 1."""

    model_config = _STRICT
    mm: float = Field(default=1.0, ge=0, le=1, description="Share sent through the MM API.")
    cloud: float = Field(default=0.0, ge=0, le=1, description="Share sent through /messages.")

    @model_validator(mode="after")
    def _adds_up(self) -> ArmSplit:
        if abs(self.mm + self.cloud - 1.0) > 1e-9:
            raise ValueError(f"mm + cloud must be 1 (got {self.mm} + {self.cloud})")
        return self


class SuppressionSpec(BaseModel):
    """Who must not get this campaign.

    Attributes:
        events_dir: Landed events folder: latest `stop` preferences and earlier 131050
            failures suppress the recipient.
        list_path: A CSV or Parquet file of numbers to suppress (column `recipient` or the
            only column), a local path or an object store URL (`s3://...`).
        list_query: A query on the segment's connection returning numbers to suppress.
        user_limit_hours: Also suppress recipients that hit 131049 in the last N hours.
    """

    model_config = _STRICT
    events_dir: str | None = None
    list_path: str | None = None
    list_query: str | None = None
    user_limit_hours: int | None = Field(default=None, ge=1, le=24 * 30)


class CampaignSpec(BaseModel):
    """A campaign: audience, template, arms, throughput and outputs.

    Attributes:
        campaign_id: Letters, digits, `_.-`; keys the ledger and the arm hash.
        segment: Where the audience comes from.
        recipient_column: The column holding phone numbers.
        region_column: A column with each row's ISO country, for numbers written without a
            country code (blank rows fall back to `default_region`).
        default_region: ISO country for numbers written without a country code.
        template: The template to send.
        parameters: How template parameters are filled from segment columns.
        arms: MM / Cloud split.
        product_policy: STRICT or CLOUD_API_FALLBACK for MM sends.
        activity_sharing: `message_activity_sharing` on MM sends (None = the WABA's setting).
        ttl_seconds: The TTL the template must carry (None = keep the template's).
        allow_template_changes: May the flow change the template's TTL to `ttl_seconds`.
        messages_per_second: The account's throughput cap.
        max_in_flight: Most requests awaiting an answer.
        arrival_jitter_seconds: Bunching on the way to the API that pacing leaves room for
            (see `ClientConfig`); larger keeps the busiest second further below the cap.
        suppression: Who is excluded.
        dry_run: Everything except the HTTP calls.
    """

    model_config = _STRICT
    campaign_id: str
    segment: SegmentSource
    recipient_column: str = "phone"
    region_column: str | None = None
    default_region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    template: TemplateRef
    parameters: TemplateParameters = Field(default_factory=TemplateParameters)
    arms: ArmSplit = Field(default_factory=ArmSplit)
    product_policy: PolicyField = ProductPolicy.STRICT
    activity_sharing: bool | None = None
    ttl_seconds: int | None = None
    allow_template_changes: bool = False
    messages_per_second: Annotated[float, Field(gt=0, le=MAX_MESSAGES_PER_SECOND)] = (
        DEFAULT_MESSAGES_PER_SECOND
    )
    max_in_flight: Annotated[int, Field(ge=1, le=2000)] = DEFAULT_MAX_IN_FLIGHT
    arrival_jitter_seconds: Annotated[float, Field(ge=0, le=1)] = DEFAULT_ARRIVAL_JITTER_SECONDS
    suppression: SuppressionSpec = Field(default_factory=SuppressionSpec)
    dry_run: bool = False

    @field_validator("campaign_id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _CAMPAIGN_ID.match(value):
            raise ValueError("use 1-64 letters, digits, '_', '.' or '-', starting alphanumeric")
        return value

    @field_validator("ttl_seconds")
    @classmethod
    def _ttl_range(cls, value: int | None) -> int | None:
        return None if value is None else validate_marketing_ttl(value)

    @classmethod
    def from_yaml(cls, path: str | Path) -> CampaignSpec:
        """Load and validate a spec file.

        Raises:
            SpecError: a missing, empty, oversized (`MAX_SPEC_BYTES`) or non-UTF-8 file, bad
                YAML, duplicate keys, not a mapping, or invalid fields; one line naming the
                file and each bad field (and the line for YAML problems).
        """
        path = Path(path)
        text = read_text(path, what="campaign spec", max_bytes=MAX_SPEC_BYTES, error=SpecError)
        try:
            data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            problem = " ".join(str(exc.problem or exc.context or exc).split())
            raise SpecError(f"{path}: {where}not valid YAML ({problem})") from None
        except yaml.YAMLError as exc:
            raise SpecError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
        if data is None:
            raise SpecError(f"{path}: the campaign spec holds no fields")
        if not isinstance(data, dict):
            kind = type(data).__name__
            raise SpecError(f"{path}: a campaign spec must be a mapping of fields (got a {kind})")
        return cls.from_mapping(data, source=str(path))

    @classmethod
    def from_mapping(cls, data: dict[str, Any], source: str = "spec") -> CampaignSpec:
        """Validate a spec given as a mapping (flow parameters), with readable errors."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            # One line: pydantic's messages are single lines, but a value may hold new lines.
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or '(spec)'}: "
                + " ".join(error["msg"].split())
                for error in exc.errors()
            )
            raise SpecError(f"{source}: {problems}") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (instead of keeping the last one silently),
    field names that are not text, and aliases (a few `*name` lines can expand to billions of
    values: the "billion laughs" file)."""

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed", self.peek_event().start_mark
            )
        return super().compose_node(parent, index)


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, str):
            # `1: x` or `[a]: x` would reach pydantic as a field name that is not text.
            raise yaml.constructor.ConstructorError(
                None, None, f"field names are text (got {key!r})", key_node.start_mark
            )
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node)
    return mapping


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)
