"""Classification evaluator printing exactly the reference's result lines (parsed by parse_test_res.py)."""
from __future__ import annotations

import os
from collections import OrderedDict, defaultdict

import numpy as np
import torch
from sklearn.metrics import confusion_matrix, f1_score

from vlprompt.utils.registry import Registry
from vlprompt.utils.tools import atomic_torch_save

EVALUATOR_REGISTRY = Registry("EVALUATOR")


@EVALUATOR_REGISTRY.register()
class Classification:
    def __init__(self, cfg, lab2cname=None, **kwargs):
        self.cfg = cfg
        self._lab2cname = lab2cname
        self.reset()

    @property
    def num_evaluated(self) -> int:
        """Images processed since the last reset."""
        return self._total

    def reset(self) -> None:
        self._correct = 0
        self._total = 0
        self._y_true = []
        self._y_pred = []
        self._per_class_res = defaultdict(list) if self.cfg.TEST.PER_CLASS_RESULT else None

    def process(self, mo: torch.Tensor, gt: torch.Tensor) -> None:
        """``mo``: logits (B, n_cls); ``gt``: labels (B,)."""
        pred = mo.max(1)[1]
        matches = pred.eq(gt).float()
        self._correct += int(matches.sum().item())
        self._total += gt.shape[0]
        self._y_true.extend(gt.cpu().numpy().tolist())
        self._y_pred.extend(pred.cpu().numpy().tolist())
        if self._per_class_res is not None:
            for i, label in enumerate(gt.cpu().tolist()):
                self._per_class_res[label].append(int(matches[i].item()))

    def evaluate(self) -> "OrderedDict[str, float]":
        results = OrderedDict()
        acc = 100.0 * self._correct / self._total if self._total else 0.0
        err = 100.0 - acc
        macro_f1 = 100.0 * f1_score(self._y_true, self._y_pred, average="macro", labels=np.unique(self._y_true))
        results["accuracy"] = acc
        results["error_rate"] = err
        results["macro_f1"] = macro_f1
        print(
            "=> result\n"
            f"* total: {self._total:,}\n"
            f"* correct: {self._correct:,}\n"
            f"* accuracy: {acc:.1f}%\n"
            f"* error: {err:.1f}%\n"
            f"* macro_f1: {macro_f1:.1f}%"
        )
        if self._per_class_res is not None:
            print("=> per-class result")
            accs = []
            for label in sorted(self._per_class_res):
                res = self._per_class_res[label]
                correct, total = sum(res), len(res)
                a = 100.0 * correct / total
                accs.append(a)
                name = self._lab2cname[label] if self._lab2cname else str(label)
                print(f"* class: {label} ({name})\ttotal: {total:,}\tcorrect: {correct:,}\tacc: {a:.1f}%")
            mean_acc = float(np.mean(accs))
            print(f"* average: {mean_acc:.1f}%")
            results["perclass_accuracy"] = mean_acc
        if self.cfg.TEST.COMPUTE_CMAT:
            cmat = confusion_matrix(self._y_true, self._y_pred, normalize="true")
            save_path = os.path.join(self.cfg.OUTPUT_DIR, "cmat.pt")
            atomic_torch_save(cmat, save_path)
            print(f"Confusion matrix is saved to {save_path}")
        return results


def build_evaluator(cfg, **kwargs):
    return EVALUATOR_REGISTRY.get(cfg.TEST.EVALUATOR)(cfg, **kwargs)
