"""ZeroshotCLIP through train.py on every generated miniature dataset (readers + configs + templates)."""
import pytest

from vlprompt.testing.datasets import MAKERS

from .helpers import REPO, TINY_CFG


@pytest.fixture(scope="module")
def all_data(tmp_path_factory) -> dict:
    """{stem: DATASET.ROOT}: the common root, or the dataset's own folder for readers of the user's own data."""
    from vlprompt.data import DATASET_REGISTRY

    from .datasets.helpers import registry_name

    root = tmp_path_factory.mktemp("all_datasets")
    roots = {}
    for stem, make in MAKERS.items():
        folder = make(str(root))
        own = getattr(DATASET_REGISTRY.get(registry_name(stem)), "root_is_dataset", False)
        roots[stem] = folder if own else str(root)
    return roots


@pytest.mark.parametrize("stem", sorted(MAKERS))
def test_zeroshot_on_generated_dataset(run_train, all_data, tmp_path, stem):
    args = ["--root", all_data[stem], "--trainer", "ZeroshotCLIP", "--dataset-config-file",
            str(REPO / f"configs/datasets/{stem}.yaml"), "--config-file", TINY_CFG,
            "--output-dir", str(tmp_path / stem), "--eval-only"]
    log = run_train(args)
    assert "=> result" in log and "* accuracy:" in log and "Prompts: [" in log
