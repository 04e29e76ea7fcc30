from __future__ import annotations

from pathlib import Path

import pytest

from bot.edges.settings import ConfigError, load
from tests.conftest import ROOT


def test_example_config_loads() -> None:
    env = {"P2PBOT_CONFIG": str(ROOT / "p2pbot.example.toml"), "ALMA_KEY_GWA": "k1", "ALMA_KEY_AMU": "k2"}
    s = load(env)
    assert [i.code for i in s.institutions] == ["GWA", "AMU"]
    gwa = s.institutions[0]
    assert gwa.base_url == "https://api-na.hosted.exlibrisgroup.com/almaws/v1"
    assert gwa.rs_libraries == ("GELMAN",) and gwa.timezone == "America/New_York"
    assert "k1" not in repr(s) and "k1" not in repr(gwa)
    assert s.partner_policy.expiry_days == 5


def test_single_institution_shortcut() -> None:
    s = load({"ALMA_API_URL": "http://127.0.0.1:9/almaws/v1", "ALMA_API_KEY": "abc"})
    assert len(s.institutions) == 1 and s.institutions[0].base_url == "http://127.0.0.1:9/almaws/v1"
    assert s.database_url.startswith("sqlite:///")


@pytest.mark.parametrize(("toml", "env", "phrase"), [
    ("[[institution]]\nname='x'\n", {}, "institution[0].code is missing"),
    ("[[institution]]\ncode='A'\n", {}, "institution 'A'.api_key_env is missing"),
    ("[[institution]]\ncode='A'\napi_key_env='K'\n", {}, "environment variable K"),
    ("[[institution]]\ncode='A'\napi_key_env='K'\nregion='mars'\n", {"K": "1"}, "institution 'A'.region"),
    ("[[institution]]\ncode='A'\napi_key_env='K'\ntimezone='Nowhere/X'\n", {"K": "1"}, "institution 'A'.timezone"),
    ("[[institution]]\ncode='A'\napi_key_env='K'\ncalls_per_second=50\n", {"K": "1"}, "calls_per_second"),
    ("[partners]\nexpiry_days='five'\n", {}, "partners.expiry_days"),
    ("not = [valid", {}, "not valid TOML"),
])
def test_bad_config_names_the_key(tmp_path: Path, toml: str, env: dict[str, str], phrase: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError, match=phrase.replace("[", r"\[").replace("]", r"\]")):
        load({"P2PBOT_CONFIG": str(path), **env})


def test_bad_env_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="P2PBOT_TIMEZONE"):
        load({"P2PBOT_TIMEZONE": "Mars/Base"})
    with pytest.raises(ConfigError, match="ALMA_API_KEY"):
        load({"ALMA_API_URL": "http://x"})
    with pytest.raises(ConfigError, match="P2PBOT_CONFIG"):
        load({"P2PBOT_CONFIG": "/nonexistent.toml"})
