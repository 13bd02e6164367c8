"""Start-up: a command imports only what it uses (issue 19: `plan` of a small shop < 0.3 s).

Checked by what is imported, not by a stopwatch: in a fresh interpreter, `--help` and
`plan` must leave the channel libraries, the web stack, Alembic (when the database is
already at the newest revision) and the importer's row models unloaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .shop import Shop

# Libraries that cost start-up time and that neither --help nor plan needs.
CHANNEL_AND_WEB = ["twilio", "telegram", "matplotlib", "starlette", "uvicorn", "pywebpush",
                   "aiosmtplib", "httpx", "prometheus_client"]
PLAN_NEEDS_NOT = [*CHANNEL_AND_WEB, "alembic", "dispatcher.importer"]

PROBE = """
import json, sys
sys.argv = ["dispatcher", *json.loads(sys.argv[1])]
from dispatcher.cli.main import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
names = {m.split(".")[0] for m in sys.modules} | set(sys.modules)
print(json.dumps({"code": code, "loaded": sorted(names)}))
"""


def _loaded_after(args: list[str], cwd: Path) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["code"] in (0, None), proc.stdout + proc.stderr
    return set(report["loaded"])


def test_help_imports_no_channel_or_web_library(tmp_path: Path) -> None:
    loaded = _loaded_after(["--help"], tmp_path)
    assert "dispatcher" in loaded
    assert not loaded & set(PLAN_NEEDS_NOT), sorted(loaded & set(PLAN_NEEDS_NOT))


def test_plan_of_a_small_shop_imports_no_channel_web_or_migration_library(shop: Shop) -> None:
    # Given a small shop whose database exists (init-db ran once)
    shop.write_config("email: {}\nsms: {}\ntelegram: {}\npush: {}",
                      "everyone:\n  id: {is_null: false}\n",
                      "win_back:\n  segment: everyone\n  channels: [email, sms, telegram, push]"
                      "\n  template: win_back\n")
    shop.copy_templates("win_back")
    shop.cli("init-db")
    shop.cli("import", "customers", str(shop.csv("customers.csv", [
        {"id": "c1", "email": "c1@example.com", "email_consent": "yes"}])))
    # When `dispatcher plan` runs in a fresh interpreter
    loaded = _loaded_after(["plan", "win_back", "--config", str(shop.config_path)],
                           shop.folder)
    # Then it planned from the store without the channel, web or migration libraries
    assert {"dispatcher", "sqlalchemy"} <= loaded
    assert not loaded & set(PLAN_NEEDS_NOT), sorted(loaded & set(PLAN_NEEDS_NOT))
