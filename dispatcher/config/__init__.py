"""Configuration: YAML with locations, typed models, cross-checks."""

from .errors import ConfigError, ConfigIssue, Location
from .load import LoadedConfig, load_config
from .models import CampaignConfig, Config

__all__ = ["CampaignConfig", "Config", "ConfigError", "ConfigIssue", "LoadedConfig", "Location",
           "load_config"]
