"""A small workload to record: it reads and writes files, talks to itself over loopback TCP and runs a child.

`python3 app.py` prints what it did and exits 0; `python3 app.py --also-mkdir` then also creates a directory,
which the recorded run never did, and prints the outcome (under the recorded profile: Operation not permitted).
"""

import os
import socket
import subprocess
import sys
import tempfile
import threading


def serve_once(server: socket.socket) -> None:
    connection, _ = server.accept()
    with connection:
        connection.sendall(connection.recv(64).upper())


def main() -> int:
    with tempfile.NamedTemporaryFile("w+", suffix=".txt") as handle:
        handle.write("hello from the workload\n")
        handle.flush()
        with open(handle.name) as again:
            print("file:", again.read().strip())

    with socket.create_server(("127.0.0.1", 0)) as server:
        thread = threading.Thread(target=serve_once, args=(server,))
        thread.start()
        with socket.create_connection(server.getsockname()) as client:
            client.sendall(b"ping over loopback")
            print("network:", client.recv(64).decode())
        thread.join()

    child = subprocess.run([sys.executable, "-c", "print('child says hi')"], capture_output=True, text=True, check=True)
    print("child:", child.stdout.strip())

    if "--also-mkdir" in sys.argv:
        try:
            os.mkdir(os.path.join(tempfile.gettempdir(), "never-recorded"))
            print("mkdir: made")
        except OSError as exc:
            print("mkdir:", exc.strerror)
    return 0


if __name__ == "__main__":
    sys.exit(main())
