"""ZeroshotCLIP through train.py on every generated miniature dataset (readers + configs + templates)."""
import pytest

from vlprompt.testing.datasets import MAKERS

from .helpers import REPO, TINY_CFG


@pytest.fixture(scope="module")
def all_data(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("all_datasets")
    for make in MAKERS.values():
        make(str(root))
    return str(root)


@pytest.mark.parametrize("stem", sorted(MAKERS))
def test_zeroshot_on_generated_dataset(run_train, all_data, tmp_path, stem):
    args = ["--root", all_data, "--trainer", "ZeroshotCLIP", "--dataset-config-file",
            str(REPO / f"configs/datasets/{stem}.yaml"), "--config-file", TINY_CFG,
            "--output-dir", str(tmp_path / stem), "--eval-only"]
    log = run_train(args)
    assert "=> result" in log and "* accuracy:" in log and "Prompts: [" in log
