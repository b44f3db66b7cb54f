"""The seed's Python API reference, every call run on a buffer that Erlang wrote.

``from erlang import PyBuffer`` works inside the VM and names the same type as
``py_buffer.PyBuffer``. Each step records what the seed's call returned.
"""

import py_buffer
from erlang import PyBuffer


def tour(buf):
    out = {'type_is_pybuffer': isinstance(buf, PyBuffer),
           'same_type': PyBuffer is py_buffer.PyBuffer}
    # Properties
    out['readable'] = buf.readable()      # True - always readable
    out['writable'] = buf.writable()      # False - not writable from Python
    out['seekable'] = buf.seekable()      # True - limited seeking supported
    out['closed'] = buf.closed            # False until buf.close()
    out['len'] = len(buf)                 # Available bytes
    # read_nonblock / readable_amount
    available = buf.readable_amount()
    out['readable_amount'] = available
    if available > 0:
        out['read_nonblock'] = buf.read_nonblock(6)
    # readline, tell, seek
    out['readline'] = buf.readline()      # through the newline
    out['tell'] = buf.tell()              # current byte offset
    out['seek_set'] = buf.seek(0)         # seek to beginning (SEEK_SET)
    out['seek_cur'] = buf.seek(10, 1)     # seek forward 10 bytes (SEEK_CUR)
    out['read_1024'] = buf.read(4)        # read up to N bytes
    # find
    out['find_newline'] = buf.find(b'\n')
    out['find_missing'] = buf.find(b'no such thing')
    # readlines with a hint, iteration
    out['readlines_hint'] = buf.readlines(1)
    out['iteration'] = [line for line in buf]
    # at EOF
    out['at_eof'] = buf.at_eof()          # EOF signalled and all data read
    out['read_at_eof'] = buf.read()       # empty bytes at EOF
    out['seek_end'] = buf.seek(-5, 2)     # 5 bytes before end (SEEK_END, requires EOF)
    out['read_rest'] = buf.read()
    buf.close()                            # mark buffer as closed
    out['closed_after_close'] = buf.closed
    return out
