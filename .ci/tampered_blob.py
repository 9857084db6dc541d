"""Tampers with a bundle archive in place: one byte of its largest image blob is inverted.

Usage: python3 .ci/tampered_blob.py ARCHIVE

ARCHIVE is an uncompressed tar written by `misp-gen bundle` (changed in place: give it a copy).
The byte in the middle of the largest member under images/blobs/ is XORed with 0xff, so the
archive still reads as a tar but that blob's digest no longer matches. Prints the member's name
(images/blobs/sha256/...), which `bundle verify` and `bundle push` must then name.
"""

import sys
import tarfile

t = tarfile.open(sys.argv[1])
m = max((x for x in t.getmembers() if x.name.startswith("images/blobs/")), key=lambda x: x.size)
with open(sys.argv[1], "r+b") as f:
    f.seek(m.offset_data + m.size // 2)
    b = f.read(1)
    f.seek(m.offset_data + m.size // 2)
    f.write(bytes([b[0] ^ 0xff]))
print(m.name)
