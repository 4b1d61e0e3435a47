"""Image grids as PNG files, for `zoo sample`.

PNG is written here with zlib, in a few lines, because none of zoo's dependencies writes it
and an imaging library would be a heavy dependency for one file format.
"""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from pathlib import Path

import torch

__all__ = ["grid", "write_png"]


def grid(images: torch.Tensor, num_levels: int, *, columns: int, pad: int = 2) -> torch.Tensor:
    """Tile images (N, C, H, W) with levels in [0, num_levels) into one uint8 image (C, H', W').

    Levels are scaled to 0..255; the padding between tiles is mid-grey.
    """
    n, c, h, w = images.shape
    rows = -(-n // columns)
    scaled = (images.long() * 255 // max(num_levels - 1, 1)).to(torch.uint8)
    out = torch.full((c, rows * (h + pad) + pad, columns * (w + pad) + pad), 128, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        out[:, top:top + h, left:left + w] = scaled[i]
    return out


def write_png(image: torch.Tensor, path) -> Path:
    """Write a uint8 image (1 or 3, H, W) as an 8-bit greyscale or RGB PNG, atomically."""
    if image.dtype != torch.uint8 or image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected a uint8 tensor (1 or 3, H, W), got {image.dtype} {tuple(image.shape)}")
    c, h, w = image.shape
    pixels = image.permute(1, 2, 0).contiguous().numpy().tobytes()
    raw = b"".join(b"\x00" + pixels[y * w * c:(y + 1) * w * c] for y in range(h))  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, 0 if c == 1 else 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path
