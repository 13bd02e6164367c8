"""A database left by an older pre-release build gets a plain error, not a traceback."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import create_engine, text

from .shop import Shop


def test_missing_tables_are_named_and_exit_2(shop: Shop) -> None:
    shop.write_config("email: {}\n", "everyone:\n  consent: email\n",
                      "hello:\n  segment: everyone\n  channels: [email]\n")
    shop.template("hello/email.subject", "Hi")
    shop.template("hello/email.txt", "Hi")
    shop.cli("init-db")
    engine = create_engine(shop.db_url())
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE promo_codes"))
    engine.dispose()
    result = subprocess.run(
        [sys.executable, "-c", "from dispatcher.cli.main import main; main()",
         "plan", "hello", "--config", str(shop.config_path)],
        capture_output=True, text=True, cwd=shop.folder, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "older pre-release version (missing tables or columns: promo_codes)" in result.stderr
    assert "Traceback" not in result.stderr
