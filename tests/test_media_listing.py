"""`phyff media` lists every medium a URL may name, plugins included, with its URL keys."""

from __future__ import annotations

import json
from typing import Any

import pytest

from phyff.cli.main import main
from phyff.media import registry
from phyff.media.acoustic import AcousticMedium


class _EntryPoint:
    def __init__(self, name: str, value: str, target: Any) -> None:
        self.name, self.value, self._target = name, value, target

    def load(self) -> Any:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def toy_factory(seed: int = 0, *, width: int = 6, noise: float = 0.0) -> AcousticMedium:
    """A small cavity from a plugin."""
    return AcousticMedium(seed, n_in=width, n_out=width, noise=noise)


def test_media_lists_plugins_and_url_keys(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    plugins = {"toy": _EntryPoint("toy", "toypkg.media:toy_factory", toy_factory),
               "broken": _EntryPoint("broken", "gone.media:f", ImportError("no module gone"))}
    monkeypatch.setattr(registry, "_entry_points", lambda: plugins)
    assert main(["media", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in listing["media"]}
    assert rows["toy"]["origin"] == "plugin toypkg.media:toy_factory"
    assert (rows["toy"]["n_in"], rows["toy"]["keys"]) == (6, ["width", "noise"])
    assert "no module gone" in rows["broken"]["error"]
    assert rows["acoustic"]["origin"] == "built-in"
    assert {"n_in", "n_out", "noise", "drift", "gain"} <= set(rows["acoustic"]["keys"])
    assert {"dac_bits", "adc_bits", "unit_id", "seed"} <= set(listing["board_keys"])
    assert main(["media"]) == 0
    text = capsys.readouterr().out
    assert "URL keys: width, noise" in text and "broken" in text and "dac_bits" in text
