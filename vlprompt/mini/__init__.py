"""The built-in MiniCLIP world (docs/miniclip.md): a rendered image-caption domain (``world``), the tiny
CLIP pretrained on it (``model``, ``pretrain``; built-in backbone ``MiniCLIP``) and its downstream
benchmarks (``benchmarks``; readers in ``datasets/mini_world.py``), plus ``report`` to measure the findings."""
