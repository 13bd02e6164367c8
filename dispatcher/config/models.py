"""Typed configuration. Unknown keys are errors (``extra="forbid"``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from channels.durations import Duration, PositiveDuration, Rate  # noqa: F401 - Rate re-exported
from dispatcher.clock import local_to_utc
from dispatcher.config.experiment import Share, VariantConfig
from dispatcher.config.mechanics import (
    Deadline,
    LoyaltyConfig,
    PromoConfig,
    StepConfig,
    TriggerConfig,
    When,
    check_campaign,
)
from dispatcher.config.names import CampaignName, TemplateFolder
from dispatcher.config.policy_models import BouncesConfig, CapsConfig, CapSpec, QuietHoursConfig
from dispatcher.config.tracking import TrackingConfig, Utm, UtmSpec


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _validate_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name like Europe/Kyiv)"
        ) from None
    return name


TimeZoneName = Annotated[str, BeforeValidator(_validate_timezone)]


def _validate_locale(name: Any) -> str:
    from dispatcher.i18n import known_locale

    found = known_locale(str(name))
    if found is None:
        raise ValueError(f"unknown locale {name!r} (use a language code like en or uk)")
    return found




class ShopConfig(Strict):
    name: str = "Our shop"
    url: str = "https://shop.example"
    # Base URL of the dispatcher's own web app, used for unsubscribe and preference links.
    public_url: str = "http://localhost:8080"
    # Language of the templates outside a locale folder: their plural forms and amounts.
    locale: Annotated[str, BeforeValidator(_validate_locale)] = "en"


class DatabaseConfig(Strict):
    url: str = "sqlite:///dispatcher.db"
    echo: bool = False


class DaemonConfig(Strict):
    """How ``dispatcher run`` serves HTTP and drains the outbox."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # How often the sender looks for rows that became due (retries, quiet hours).
    poll_interval: PositiveDuration = timedelta(seconds=2)
    # A worker's claim on outbox rows; renewed while it lives, recovered after it dies.
    lease: PositiveDuration = timedelta(minutes=5)
    # Rows marked started ahead of the ones being sent (unset: as many as the workers).
    # They hide the database's commit latency; after a crash each may be 'uncertain'.
    start_ahead: int | None = Field(default=None, ge=0, le=10000)
    # SIGTERM waits this long for in-flight sends before exiting anyway.
    shutdown_timeout: Duration = timedelta(seconds=30)


class CampaignConfig(Strict):
    description: str = ""
    segment: str
    channels: list[str] = Field(default_factory=lambda: ["email"], min_length=1)
    template: TemplateFolder | None = None  # folder under templates/; default: the name
    schedule: str | None = None  # cron, in the config's timezone
    grace: Duration = timedelta(hours=1)
    once_per: str = "customer"
    topic: str = "offers"
    kind: Literal["marketing", "transactional"] = "marketing"
    priority: int = 100  # higher plans first when campaigns run together (caps)
    enabled: bool = True
    # Retention mechanics (dispatcher/mechanics/): what fires it, its steps, its deadline.
    trigger: TriggerConfig | None = None
    starts_at: When | None = None  # a sale's start; sequence step offsets count from it
    steps: list[StepConfig] = Field(default_factory=list)
    # Nothing is sent at or after it (naive = config timezone; a date: its last second).
    # ``deadline`` is the same field under its older name.
    expires_at: Deadline | None = Field(default=None, validation_alias=AliasChoices(
        "expires_at", "deadline"))
    promo: PromoConfig | None = None  # a personal one-time code per recipient
    # Auto-pause: stop sending when this share of recent attempts failed (null: never),
    # judged once at least ``pause_min_attempts`` attempts were made.
    pause_on_error_rate: float | None = Field(default=0.5, gt=0, le=1)
    pause_min_attempts: int = Field(default=20, ge=1)
    cap: CapSpec | None = None  # e.g. "1 per 30d" for this campaign alone
    # A/B experiment (dispatcher/experiments): arms, the share held out, the hash salt
    # (defaults to the campaign name; change it to start a new experiment), how long
    # after a message an order counts, and the planned sample size (all arms; peeking).
    variants: dict[str, VariantConfig] = Field(default_factory=dict)
    holdout: Share = 0.0
    salt: str | None = None
    attribution_window: PositiveDuration = timedelta(days=7)
    planned_recipients: int | None = Field(default=None, gt=0)
    # Link tracking (dispatcher/tracking): clicks default to on for marketing, off for
    # transactional; opens are off unless asked for; UTM tags on the shop's own links.
    track_clicks: bool | None = None
    track_opens: bool = False
    utm: UtmSpec = Field(default_factory=Utm)

    @property
    def tracks_clicks(self) -> bool:
        return self.kind == "marketing" if self.track_clicks is None else self.track_clicks

    def expiry_utc(self, timezone: str) -> datetime | None:
        """``expires_at`` as naive UTC (naive values are in ``timezone``)."""
        return local_to_utc(self.expires_at, timezone) if self.expires_at else None

    def expired_at(self, moment: datetime, timezone: str) -> bool:
        """The one boundary: at or after ``expires_at`` nothing is sent (planned,
        started, or deferred by quiet hours to a moment past it)."""
        expiry = self.expiry_utc(timezone)
        return expiry is not None and moment >= expiry

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(f"invalid cron expression {value!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _mechanics(self) -> CampaignConfig:
        check_campaign(self.once_per, self.trigger, self.starts_at, self.steps)
        return self


class Config(Strict):
    shop: ShopConfig = Field(default_factory=ShopConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    timezone: TimeZoneName = "UTC"
    templates: str = "templates"
    # Channel settings are validated by each channel's own settings model (channels registry).
    channels: dict[str, dict[str, Any]] = Field(default_factory=dict)
    segments: dict[str, Any] = Field(default_factory=dict)
    campaigns: dict[CampaignName, CampaignConfig] = Field(default_factory=dict)
    loyalty: LoyaltyConfig = Field(default_factory=LoyaltyConfig)
    include: list[str] = Field(default_factory=list)
    caps: CapsConfig = Field(default_factory=CapsConfig)
    quiet_hours: QuietHoursConfig = Field(default_factory=QuietHoursConfig)
    bounces: BouncesConfig = Field(default_factory=BouncesConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)

    @field_validator("database", mode="before")
    @classmethod
    def _database_url(cls, value: Any) -> Any:
        return {"url": value} if isinstance(value, str) else value
