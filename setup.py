"""Install vlprompt; the top-level trainers/ and datasets/ folders become vlprompt.trainers / vlprompt.datasets."""
import os

from setuptools import find_packages, setup

here = os.path.dirname(os.path.abspath(__file__))


def read_requirements():
    with open(os.path.join(here, "requirements.txt")) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


setup(
    name="vlprompt",
    version="0.1.0",
    description="Prompt learning for CLIP-style vision-language models: CoOp, CoCoOp, zero-shot CLIP, baselines",
    long_description=open(os.path.join(here, "README.md")).read() if os.path.exists(os.path.join(here, "README.md")) else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["vlprompt", "vlprompt.*"]) + ["vlprompt.trainers", "vlprompt.datasets"],
    package_dir={"vlprompt.trainers": "trainers", "vlprompt.datasets": "datasets"},
    # the built-in MiniCLIP checkpoint (docs/miniclip.md) and the published numbers of the reproduction report
    package_data={"vlprompt.mini": ["miniclip.pt"], "vlprompt.reproduce": ["published.csv"]},
    install_requires=read_requirements(),
    extras_require={"test": ["pytest>=7"]},
    license="MIT",
)
