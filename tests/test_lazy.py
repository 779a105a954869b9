"""mmgraph.lazy: a package's public names imported from their modules on first read."""

import subprocess
import sys
import types

import pytest

from mmgraph.lazy import lazy_exports


def test_names_resolve_on_first_read_and_unknown_names_are_attribute_errors(monkeypatch):
    package = types.ModuleType("fake_package")
    package.own = 1
    monkeypatch.setitem(sys.modules, "fake_package", package)
    package.__getattr__, package.__dir__ = lazy_exports(
        "fake_package", {"dumps": ("json", "dumps"), "Path": ("pathlib", "Path")})
    assert package.dumps([1]) == "[1]" and package.Path.__name__ == "Path"
    assert {"own", "dumps", "Path"} <= set(dir(package))
    with pytest.raises(AttributeError, match="'fake_package' has no attribute 'missing'"):
        package.missing


def test_the_front_doors_load_no_heavy_module_until_a_name_is_read():
    code = ("import sys, mmgraph, encoders; assert 'torch' not in sys.modules; "
            "assert 'encode_texts' in dir(encoders) and 'Recommender' in dir(mmgraph); "
            "mmgraph.load_config; assert 'torch' not in sys.modules; "
            "encoders.encode_texts; assert 'torch' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
