"""Does a model image fit a board? Checked on the host, before anything is loaded.

The board checks an image against model.h M-V1-V6 at MODEL_COMMIT and refuses
with the byte offset of the first field it refuses. Since protocol level 4 a
board advertises the limits those checks use (caps.max_classes, caps.infer_work,
beside n_drive, n_sense, max_settle_us, max_oversample and model_capacity), so
the host can say which limit a model exceeds before loading it, and name the
field and the limit when a board refuses anyway (:func:`explain_refusal`).
"""

from __future__ import annotations

from dataclasses import dataclass

from phyff.protocol.model_image import ModelHead, ModelImage
from phyff.protocol.wire import Caps


class DoesNotFit(ValueError):
    """The image breaks a limit the board advertises; the message names it."""


@dataclass(frozen=True)
class Excess:
    """One limit the image exceeds: what, how much, the board's limit and where."""

    what: str
    value: int
    limit: int
    limit_name: str
    offset: int  # byte offset of the field in the image (where the board would refuse)

    def __str__(self) -> str:
        return (f"{self.what} is {self.value:,}; the board allows at most {self.limit:,} "
                f"({self.limit_name})")


def block_work(image: ModelImage, k: int) -> int:
    """int16 scratch values block k needs per sample (model.h M-V3; with device rows,
    M-R3: the encoder's whole drive width and every row's sensed values)."""
    b = image.blocks[k].head
    drive = b.drive_width if b.rows else b.n_drive
    return b.d_in + drive + b.sensed + b.d_out


def excesses(image: ModelImage, caps: Caps, image_size: int | None = None) -> list[Excess]:
    """Every advertised limit the image exceeds, in image order."""
    head = image.head
    out: list[Excess] = []
    if image_size is not None and image_size > caps.model_capacity:
        out.append(Excess("the image", image_size, caps.model_capacity,
                          "caps.model_capacity, bytes of model memory", 0))
    if caps.max_classes and head.n_classes > caps.max_classes:
        out.append(Excess("the class count", head.n_classes, caps.max_classes,
                          "caps.max_classes", 10))
    if caps.infer_work and head.width > caps.infer_work:
        out.append(Excess("the input width (label slots + features)", head.width,
                          caps.infer_work, "caps.infer_work, int16 scratch values per sample",
                          12))
    at = ModelHead.size()
    for k, blk in enumerate(image.blocks):
        b = blk.head
        work = block_work(image, k)
        if caps.infer_work and work > caps.infer_work:
            drive = b.drive_width if b.rows else b.n_drive
            out.append(Excess(f"block {k}'s scratch (d_in {b.d_in} + drive {drive} + "
                              f"sense {b.sensed} + d_out {b.d_out})", work, caps.infer_work,
                              "caps.infer_work, int16 scratch values per sample", at + 2))
        if b.physical:
            for what, need, have, field, offset in (
                    ("drive channels", b.n_drive, caps.n_drive, "n_drive", 4),
                    ("sense channels", b.n_sense, caps.n_sense, "n_sense", 6),
                    ("settle time (us)", b.settle_us, caps.max_settle_us, "max_settle_us", 16),
                    ("oversampling", b.oversample, caps.max_oversample, "max_oversample", 20)):
                if need > have:
                    out.append(Excess(f"block {k}'s {what}", need, have, f"caps.{field}",
                                      at + offset))
        at += len(b.pack()) + 2 * (b.d_out * b.z_width + 2 * b.d_out)
        at += 2 * b.rows * b.n_drive  # M-R1: the slot map of a multi-row block
    return out


def check_fits(image: ModelImage, caps: Caps, image_size: int | None = None) -> None:
    """Raise DoesNotFit naming every limit the image exceeds (none: return)."""
    found = excesses(image, caps, image_size)
    if found:
        raise DoesNotFit(
            f"the model does not fit the board {caps.board!r}: "
            + "; ".join(str(e) for e in found)
            + ". Train a smaller model (fewer classes, features or hidden units), or use a "
              "board with larger limits (phyff info URL shows them)")


def explain_refusal(image: ModelImage, caps: Caps, offset: int) -> str | None:
    """The limit behind a board's BAD_MODEL refusal at `offset`, when it is one."""
    for e in excesses(image, caps):
        if e.offset == offset:
            return str(e)
    return None
