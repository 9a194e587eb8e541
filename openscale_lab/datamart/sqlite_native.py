"""Large reads of a SQLite data mart in native code, in a process of their own.

Python's sqlite3 cursor makes a Python object of every value: a million payload records of 24 columns take
about 6 seconds to fetch and as many again to build into a frame. ConnectorX reads SQLite into Arrow columns
in native code, but with a SQLite library of its own, and SQLite's file locks are per process: a second SQLite
library in the lab's process releases the locks the first holds when it closes the file (the deployment
writing while a monitor reads then gets "disk I/O error"). So ConnectorX reads in a child process, which locks
the file as any other process does, and hands the rows back as an Arrow stream. The child costs about a fifth
of a second to start; it is for reads of at least `NATIVE_ROWS` rows, and a read it cannot do (ConnectorX
missing, a value it cannot type) is done by the cursor instead.

The child is this file run as a script (`python sqlite_native.py`, {"path": ..., "sql": ...} as JSON on stdin):
it imports only ConnectorX and pyarrow, not the lab.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    import pyarrow as pa

NATIVE_ROWS = 100_000  # below this, the cursor in this process is as fast as starting the child
_said: set[str] = set()  # why the child could not read, said once per process


def read_arrow(path: str, sql: str, timeout: float = 600.0) -> pa.Table | None:
    """The rows of `sql` over the SQLite file `path` as an Arrow table, read by ConnectorX in a child process;
    None when the child could not read them (the caller then reads them itself; why is logged once)."""
    import pyarrow as pa

    try:
        done = subprocess.run([sys.executable, __file__], input=json.dumps({"path": path, "sql": sql}).encode(),
                              capture_output=True, timeout=timeout, check=False)
        if done.returncode == 0 and done.stdout:
            return pa.ipc.open_stream(done.stdout).read_all()
        why = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
    except (OSError, subprocess.TimeoutExpired, pa.ArrowInvalid) as error:
        why = [str(error)]
    if why[0] not in _said:
        _said.add(why[0])
        logging.getLogger(__name__).warning("SQLite window read in this process instead of natively: %s", why[0])
    return None


def main() -> int:
    """The child: read the request from stdin, write the rows to stdout as an Arrow stream."""
    try:
        import connectorx as cx
        import pyarrow as pa
    except ImportError as missing:
        print(f"cannot read natively: {missing}", file=sys.stderr)
        return 3
    request = json.loads(sys.stdin.buffer.read())
    table: Any = cx.read_sql("sqlite://" + quote(request["path"]), request["sql"], return_type="arrow")
    with pa.ipc.new_stream(sys.stdout.buffer, table.schema) as out:
        out.write_table(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
