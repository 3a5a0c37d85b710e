"""The ``acpw:*`` stack configuration: typed models, defaults and validation.

Everything here runs before any resource is registered, so that bad input stops the
program with one clear message per problem, naming the config key and what is allowed.

- :mod:`acpw.config.models`: the pydantic models and their per-field rules;
- :mod:`acpw.config.checks`: the rules across fields, and the per-version warnings;
- :mod:`acpw.config.loading`: :func:`load_config`, :func:`read_stack_config` and
  :func:`parse_raw_values`, which turn stack config into an :class:`AcpwConfig` or a
  :class:`ConfigError`;
- :mod:`acpw.config.errors`: :class:`ConfigError`, the typed cross-field error, and
  :func:`~acpw.config.errors.shown`, how messages quote a user's value;
- :mod:`acpw.config.yaml_loader`: :func:`load_yaml_file`, reading stack files without silently
  dropping duplicate keys.
"""

from acpw.config.checks import PUBLISHED_MODULE_REGION
from acpw.config.errors import PROJECT, ConfigError, ConfigProblem, shown
from acpw.config.loading import (
    CONFIG_KEYS,
    STRING_KEYS,
    load_config,
    parse_raw_values,
    read_stack_config,
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
)
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
    "GatewayConfig",
    "IamConfig",
    "ImagesConfig",
    "load_config",
    "load_yaml",
    "load_yaml_file",
    "parse_raw_values",
    "read_stack_config",
    "shown",
]
