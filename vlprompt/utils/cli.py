"""Command lines of the form ``[--flag value ...] KEY VALUE KEY VALUE ...`` with flags in any position.

train.py collects the trailing config overrides with ``argparse.REMAINDER``, which swallows every
token after the first ``KEY``: ``train.py ... DATASET.NUM_SHOTS 16 --resume DIR`` used to hand
``--resume`` to the config as a key. :func:`parse_args_anywhere` takes the parser's own flags back
out of the remainder before the rest is read as ``KEY VALUE`` pairs.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional, Sequence, Tuple


def split_flags(parser: argparse.ArgumentParser, tokens: Sequence[str]) -> Tuple[List[str], List[str]]:
    """Split trailing tokens into (the parser's flags with their values, ``KEY VALUE`` pairs).

    Only tokens in a KEY position are checked, so a config value is never taken for a flag. A flag
    with a variable number of values (``--source-domains a b``) cannot be told apart from the pairs
    that follow it there: that, and an unknown ``--flag``, end with a usage error.
    """
    actions = parser._option_string_actions
    flags: List[str] = []
    opts: List[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        name = tok.split("=", 1)[0]
        if name in actions:
            action = actions[name]
            if "=" in tok or action.nargs == 0:
                taken = 1
            elif action.nargs is None:
                taken = 2
            elif isinstance(action.nargs, int):
                taken = 1 + action.nargs
            else:
                parser.error(f"{name} takes several values and cannot follow the KEY VALUE options; flags with "
                             f"several values go before the options: {parser.prog} {name} ... KEY VALUE ...")
            flags.extend(tokens[i:i + taken])
            i += taken
        elif tok.startswith("--") and len(tok) > 2:
            parser.error(f'unknown flag "{tok}" among the KEY VALUE options (config keys look like '
                         f"DATASET.NUM_SHOTS); see {parser.prog} --help for the flags")
        else:
            opts.extend(tokens[i:i + 2])
            i += 2
    return flags, opts


def parse_args_anywhere(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]] = None,
                        remainder: str = "opts") -> argparse.Namespace:
    """``parser.parse_args`` where the parser's flags may also follow the ``KEY VALUE`` options.

    ``remainder`` is the dest of the parser's ``nargs=argparse.REMAINDER`` positional. With the flags
    placed before the options the result is exactly ``parser.parse_args(argv)``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    tail = list(getattr(args, remainder) or [])
    flags, opts = split_flags(parser, tail)
    if flags:
        head = argv[: len(argv) - len(tail)]  # REMAINDER is always the tail of argv
        args = parser.parse_args(head + flags)
    setattr(args, remainder, opts)
    return args
