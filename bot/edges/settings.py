"""Settings, read once: secrets and switches from the environment, institutions from a TOML file.

Nothing else in the project reads ``os.environ``. Bad values fail fast with a sentence that names the
variable or the TOML key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_DB_FILE = "p2pbot.sqlite3"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_TIMEZONE = "America/New_York"
REGIONS: dict[str, str] = {
    "na": "https://api-na.hosted.exlibrisgroup.com",
    "eu": "https://api-eu.hosted.exlibrisgroup.com",
    "ap": "https://api-ap.hosted.exlibrisgroup.com",
    "aps": "https://api-aps.hosted.exlibrisgroup.com",
    "ca": "https://api-ca.hosted.exlibrisgroup.com",
    "cn": "https://api-cn.hosted.exlibrisgroup.com.cn",
}
API_PREFIX = "/almaws/v1"


# our field -> the heading of the borrowing Analytics report's column (a report author names them freely;
# override per institution with `borrowing_report_columns`)
DEFAULT_REPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("external_id", "External Request ID"), ("request_id", "Internal Request ID"), ("status", "Request Status"),
    ("partner_code", "Partner Code"), ("partner_name", "Partner Name"), ("title", "Title"),
    ("requester", "Requester Primary Identifier"), ("created", "Request Created Date"),
    ("modified", "Status Date"), ("library", "Library Code"),
)
REQUIRED_REPORT_FIELDS = ("external_id", "request_id", "status", "requester")


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names it."""


@dataclass(frozen=True)
class Institution:
    code: str
    name: str
    base_url: str
    api_key: str = field(repr=False)
    rs_libraries: tuple[str, ...] = ()
    borrowing_report: str = ""
    channel: str = ""
    timezone: str = DEFAULT_TIMEZONE
    expiry_job_name: str = "Expired Resource Sharing Requests"
    calls_per_second: float = 20.0
    api_key_env: str = ""  # the environment variable holding api_key: named when Alma refuses the key
    alma_code: str = ""  # Alma's own institution code (e.g. 01WRLC_GWA): how signed webhooks name it
    webhook_secret: str = field(default="", repr=False)  # its own webhook profile's secret, if it has one
    borrowing_report_columns: tuple[tuple[str, str], ...] = DEFAULT_REPORT_COLUMNS


@dataclass(frozen=True)
class PartnerPolicy:
    """What an onboarded P2P partner's profile should look like, and the UI-only lists it goes into."""

    borrowing_workflow: str = "P2P_BORROWING"
    lending_workflow: str = "P2P_LENDING"
    expiry_days: int = 5
    rota_template: str = "P2P Rota"
    temp_item_rule: str = "P2P Temporary Items"
    lending_rule: str = "P2P Lending"
    nz_managed: tuple[str, ...] = ("Stony Brook", "Binghamton", "Albany", "Buffalo")
    managers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    database_url: str
    timezone: str = DEFAULT_TIMEZONE
    slack_bot_token: str = field(default="", repr=False)
    slack_signing_secret: str = field(default="", repr=False)
    slack_app_token: str = field(default="", repr=False)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    alma_webhook_secret: str = field(default="", repr=False)
    knowledge_dir: str = ""
    extra_knowledge: tuple[str, ...] = ()  # a library's own folders, loaded on top of knowledge_dir
    config_path: str = ""
    institutions: tuple[Institution, ...] = ()
    partner_policy: PartnerPolicy = PartnerPolicy()
    morning_post_time: str = "07:30"
    missed_post_grace_hours: float = 3.0
    rs_channel: str = ""
    lookup_refresh_minutes: float = 15.0  # an indexed request older than this is re-read live on lookup
    docs: tuple[str, ...] = ()  # the library's own documentation: files, folders and http(s) URLs
    docs_refresh_minutes: float = 60.0  # how often the clock re-indexes P2PBOT_DOCS (0 = never)
    cache_dir: str = ""  # where a built answer index is kept between processes (default: the user cache)
    retention_days: float = 30.0  # stored webhook deliveries, handled event keys and sync runs kept this long

    def institution(self, code: str) -> Institution | None:
        return next((i for i in self.institutions if i.code.lower() == code.lower()), None)


def _tz(value: str, name: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name} is '{value}', which is not a known time zone (e.g. America/New_York)") from None
    return value


def _base_url(entry: Mapping[str, object], where: str) -> str:
    if entry.get("url"):
        url = str(entry["url"]).rstrip("/")
        return url if url.endswith(API_PREFIX) else url + API_PREFIX
    region = str(entry.get("region", "na")).lower()
    if region not in REGIONS:
        raise ConfigError(f"{where}.region is '{region}'; use one of {', '.join(REGIONS)} or set url")
    return REGIONS[region] + API_PREFIX


def _strings(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return tuple(str(v) for v in value)


def _minutes(value: object) -> float:
    if not isinstance(value, (int, float)) or value < 0:
        raise ConfigError("bot.lookup_refresh_minutes must be a number of minutes (0 = always re-read live)")
    return float(value)


def _rate(value: object, where: str) -> float:
    if not isinstance(value, (int, float)) or not 0 < value <= 25:
        raise ConfigError(f"{where}.calls_per_second must be a number above 0 and at most 25 (Alma's limit)")
    return float(value)


def _docs_minutes(value: str) -> float:
    try:
        minutes = float(value)
    except ValueError:
        minutes = -1.0
    if minutes < 0:
        raise ConfigError(f"P2PBOT_DOCS_REFRESH_MINUTES is '{value}'; give a number of minutes (0 = only on demand)")
    return minutes


def _report_columns(value: object, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return DEFAULT_REPORT_COLUMNS
    fields = dict(DEFAULT_REPORT_COLUMNS)
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f"{where}.borrowing_report_columns must be a table of our field = \"report heading\"")
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise ConfigError(f"{where}.borrowing_report_columns has unknown field(s) {', '.join(unknown)}; "
                          f"the fields are {', '.join(fields)}")
    fields.update({k: v.strip() for k, v in value.items()})
    empty = [f for f in REQUIRED_REPORT_FIELDS if not fields[f]]
    if empty:
        raise ConfigError(f"{where}.borrowing_report_columns must name a heading for {', '.join(empty)}")
    return tuple(fields.items())


def _load_toml(path: str, env: Mapping[str, str]) -> dict[str, object]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"P2PBOT_CONFIG points at {path}, which does not exist")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"P2PBOT_CONFIG file {path} is not valid TOML: {exc}") from None


def _institutions(data: Mapping[str, object], env: Mapping[str, str], tz: str) -> list[Institution]:
    out: list[Institution] = []
    raw = data.get("institution", [])
    if not isinstance(raw, list):
        raise ConfigError("[[institution]] must be an array of tables")
    for n, entry in enumerate(raw):
        where = f"institution[{n}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a table ([[institution]])")
        code = entry.get("code")
        if not code or not isinstance(code, str):
            raise ConfigError(f"{where}.code is missing")
        where = f"institution '{code}'"
        key_var = entry.get("api_key_env")
        if not key_var:
            raise ConfigError(f"{where}.api_key_env is missing (the environment variable holding its API key)")
        key = env.get(str(key_var), "")
        if not key:
            raise ConfigError(f"{where}: the environment variable {key_var} (its API key) is not set")
        out.append(Institution(
            code=code,
            name=str(entry.get("name", code)),
            base_url=_base_url(entry, where),
            api_key=key,
            rs_libraries=_strings(entry.get("rs_libraries"), f"{where}.rs_libraries"),
            borrowing_report=str(entry.get("borrowing_report", "")),
            channel=str(entry.get("channel", "")),
            timezone=_tz(str(entry.get("timezone", tz)), f"{where}.timezone"),
            expiry_job_name=str(entry.get("expiry_job_name", "Expired Resource Sharing Requests")),
            calls_per_second=_rate(entry.get("calls_per_second", 20), where),
            api_key_env=str(key_var),
            alma_code=str(entry.get("alma_institution_code", "")),
            webhook_secret=_secret(entry.get("webhook_secret_env"), env, where),
            borrowing_report_columns=_report_columns(entry.get("borrowing_report_columns"), where),
        ))
    codes = [i.code.lower() for i in out]
    dup = next((c for c in codes if codes.count(c) > 1), None)
    if dup:
        raise ConfigError(f"institution code '{dup}' appears twice in P2PBOT_CONFIG")
    return out


def _secret(var: object, env: Mapping[str, str], where: str) -> str:
    """The value of the environment variable named by ``webhook_secret_env`` (optional)."""
    if not var:
        return ""
    value = env.get(str(var), "")
    if not value:
        raise ConfigError(f"{where}: the environment variable {var} (its webhook secret) is not set")
    return value


def _policy(data: Mapping[str, object]) -> PartnerPolicy:
    raw = data.get("partners", {})
    if not isinstance(raw, dict):
        raise ConfigError("[partners] must be a table")
    base = PartnerPolicy()
    days = raw.get("expiry_days", base.expiry_days)
    if not isinstance(days, int) or days < 1:
        raise ConfigError("partners.expiry_days must be a whole number of days (1 or more)")
    return PartnerPolicy(
        borrowing_workflow=str(raw.get("borrowing_workflow", base.borrowing_workflow)),
        lending_workflow=str(raw.get("lending_workflow", base.lending_workflow)),
        expiry_days=days,
        rota_template=str(raw.get("rota_template", base.rota_template)),
        temp_item_rule=str(raw.get("temp_item_rule", base.temp_item_rule)),
        lending_rule=str(raw.get("lending_rule", base.lending_rule)),
        nz_managed=_strings(raw.get("nz_managed", list(base.nz_managed)), "partners.nz_managed"),
        managers=_strings(raw.get("managers", []), "partners.managers"),
    )


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from ``env`` (default: the process environment)."""
    env = dict(os.environ if env is None else env)
    tz = _tz(env.get("P2PBOT_TIMEZONE", DEFAULT_TIMEZONE), "P2PBOT_TIMEZONE")
    config_path = env.get("P2PBOT_CONFIG", "")
    data = _load_toml(config_path, env) if config_path else {}
    institutions = _institutions(data, env, tz)
    if env.get("ALMA_API_URL") or env.get("ALMA_API_KEY"):
        if not env.get("ALMA_API_KEY"):
            raise ConfigError("ALMA_API_URL is set but ALMA_API_KEY is not")
        single = Institution(
            code=env.get("ALMA_INSTITUTION", "default"),
            name=env.get("ALMA_INSTITUTION_NAME", "Alma"),
            base_url=_base_url({"url": env["ALMA_API_URL"]} if env.get("ALMA_API_URL") else {}, "ALMA_API_URL"),
            api_key=env["ALMA_API_KEY"],
            rs_libraries=tuple(x for x in env.get("ALMA_RS_LIBRARIES", "").split(",") if x),
            borrowing_report=env.get("ALMA_BORROWING_REPORT", ""),
            channel=env.get("P2PBOT_CHANNEL", ""),
            timezone=tz,
            api_key_env="ALMA_API_KEY",
            alma_code=env.get("ALMA_INSTITUTION_CODE", ""),
        )
        # the shortcut overrides the file's URL and key for one-institution set-ups (e.g. the sandbox)
        institutions = [single] if not institutions else [
            replace(i, base_url=single.base_url, api_key=single.api_key, api_key_env="ALMA_API_KEY")
            for i in institutions
        ]
    bot_table = data.get("bot", {})
    bot = bot_table if isinstance(bot_table, dict) else {}
    grace = bot.get("missed_post_grace_hours", 3.0)
    if not isinstance(grace, (int, float)) or grace < 0:
        raise ConfigError("bot.missed_post_grace_hours must be a number of hours")
    keep = bot.get("retention_days", 30)
    if not isinstance(keep, (int, float)) or isinstance(keep, bool) or keep < 1:
        raise ConfigError("bot.retention_days must be a number of days (1 or more)")
    return Settings(
        database_url=env.get("P2PBOT_DATABASE_URL", f"sqlite:///{DEFAULT_DB_FILE}"),
        timezone=tz,
        slack_bot_token=env.get("SLACK_BOT_TOKEN", ""),
        slack_signing_secret=env.get("SLACK_SIGNING_SECRET", ""),
        slack_app_token=env.get("SLACK_APP_TOKEN", ""),
        slack_api_url=env.get("SLACK_API_URL", DEFAULT_SLACK_API_URL),
        alma_webhook_secret=env.get("ALMA_WEBHOOK_SECRET", ""),
        knowledge_dir=env.get("P2PBOT_KNOWLEDGE_DIR", ""),
        extra_knowledge=tuple(p for p in env.get("P2PBOT_EXTRA_KNOWLEDGE", "").split(os.pathsep) if p),
        config_path=config_path,
        institutions=tuple(institutions),
        partner_policy=_policy(data),
        morning_post_time=str(bot.get("morning_post_time", "07:30")),
        missed_post_grace_hours=float(grace),
        rs_channel=str(bot.get("rs_channel", "")),
        lookup_refresh_minutes=_minutes(bot.get("lookup_refresh_minutes", 15)),
        docs=tuple(env.get("P2PBOT_DOCS", "").split()),
        docs_refresh_minutes=_docs_minutes(env.get("P2PBOT_DOCS_REFRESH_MINUTES", "60")),
        cache_dir=env.get("P2PBOT_CACHE_DIR", ""),
        retention_days=float(keep),
    )
