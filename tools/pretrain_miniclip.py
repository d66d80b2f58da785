"""Pretrain MiniCLIP, the tiny CLIP of the built-in MiniCLIP world, on 2 CPU cores.

    python tools/pretrain_miniclip.py --seed 0 --out vlprompt/mini/miniclip.pt   # the committed checkpoint
    python tools/pretrain_miniclip.py --seed 0 --out /tmp/m.pt --steps 1         # smoke test

Writes the packaged checkpoint (OpenAI key names, fp16, pruned token embedding; see
vlprompt/mini/model.py). ``python -m vlprompt.mini.model SRC DST`` expands one into a full OpenAI-format
state dict for MODEL.BACKBONE.PATH. How the committed file was made: docs/miniclip.md.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vlprompt.mini.pretrain import main  # noqa: E402

if __name__ == "__main__":
    main()
