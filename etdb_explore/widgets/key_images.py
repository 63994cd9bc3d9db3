"""A dataset's key image (or thumbnail) for the index browser, read verified from IPFS and checked to be an image."""

from __future__ import annotations

from typing import TYPE_CHECKING

from etdb_explore.errors import EtdbError

if TYPE_CHECKING:
    from etdb_explore.content.client import Client
    from etdb_explore.index.index import Index

IMAGE_SUBTYPES = ("keyimg", "thumbnail")  # preferred first: the key image, else the thumbnail
MAX_IMAGE_BYTES = 8 * 2**20  # a key image larger than this is not fetched for a preview

_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"GIF87a", "image/gif"),
          (b"GIF89a", "image/gif"))


class ImageError(EtdbError, ValueError):
    """A dataset has no key image, or its key image is too large or not an image (names the dataset or file)."""


def image_path(index: Index, txid: str) -> str:
    """The IPFS path of a dataset's key image, else its thumbnail.

    Returns:
        ``<location>/<fname>`` of the image.

    Raises:
        ImageError: the dataset has neither (naming the txid).
    """
    files = index.files
    mine = files[(files["txid"] == txid).fillna(False).to_numpy(dtype=bool)]
    subtypes = mine["subtype"].astype("string")
    for subtype in IMAGE_SUBTYPES:
        hits = mine[(subtypes == subtype).fillna(False).to_numpy(dtype=bool)]
        if len(hits):
            return str(hits["ipfs_path"].iloc[0])
    raise ImageError(f"dataset {txid} has no key image or thumbnail")


def image_type(data: bytes, path: str) -> str:
    """The MIME type of an image from its first bytes (JPEG, PNG, GIF or WebP).

    Returns:
        The MIME type.

    Raises:
        ImageError: ``data`` is none of these (naming ``path``).
    """
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise ImageError(f"{path} is not a JPEG, PNG, GIF or WebP image (it starts with {data[:8].hex()})")


async def aread_image(client: Client, path: str) -> tuple[bytes, str]:
    """Read an image file, every byte verified against its CID; its size is checked (from the verified DAG) first.

    Returns:
        ``(bytes, MIME type)``.

    Raises:
        ImageError: the file exceeds :data:`MAX_IMAGE_BYTES` or is not an image.
        EtdbError: as :meth:`Client.aread` (missing blocks, a wrong block, a bad path).
    """
    stat = await client.astat(path)
    if stat.type != "file":
        raise ImageError(f"{path} is a {stat.type}, not an image file")
    if stat.size > MAX_IMAGE_BYTES:
        raise ImageError(f"{path} has {stat.size} bytes; a preview reads at most {MAX_IMAGE_BYTES}")
    data = await client.aread(path)
    return data, image_type(data, path)
