"""One version source: the package version, the kit's constant and every component's VERSION agree."""

from __future__ import annotations

import tomllib
from pathlib import Path

from gateway import config as gateway_config
from lmx_common.version import API_VERSION
from services.certification import config as certification_config
from services.housing import config as housing_config
from services.registry import config as registry_config

ROOT = Path(__file__).resolve().parents[2]


def test_every_component_takes_the_one_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == API_VERSION
    for module in (gateway_config, registry_config, certification_config, housing_config):
        assert module.VERSION == API_VERSION, module.__name__
