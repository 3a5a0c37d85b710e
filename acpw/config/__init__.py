"""The ``acpw:*`` stack configuration: typed models, defaults and validation.

Everything here runs before any resource is registered, so that bad input stops the
program with one clear message per problem, naming the config key and what is allowed.

- :mod:`acpw.config.base`: :class:`ConfigModel`, the one base of every model;
- :mod:`acpw.config.models` and :mod:`acpw.config.observability`: the pydantic models and their
  per-field rules (each field's docstring is its description);
- :mod:`acpw.config.checks`: :func:`validate`, running the list of rules across fields, which
  return problems and warnings (:func:`config_warnings` for the preview output);
- :mod:`acpw.config.loading`: :func:`load_config`, :func:`read_stack_config` and
  :func:`parse_raw_values`, which turn stack config into an :class:`AcpwConfig` or a
  :class:`ConfigError`;
- :mod:`acpw.config.errors`: :class:`ConfigError`, :class:`ConfigProblem`, :class:`ConfigWarning` and
  :func:`~acpw.config.errors.shown`, how messages quote a user's value;
- :mod:`acpw.config.yaml_loader`: :func:`load_yaml_file`, reading stack files without silently
  dropping duplicate keys.
"""

from acpw.config.checks import PUBLISHED_MODULE_REGION, Findings, config_warnings, validate
from acpw.config.errors import PROJECT, ConfigError, ConfigProblem, ConfigWarning, shown
from acpw.config.loading import (
    CONFIG_KEYS,
    STRING_KEYS,
    load_config,
    parse_raw_values,
    read_stack_config,
    secret_stack_keys,
)
from acpw.config.models import (
    DEFAULT_GATEWAY,
    NEWEST_KNOWN_MINOR,
    PUBLISHED_RECEIVER_VOLUME,
    PUBLISHED_SENDER,
    AcpwConfig,
    CloudWatchConfig,
    GatewayConfig,
    IamConfig,
    ImagesConfig,
    ReceiverConfig,
)
from acpw.config.observability import CostConfig, HeartbeatConfig, ObservabilityConfig
from acpw.config.yaml_loader import load_yaml, load_yaml_file

__all__ = [
    "CONFIG_KEYS",
    "DEFAULT_GATEWAY",
    "NEWEST_KNOWN_MINOR",
    "PROJECT",
    "PUBLISHED_MODULE_REGION",
    "PUBLISHED_RECEIVER_VOLUME",
    "PUBLISHED_SENDER",
    "STRING_KEYS",
    "AcpwConfig",
    "CloudWatchConfig",
    "ConfigError",
    "ConfigProblem",
    "ConfigWarning",
    "CostConfig",
    "Findings",
    "GatewayConfig",
    "HeartbeatConfig",
    "IamConfig",
    "ImagesConfig",
    "ObservabilityConfig",
    "ReceiverConfig",
    "config_warnings",
    "load_config",
    "load_yaml",
    "load_yaml_file",
    "parse_raw_values",
    "read_stack_config",
    "secret_stack_keys",
    "shown",
    "validate",
]
