"""Names from the config that end up in file paths: campaign names and template folders.

A campaign's name becomes a folder of the file transport (``outbox/<channel>/<name>/``),
its default template folder, a metrics label and a log field; a template folder is a
path under ``templates/``. Both are refused where they are written unless they are
plain names, so ``../../../x`` can never point outside the folders it names.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_CAMPAIGN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")
_FOLDER_PART = re.compile(r"[^/\\\x00-\x1f]+")


def campaign_name(value: str) -> str:
    if not _CAMPAIGN.fullmatch(value):
        raise ValueError(f"invalid campaign name {value!r}: use up to 64 letters, digits, "
                         f"_ and - (it names folders, files and metrics)")
    return value


def template_folder(value: str) -> str:
    """``win_back`` or ``shared/win_back``: relative, inside the templates folder."""
    parts = value.removesuffix("/").split("/")
    if value.startswith("/") or any(p in ("", ".", "..") or not _FOLDER_PART.fullmatch(p)
                                    for p in parts):
        raise ValueError(f"must name a folder inside the templates folder, like win_back "
                         f"or shared/win_back (no '..', not absolute); got {value!r}")
    return "/".join(parts)


CampaignName = Annotated[str, AfterValidator(campaign_name)]
TemplateFolder = Annotated[str, AfterValidator(template_folder)]
