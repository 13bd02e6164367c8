"""Configuration: YAML with locations, typed models, cross-checks."""

from dispatcher.config.errors import ConfigError, ConfigIssue, Location
from dispatcher.config.load import LoadedConfig, load_config
from dispatcher.config.models import CampaignConfig, Config

__all__ = ["CampaignConfig", "Config", "ConfigError", "ConfigIssue", "LoadedConfig", "Location",
           "load_config"]
