"""Config for link tracking: tracked links, UTM tags, opens (dispatcher/tracking).

    tracking:                      # top level: how clicks are served and counted
      base_url: https://k.example  # base of /c/ and /o/ links (default: shop.public_url)
      flush_interval: 1s           # clicks are written in batches at least this often
      burst_window: 30s            # every link of a message clicked this soon: a scanner
    campaigns:
      win_back:
        track_clicks: true         # default: on for marketing, off for transactional
        track_opens: false         # email open pixel (unreliable; never a verdict)
        utm: {source: newsletter}  # or `utm: false`; medium/campaign/content default
                                   # to the channel, the campaign and the A/B variant
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from channels.durations import Duration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


_UTM_VALUE = r"^[A-Za-z0-9._~+-]{1,100}$"


class Utm(_Strict):
    """UTM tags appended to links to the shop's own origin (never to other hosts)."""

    enabled: bool = True
    source: str = Field(default="dispatcher", pattern=_UTM_VALUE)
    medium: str | None = Field(default=None, pattern=_UTM_VALUE)  # None: the channel
    campaign: str | None = Field(default=None, pattern=_UTM_VALUE)  # None: campaign name
    content: str | None = Field(default=None, pattern=_UTM_VALUE)  # None: the A/B variant


def _utm(value: Any) -> Any:
    # `utm: false` switches tagging off, `utm: true` keeps the defaults.
    return {"enabled": value} if isinstance(value, bool) else value


UtmSpec = Annotated[Utm, BeforeValidator(_utm)]


class TrackingConfig(_Strict):
    # Base of tracked links; a short domain proxied to the daemon keeps SMS short.
    base_url: str | None = None
    flush_interval: Duration = timedelta(seconds=1)
    burst_window: Duration = timedelta(seconds=30)

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError(f"base_url must start with https:// (got {value!r})")
        return value.rstrip("/") if value else value

    @field_validator("flush_interval", "burst_window")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value
