"""Whether a zip file (.npz, .pt) is laid out exactly as calspike's writers lay one out.

An archive's own checksum (of a `.npz`'s arrays, of a checkpoint's state) covers what its
members hold; `bare_zip_members` covers the rest of the file, so that a user's bytes kept
anywhere in it (before, between or after the members, in a comment, in a header's extra
field, in a second member of the same name) make it a file calspike did not write.
"""

from __future__ import annotations

import os
import struct
import zipfile
from typing import BinaryIO

from calspike._inputs import open_input

_LOCAL = struct.Struct("<4s5H3I2H")  # a member's local header: 30 bytes before its name
_END = 22  # bytes of the end record of the central directory, without a comment
_ZIP64_END = 56 + 20  # the zip64 end record (no extensible data) and its locator
_ZIP64, _TORCH_PADDING = 0x0001, 0x4246  # torch.save aligns data with an "FB" field of "Z"s
_FLAGS = 0x0008 | 0x0800  # sizes after the data (torch), UTF-8 names: nothing else


def bare_zip_members(path: str | os.PathLike[str]) -> list[str] | None:
    """The member names of a zip file as numpy's `savez` or `torch.save` write one; else None.

    Every member stored (uncompressed) under its own name, each directly after the one
    before from the first byte on, the central directory directly after the last and the
    end records directly after it to the last byte; no comment; header extra fields only
    zip64 sizes and torch's padding. Member times are not content, and are not looked at.
    """
    with open_input(path) as stream:
        stream.seek(0, os.SEEK_END)
        size = stream.tell()
        stream.seek(0)
        if size < 2 * _END or stream.read(4) != b"PK\x03\x04":
            return None
        stream.seek(size - _END)
        tail = stream.read(_END)
        if tail[:4] != b"PK\x05\x06" or tail[-2:] != b"\0\0":  # an end record, no comment
            return None
        stream.seek(0)
        try:
            with zipfile.ZipFile(stream) as archive:
                members, directory = archive.infolist(), archive.start_dir
        except (zipfile.BadZipFile, ValueError, OSError):
            return None
        names = [m.filename for m in members]
        if len(set(names)) != len(names):
            return None
        end = 0
        for member in sorted(members, key=lambda m: m.header_offset):
            plain = member.header_offset == end and _plain_member(member)
            following = _member_end(stream, member) if plain else None
            if following is None:
                return None
            end = following
        if end != directory:  # bytes between the last member and the directory
            return None
        listed = directory + sum(map(_entry_size, members))
        if listed == size - _END - _ZIP64_END:  # then the zip64 end records must be there
            stream.seek(listed)
            records = stream.read(_ZIP64_END)
            if records[:4] != b"PK\x06\x06" or records[56:60] != b"PK\x06\x07":
                return None
        elif listed != size - _END:
            return None
    return names


def _plain_member(member: zipfile.ZipInfo) -> bool:
    return (
        not member.comment
        and not member.is_dir()
        and member.compress_type == zipfile.ZIP_STORED
        and member.flag_bits & ~_FLAGS == 0
        and _plain_extra(member.extra, member)
    )


def _plain_extra(extra: bytes, member: zipfile.ZipInfo) -> bool:
    """Whether a header's extra fields hold only zip64 sizes of `member` or torch's padding."""
    at = 0
    while at < len(extra):
        if at + 4 > len(extra):
            return False
        kind, length = struct.unpack_from("<2H", extra, at)
        payload = extra[at + 4 : at + 4 + length]
        if len(payload) != length:
            return False
        if kind == _TORCH_PADDING:
            if payload.strip(b"Z"):
                return False
        elif kind == _ZIP64:
            known = {0, member.file_size, member.compress_size, member.header_offset}
            if length % 8 or any(
                v not in known for v in struct.unpack(f"<{length // 8}Q", payload)
            ):
                return False
        else:
            return False
        at += 4 + length
    return True


def _member_end(stream: BinaryIO, member: zipfile.ZipInfo) -> int | None:
    """Where a member ends (its data, and the sizes written after it); None if it is not plain.

    Its local header must repeat the directory's name, method and sizes.
    """
    stream.seek(member.header_offset)
    header = stream.read(_LOCAL.size)
    if len(header) != _LOCAL.size:
        return None
    signature, _, flags, method, _, _, crc, packed, unpacked, name_length, extra_length = (
        _LOCAL.unpack(header)
    )
    name = stream.read(name_length)
    extra = stream.read(extra_length)
    encoding = "utf-8" if flags & 0x0800 else "cp437"
    sizes_after = bool(flags & 0x0008)
    if (
        signature != b"PK\x03\x04"
        or flags != member.flag_bits
        or method != zipfile.ZIP_STORED
        or name.decode(encoding, "replace") != member.orig_filename
        or not _plain_extra(extra, member)
        or not (sizes_after or crc == member.CRC)
    ):
        return None
    if not sizes_after and (packed, unpacked) not in (
        (member.compress_size, member.file_size),
        (0xFFFFFFFF, 0xFFFFFFFF),  # given in the zip64 field
    ):
        return None
    end = int(
        member.header_offset + _LOCAL.size + name_length + extra_length + member.compress_size
    )
    if not sizes_after:
        return end
    stream.seek(end)
    after = stream.read(24)
    body = after[4:] if after[:4] == b"PK\x07\x08" else after
    skip = len(after) - len(body)
    for form in ("<3I", "<I2Q"):  # 32-bit sizes, or 64-bit ones
        width = struct.calcsize(form)
        if len(body) >= width and struct.unpack_from(form, body) == (
            member.CRC,
            member.compress_size,
            member.file_size,
        ):
            return int(end + skip + width)
    return None


def _entry_size(member: zipfile.ZipInfo) -> int:
    """Bytes of a member's entry in the central directory."""
    encoding = "utf-8" if member.flag_bits & 0x0800 else "cp437"
    name = member.orig_filename.encode(encoding)
    return 46 + len(name) + len(member.extra) + len(member.comment)
