"""Registries: discovery of the plug-in folders, duplicate and unknown names."""
import pytest

from vlprompt.data import DATASET_REGISTRY
from vlprompt.engine import TRAINER_REGISTRY
from vlprompt.utils import Registry


def test_trainers_and_datasets_are_discovered():
    assert {"CoOp", "ZeroshotCLIP", "ZeroshotCLIP2"} <= set(TRAINER_REGISTRY.registered_names())
    assert "Caltech101" in DATASET_REGISTRY.registered_names()


def test_unknown_name_lists_registered_and_suggests():
    with pytest.raises(KeyError) as e:
        TRAINER_REGISTRY.get("Coop")
    msg = str(e.value)
    assert "CoOp" in msg and "ZeroshotCLIP" in msg and 'Do you mean "CoOp"' in msg


def test_duplicate_registration_is_an_error():
    reg = Registry("TEST")

    @reg.register()
    class A:
        pass

    class B:
        pass

    B.__name__ = "A"
    with pytest.raises(KeyError, match="already registered"):
        reg.register(B)


def test_new_trainer_file_in_extra_folder_is_discovered(tmp_path, monkeypatch):
    # Users may keep trainers outside the repo: VLPROMPT_TRAINERS_PATH adds folders to discovery.
    (tmp_path / "my_method.py").write_text(
        "from vlprompt.engine import TRAINER_REGISTRY\n"
        "@TRAINER_REGISTRY.register()\nclass MyMethodForTest:\n    pass\n"
    )
    import vlprompt.plugins as plugins

    monkeypatch.setenv("VLPROMPT_TRAINERS_PATH", str(tmp_path))
    monkeypatch.setattr(plugins, "_discovered", set())
    plugins.discover("trainers")
    assert "MyMethodForTest" in TRAINER_REGISTRY.registered_names()
