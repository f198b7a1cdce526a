"""Typed settings filled from environment variables: the base every package's settings class builds on.

Each package that reads configuration declares one `EnvSettings` subclass next to its code
(`lake.config.LakeSettings`, `glue.settings.GlueSettings`, `pipelines.settings.PipelineSettings`,
`dagster_project.settings.DagsterSettings`, `report_app.settings.ReportSettings`); every variable the code
reads is a field of one of them, named after the variable (README, "Configuration", lists them all and
`tests/test_settings.py` keeps the list complete).

Rules shared by every class (pydantic-settings does the reading and the type checks):

- a variable that is unset or empty takes the field's default;
- surrounding blanks are stripped;
- a bad value is one `ConfigError` line naming the variable and the value
  (``CACHE_TTL_HOURS must be a number, got 'x'``), never a pydantic report;
- settings are frozen; ``settings.replace(lake_uri=...)`` is a validated copy.

Examples
--------
>>> LakeSettings.from_env().lake_uri                                   # doctest: +SKIP
'./lake'
>>> LakeSettings.from_env(lake_uri="s3://bucket/lake").deployment      # doctest: +SKIP
'aws'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lake.exceptions import InvalidArgumentValue

__all__ = ["ConfigError", "EnvSettings", "LakeSettings", "Settings", "env"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


_VARIABLE_NAMES: dict[type, tuple[str, ...]] = {}  # settings class → the variables it reads
_FROM_ENV: dict[tuple, Any] = {}  # (class, their values) → the frozen settings made from them


class ConfigError(InvalidArgumentValue):
    """An environment variable holds a value its setting cannot take (the message names both)."""


def env(variable: str, default: Any = None, *also: str, **constraints: Any) -> Any:
    """A settings field read from `variable` (then the older names `also`), with pydantic `constraints`."""
    return Field(
        default,
        validation_alias=AliasChoices(variable, *also) if also else variable,
        **constraints,
    )


_EXPECTED = {
    "float_parsing": "a number",
    "float_type": "a number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "int_type": "a whole number",
    "bool_parsing": "1 or 0 (true/false, yes/no, on/off)",
    "bool_type": "1 or 0 (true/false, yes/no, on/off)",
    "greater_than": "greater than {gt}",
    "greater_than_equal": "at least {ge}",
    "less_than": "less than {lt}",
    "less_than_equal": "at most {le}",
    "string_pattern_mismatch": "of the form {pattern}",
    "literal_error": "one of {expected}",
}


class EnvSettings(BaseSettings):
    """Base of the settings classes: environment variables → typed, validated, frozen values."""

    model_config = SettingsConfigDict(
        env_ignore_empty=True,
        frozen=True,
        populate_by_name=True,
        extra="forbid",
        str_strip_whitespace=True,
        case_sensitive=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @classmethod
    def variable_of(cls, field_name: str) -> str:
        """The environment variable a field is read from (its first name)."""
        alias = cls.model_fields[field_name].validation_alias
        if isinstance(alias, AliasChoices):
            alias = alias.choices[0]
        return str(alias) if alias else field_name.upper()

    @classmethod
    def variables(cls) -> dict[str, str]:
        """{variable: field name} of every variable the class reads (older names included)."""
        found: dict[str, str] = {}
        for name, info in cls.model_fields.items():
            alias = info.validation_alias
            choices = alias.choices if isinstance(alias, AliasChoices) else [alias or name.upper()]
            for choice in choices:
                found[str(choice)] = name
        return found

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """The settings from the process environment, `overrides` (field names, None ignored) taking
        precedence; a bad value raises one `ConfigError` line naming the variable and the value.

        Without overrides the result is reused while the class's variables keep their values: hot paths
        (a calendar lookup per ticker reads the universe setting) pay a dictionary lookup, not a
        pydantic validation (~1 ms)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        key = None
        if not given:
            names = _VARIABLE_NAMES.get(cls)
            if names is None:
                names = _VARIABLE_NAMES[cls] = tuple(cls.variables())
            key = (cls, tuple(os.environ.get(name) for name in names))
            cached = _FROM_ENV.get(key)
            if cached is not None:
                return cached
        try:
            settings = cls(**given)
        except ValidationError as exc:
            raise ConfigError(cls._one_line(exc)) from None
        if key is not None:
            if len(_FROM_ENV) >= 256:
                _FROM_ENV.clear()
            _FROM_ENV[key] = settings
        return settings

    @classmethod
    def from_mapping(cls, environ: Mapping[str, str]) -> Self:
        """The settings from `environ` instead of the process environment (empty values ignored)."""
        known = cls.variables()
        values = {k: v for k, v in environ.items() if k in known and str(v).strip()}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(cls._one_line(exc)) from None

    def replace(self, **changes: Any) -> Self:
        """A validated copy with `changes` (field names) applied."""
        values = self.model_dump(include=self.model_fields_set)  # derived values are derived again
        values.update(changes)
        try:
            return type(self).model_validate(values)
        except ValidationError as exc:
            raise ConfigError(self._one_line(exc)) from None

    @classmethod
    def _one_line(cls, exc: ValidationError) -> str:
        error = exc.errors(include_url=False)[0]
        loc = str(error["loc"][0]) if error["loc"] else ""
        variable = cls.variable_of(loc) if loc in cls.model_fields else (loc or cls.__name__)
        template = _EXPECTED.get(error["type"])
        if template is None:
            expected = error["msg"].removeprefix("Value error, ")
            return f"{variable} {expected}, got {error['input']!r}"
        ctx = {
            k: int(v) if isinstance(v, float) and v.is_integer() else v
            for k, v in (error.get("ctx") or {}).items()
        }
        expected = template.format(**ctx)
        return f"{variable} must be {expected}, got {error['input']!r}"


class LakeSettings(EnvSettings):
    """Where the lake is and how this deployment runs (read by `lake`, and by every layer above)."""

    lake_uri: str = env(
        "TICKERLAKE_LAKE_URI",
        "./lake",
        description="the lake: file:///abs/path, a path or s3://bucket/prefix",
    )
    deployment: Literal["local", "aws"] | None = env(
        "TICKERLAKE_DEPLOYMENT", None, description="local or aws; default from the lake URI"
    )
    log_level: Literal[LOG_LEVELS] = env(  # type: ignore[valid-type]
        "TICKERLAKE_LOG_LEVEL", "WARNING", description="what the tickerlake.* loggers write"
    )
    log_format: Literal["auto", "json", "text"] = env(
        "TICKERLAKE_LOG_FORMAT", "auto", description="json, text, or auto (json on AWS Lambda)"
    )
    alert_topic_arn: str | None = env(
        "TICKERLAKE_ALERT_SNS_TOPIC",
        None,
        "ALERTS_TOPIC_ARN",
        description="SNS topic the quarantine and quality alerts publish to",
    )

    @field_validator("deployment", "log_level", "log_format", mode="before")
    @classmethod
    def _folded(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return value.strip().upper() if value.strip().upper() in LOG_LEVELS else value.strip().lower()

    @field_validator("lake_uri")
    @classmethod
    def _lake_uri(cls, value: str) -> str:
        if not value:
            raise ValueError("must be file:///abs/path, a path or s3://bucket/prefix")
        return value

    @model_validator(mode="after")
    def _deployment_from_uri(self) -> Self:
        if self.deployment is None:
            object.__setattr__(self, "deployment", "aws" if self.lake_uri.startswith("s3://") else "local")
        return self


#: The name earlier code imports; `Settings.from_env().lake_uri` keeps working. The report bot's settings
#: (cache, PDF, LINE, OpenAI) moved to `report_app.settings.ReportSettings`.
Settings = LakeSettings
