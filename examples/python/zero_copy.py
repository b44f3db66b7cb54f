"""The seed's performance tips in Python: memoryview for zero-copy access, ``find`` for parsing.

`split_at_boundary` is the seed's snippet as written (``mv = memoryview(buf)``,
``boundary_pos = buf.find(b'--boundary')``, ``part = bytes(mv[:boundary_pos])``), plus the
seed's memoryview properties.
"""


def split_at_boundary(buf):
    # Process without copying
    mv = memoryview(buf)
    boundary_pos = buf.find(b'--boundary')
    part = bytes(mv[:boundary_pos])
    facts = {
        'part': part,
        'boundary_pos': boundary_pos,
        'first_byte': mv[0],
        'slice': bytes(mv[10:20]),
        'readonly': mv.readonly,
        'ndim': mv.ndim,
        'nbytes': mv.nbytes,
    }
    # Release when done
    mv.release()
    return facts
