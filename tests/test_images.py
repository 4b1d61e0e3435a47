import struct
import zlib

import pytest
import torch

from zoo_core.images import grid, write_png


def read_png(path):
    """A minimal reader for the 8-bit, filter-0 PNGs write_png makes; checks every CRC."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = {}, 8
    while at < len(data):
        (length,), kind = struct.unpack(">I", data[at:at + 4]), data[at + 4:at + 8]
        body = data[at + 8:at + 8 + length]
        assert struct.unpack(">I", data[at + 8 + length:at + 12 + length])[0] == zlib.crc32(kind + body)
        chunks[kind] = body
        at += 12 + length
    w, h, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    c = 1 if colour == 0 else 3
    raw = zlib.decompress(chunks[b"IDAT"])
    rows = [raw[y * (w * c + 1):(y + 1) * (w * c + 1)] for y in range(h)]
    assert depth == 8 and all(row[0] == 0 for row in rows)
    return torch.tensor(list(b"".join(row[1:] for row in rows)), dtype=torch.uint8).reshape(h, w, c).permute(2, 0, 1)


@pytest.mark.parametrize("channels", [1, 3])
def test_a_grid_written_as_png_reads_back_pixel_for_pixel(tmp_path, channels):
    images = torch.randint(17, (5, channels, 4, 3))
    tiled = grid(images, 17, columns=2)
    assert tiled.shape == (channels, 3 * 6 + 2, 2 * 5 + 2)
    assert torch.equal(tiled[:, 2:6, 2:5], (images[0] * 255 // 16).to(torch.uint8))
    assert torch.equal(read_png(write_png(tiled, tmp_path / "g.png")), tiled)


def test_write_png_refuses_what_it_cannot_write(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_png(torch.zeros(2, 4, 4, dtype=torch.uint8), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
