"""A user specs file adds hardware, models and profiles; bad files say where."""

from pathlib import Path

import pytest

from slobench.core.errors import UserInputError
from slobench.perf import (
    Catalog,
    FittedProfile,
    build_perf_model,
    default_catalog,
    load_specs_file,
)

SPECS = Path(__file__).parent / "data" / "user_specs.toml"
GOOD = SPECS.read_text()


def _catalog() -> Catalog:
    return default_catalog().copy()      # keep the global catalog untouched


def test_user_file_adds_hardware_model_and_profile(tmp_path: Path) -> None:
    path = tmp_path / "specs.toml"
    path.write_text(GOOD)
    catalog = load_specs_file(path, _catalog())
    hw = catalog.hardware("mi300x")
    assert hw.peak_flops == 1307e12 and hw.compute_eff == 0.6
    assert catalog.model("tiny-llama").kv_heads == 4
    assert catalog.hardware("a100").name == "a100"          # shipped entries remain
    fitted = build_perf_model("tiny-llama", "MI300X", 1, catalog=catalog)
    assert isinstance(fitted, FittedProfile)
    roof = build_perf_model("opt-13b", "mi300x", 1, catalog=catalog)
    assert roof.describe()["hardware"] == "MI300X"


@pytest.mark.parametrize(("text", "where"), [
    ("[hardware.x]\nmem_bw = 1e12\nmem_bytes = 1e9\n", "hardware.x.peak_flops"),
    ("[hardware.x]\npeak_flops = 'fast'\nmem_bw = 1e12\nmem_bytes = 1e9\n",
     "hardware.x.peak_flops"),
    ("[hardware.x]\npeak_flops = 1e12\nmem_bw = 1e12\nmem_bytes = 1e9\nturbo = true\n",
     "hardware.x.turbo"),
    ("[hardware.x]\npeak_flops = 1e12\nmem_bw = 1e12\nmem_bytes = 1e9\ncompute_eff = 2\n",
     "hardware.x"),
    ("[models.m]\nlayers = 2.5\nhidden = 8\nheads = 2\nintermediate = 8\nvocab = 8\n"
     "max_context = 8\n", "models.m.layers"),
    ("[profiles.p]\nmodel = 'opt-13b'\nhardware = 'a100'\nterms = [[1, 2]]\n",
     "profiles.p.terms"),
    ("[profiles.p]\nmodel = 'nope'\nhardware = 'a100'\nterms = [[1e-5, 0, 0]]\n",
     "profiles.p"),
    ("[gpus.x]\n", "gpus"),
    ("[hardware\n", "not valid TOML"),
])
def test_malformed_file_names_file_and_field(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    catalog = _catalog()
    before = catalog.hardware_names()
    with pytest.raises(UserInputError) as err:
        load_specs_file(path, catalog)
    assert str(path) in str(err.value) and where in str(err.value)
    assert catalog.hardware_names() == before       # nothing half-registered


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="cannot read"):
        load_specs_file(tmp_path / "absent.toml", _catalog())
