"""A TCP port on 127.0.0.1 that is free now, printed on standard output.

Usage: python3 .ci/free_port.py

Binds port 0 and prints the port the kernel chose (it is released on exit, so a caller may lose
it to another process and should retry: tests/e2e/bundle.sh tries three times).
"""

import socket

s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
