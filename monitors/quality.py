"""Prediction quality over one window: mergeable sums of the matched pairs, and
the metrics they give.

Regression: MAE, RMSE, bias (mean of prediction - truth), MAPE (mean of
|error| / |truth|, a fraction; only when no truth of the window is at or below
`near_zero`, where it is undefined) and WAPE (sum of |error| / sum of |truth|,
defined wherever the truths are not all 0), and the count of pairs with
|error| above the threshold. Classification: accuracy, and per class
precision, recall, F1 and support from the confusion counts. Both: matched and
unmatched predictions, label coverage (matched / (matched + unmatched)), label
latency (truth time - prediction time), truths that never met a prediction,
and invalid records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from enginewatch.core.points import FieldValue

NS = 1_000_000_000


@dataclass(slots=True)
class QualitySums:
    matched: int = 0
    unmatched: int = 0  # predictions that waited longer than the label delay
    orphans: int = 0  # truths that did
    invalid: int = 0
    late: int = 0  # records of a window already closed
    latency_sum: int = 0  # ns
    latency_max: int | None = None
    # Regression
    error_sum: float = 0.0
    abs_sum: float = 0.0
    sq_sum: float = 0.0
    truth_abs_sum: float = 0.0
    pct_sum: float = 0.0
    near_zero: int = 0  # truths at or below near_zero: no percentage error
    above: int = 0
    # Classification: truth -> prediction -> count
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)

    def pair(
        self,
        prediction: float | str,
        truth: float | str,
        latency: int,
        near_zero: float,
        threshold: float | None,
    ) -> None:
        """Count one matched pair."""
        self.matched += 1
        self.latency_sum += latency
        self.latency_max = latency if self.latency_max is None else max(self.latency_max, latency)
        if isinstance(prediction, float) and isinstance(truth, float):
            error = prediction - truth
            self.error_sum += error
            self.abs_sum += abs(error)
            self.sq_sum += error * error
            self.truth_abs_sum += abs(truth)
            if abs(truth) <= near_zero:
                self.near_zero += 1
            else:
                self.pct_sum += abs(error) / abs(truth)
            if threshold is not None and abs(error) > threshold:
                self.above += 1
        else:
            row = self.confusion.setdefault(str(truth), {})
            row[str(prediction)] = row.get(str(prediction), 0) + 1

    def merge(self, other: QualitySums) -> None:
        for name in ("matched", "unmatched", "orphans", "invalid", "late", "latency_sum", "above"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("error_sum", "abs_sum", "sq_sum", "truth_abs_sum", "pct_sum"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.near_zero += other.near_zero
        if other.latency_max is not None:
            self.latency_max = (
                other.latency_max
                if self.latency_max is None
                else max(self.latency_max, other.latency_max)
            )
        for truth, row in other.confusion.items():
            mine = self.confusion.setdefault(truth, {})
            for prediction, count in row.items():
                mine[prediction] = mine.get(prediction, 0) + count

    def metrics(self, task: str, threshold: float | None) -> dict[str, FieldValue]:
        """The window's `model_quality` fields (those with a value)."""
        labelled = self.matched + self.unmatched
        fields: dict[str, FieldValue] = {
            "matched": self.matched,
            "unmatched": self.unmatched,
            "orphan_truths": self.orphans,
            "invalid": self.invalid,
            "late": self.late,
        }
        if labelled:
            fields["coverage"] = self.matched / labelled
        if self.matched:
            fields["label_latency"] = self.latency_sum / self.matched / NS
            assert self.latency_max is not None
            fields["label_latency_max"] = self.latency_max / NS
        if not self.matched:
            return fields
        n = self.matched
        if task == "regression":
            fields.update(
                mae=self.abs_sum / n, rmse=math.sqrt(self.sq_sum / n), bias=self.error_sum / n
            )
            if self.near_zero == 0:
                fields["mape"] = self.pct_sum / n
            if self.truth_abs_sum > 0:
                fields["wape"] = self.abs_sum / self.truth_abs_sum
            if threshold is not None:
                fields["above_threshold"] = self.above
        else:
            correct = sum(row.get(truth, 0) for truth, row in self.confusion.items())
            fields["accuracy"] = correct / n
        return fields

    def per_class(self) -> dict[str, dict[str, FieldValue]]:
        """Class -> precision, recall, F1 (where defined), support and predicted count."""
        classes = set(self.confusion) | {p for row in self.confusion.values() for p in row}
        result: dict[str, dict[str, FieldValue]] = {}
        for cls in sorted(classes):
            tp = self.confusion.get(cls, {}).get(cls, 0)
            support = sum(self.confusion.get(cls, {}).values())
            predicted = sum(row.get(cls, 0) for row in self.confusion.values())
            fields: dict[str, FieldValue] = {"support": support, "predicted": predicted}
            precision = tp / predicted if predicted else None
            recall = tp / support if support else None
            if precision is not None:
                fields["precision"] = precision
            if recall is not None:
                fields["recall"] = recall
            if precision is not None and recall is not None:
                fields["f1"] = (
                    2 * precision * recall / (precision + recall) if precision + recall else 0.0
                )
            result[cls] = fields
        return result

    def to_json(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "unmatched": self.unmatched,
            "orphans": self.orphans,
            "invalid": self.invalid,
            "late": self.late,
            "latency_sum": self.latency_sum,
            "latency_max": self.latency_max,
            "error_sum": self.error_sum,
            "abs_sum": self.abs_sum,
            "sq_sum": self.sq_sum,
            "truth_abs_sum": self.truth_abs_sum,
            "pct_sum": self.pct_sum,
            "near_zero": self.near_zero,
            "above": self.above,
            "confusion": self.confusion,
        }

    @classmethod
    def from_json(cls, value: Any) -> QualitySums:
        latency_max = value.get("latency_max")
        return cls(
            matched=int(value["matched"]),
            unmatched=int(value["unmatched"]),
            orphans=int(value["orphans"]),
            invalid=int(value["invalid"]),
            late=int(value["late"]),
            latency_sum=int(value["latency_sum"]),
            latency_max=None if latency_max is None else int(latency_max),
            error_sum=float(value["error_sum"]),
            abs_sum=float(value["abs_sum"]),
            sq_sum=float(value["sq_sum"]),
            truth_abs_sum=float(value["truth_abs_sum"]),
            pct_sum=float(value["pct_sum"]),
            near_zero=int(value["near_zero"]),
            above=int(value["above"]),
            confusion={
                str(t): {str(p): int(c) for p, c in dict(row).items()}
                for t, row in dict(value["confusion"]).items()
            },
        )
