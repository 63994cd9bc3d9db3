"""The sync bridge: a timeout and Ctrl-C cancel the coroutine waited on, a forked child gets its own loop, and
``arun`` awaits the I/O loop's work from any loop."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from etdb_explore.errors import EtdbError, RunTimeoutError
from etdb_explore.util import bridge

from ..subprocesses import finish, read_line, run_python, start_python


def test_a_timeout_cancels_the_coroutine_and_names_it():
    seen = []

    async def slow_lookup():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    started = time.monotonic()
    with pytest.raises(RunTimeoutError, match=r"slow_lookup did not finish within 0.2 s") as caught:
        bridge.run(slow_lookup(), timeout=0.2)
    assert isinstance(caught.value, (EtdbError, TimeoutError)) and seen == ["cancelled"]
    assert time.monotonic() - started < 5
    assert bridge.run(asyncio.sleep(0, "in time"), timeout=5) == "in time"

    async def waits_for_itself():
        return bridge.run(asyncio.sleep(0))

    with pytest.raises(RuntimeError, match="from the I/O loop itself"):
        bridge.run(waits_for_itself())


CTRL_C = """
import asyncio, signal, sys, threading, time
from etdb_explore.util import bridge

ticks = []

async def work():
    try:
        while True:
            ticks.append(1)
            if len(ticks) == 1:
                print("running", flush=True)  # the coroutine runs on the I/O loop: bridge.run waits for it
                if sys.argv[1] == "io-thread":
                    await asyncio.sleep(0.2)  # the main thread is blocked in its wait by now
                    signal.pthread_kill(threading.get_ident(), signal.SIGINT)
            await asyncio.sleep(0.01)
    except asyncio.CancelledError:
        print("cancelled", flush=True)
        raise

try:
    bridge.run(work())
except KeyboardInterrupt:
    before = len(ticks)
    time.sleep(0.5)  # work still running in the background would tick about 50 times now
    print("interrupted; ticks since:", len(ticks) - before, flush=True)
"""


def test_ctrl_c_cancels_the_coroutine_it_interrupts():
    """SIGINT to the process once the coroutine runs (it says so): run raises KeyboardInterrupt, and the coroutine
    was cancelled (and unwound) before, so nothing of it runs on."""
    process = start_python(CTRL_C, "process")
    assert read_line(process, 60) == "running\n"
    process.send_signal(signal.SIGINT)
    code, out, err = finish(process, 30)
    assert code == 0, err
    assert out.splitlines() == ["cancelled", "interrupted; ticks since: 0"]


def test_ctrl_c_taken_by_the_io_thread_still_interrupts_the_waiting_call():
    """A signal sent to the process may be taken by any of its threads, and one that lands while the main thread is
    on its way into a lock wait interrupts no wait of it either: Python's handler must still run in the main thread
    and interrupt the call that waits there. Here the signal lands on the I/O thread, after the main thread blocked."""
    code, out, err = run_python(CTRL_C, "io-thread", timeout=30)
    assert code == 0, err
    assert out.splitlines() == ["running", "cancelled", "interrupted; ticks since: 0"]


FIRST_CALL_INTERRUPTED = """
import asyncio, threading
from etdb_explore.util import bridge

start = threading.Thread.start
def interrupted(thread):  # Ctrl-C as the first call starts the I/O thread, before the thread runs
    threading.Thread.start = start
    raise KeyboardInterrupt
threading.Thread.start = interrupted
try:
    bridge.run(asyncio.sleep(0, "first"))
except KeyboardInterrupt:
    print("interrupted", flush=True)
print(bridge.run(asyncio.sleep(0, "next"), timeout=5), flush=True)
"""


def test_a_call_after_ctrl_c_interrupted_the_io_loop_start_gets_a_running_loop():
    code, out, err = run_python(FIRST_CALL_INTERRUPTED, timeout=30)
    assert code == 0, err
    assert out.splitlines() == ["interrupted", "next"]
    assert "Warning" not in err, err


FORK = """
import asyncio, os
from etdb_explore.util import bridge

parent_loop = bridge.io_loop()
assert bridge.run(asyncio.sleep(0, "parent")) == "parent"
pid = os.fork()
if pid == 0:  # the parent's I/O thread does not exist here: a plain call needs a loop of its own
    os._exit(0 if bridge.run(asyncio.sleep(0, "child")) == "child" and bridge.io_loop() is not parent_loop else 1)
_, status = os.waitpid(pid, 0)
print("child exit", os.waitstatus_to_exitcode(status), flush=True)
print(bridge.run(asyncio.sleep(0, "parent again")), flush=True)
"""


def test_a_forked_child_gets_its_own_loop():
    code, out, err = run_python(FORK, timeout=30)
    assert code == 0, err
    assert out.splitlines() == ["child exit 0", "parent again"]


async def test_arun_awaits_the_io_loop_from_any_loop():
    async def where():
        return asyncio.get_running_loop()

    assert await bridge.arun(where()) is bridge.io_loop() is not asyncio.get_running_loop()
    with pytest.raises(KeyError, match="raised over there"):
        await bridge.arun(_raise(KeyError("raised over there")))


async def _raise(exc: Exception) -> None:
    raise exc
