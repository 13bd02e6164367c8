"""Config of a campaign's A/B experiment: variants with weights, holdout share, horizon.

Kept apart from models.py so the experiment keys live in one place; models.py only
adds the fields to ``CampaignConfig``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from dispatcher.config.names import TemplateFolder

if TYPE_CHECKING:
    from dispatcher.config.models import CampaignConfig

# The arm names an experiment's rows carry besides its variants' own.
HOLDOUT = "holdout"
TREATMENT = "treatment"


def _parse_share(value: Any) -> float:
    """``10%`` or ``0.1``: the share of the eligible audience that receives nothing."""
    try:
        if isinstance(value, str) and value.strip().endswith("%"):
            share = float(value.strip()[:-1]) / 100
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            share = float(value)
        else:
            raise ValueError
    except ValueError:
        raise ValueError(f"expected a share like 10% or 0.1; got {value!r}") from None
    if not 0 <= share < 1:
        raise ValueError(f"a share must be at least 0% and below 100%; got {value!r}")
    return share


Share = Annotated[float, BeforeValidator(_parse_share)]


class VariantConfig(BaseModel):
    """One arm of the test. Every override is optional; unset means the campaign's own."""

    model_config = ConfigDict(extra="forbid")

    weight: float = Field(default=1, gt=0, le=1_000_000, allow_inf_nan=False)
    template: TemplateFolder | None = None  # folder under templates/
    channels: list[str] | None = None  # a different order of the campaign's channels
    subject: str | None = None  # Jinja, rendered with the message's context (email)
    offer: dict[str, Any] | None = None  # exposed to templates as ``offer``


def is_experiment(campaign: CampaignConfig) -> bool:
    return bool(campaign.variants) or campaign.holdout > 0


def experiment_salt(campaign_name: str, campaign: CampaignConfig) -> str:
    return campaign.salt or campaign_name


def experiment_record(campaign_name: str, campaign: CampaignConfig) -> dict[str, Any] | None:
    """What a run stores so later config changes can be compared with what was used."""
    if not is_experiment(campaign):
        return None
    return {"salt": experiment_salt(campaign_name, campaign), "holdout": campaign.holdout,
            "weights": {name: v.weight for name, v in campaign.variants.items()}}
