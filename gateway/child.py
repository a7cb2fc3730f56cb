"""One child process, one call in flight: the parent sends a request over a socket pair and reads its answer. Used
by the gateway's storage process (``gateway.storage``, forked) and the linker processes (``mailassist.linkpool``,
from a fork server).

Framing, death detection, kill and reap, and the end of a child whose parent is gone are all here:

* Each frame is its length (8 bytes, big-endian), then a pickle. Only the parent and its own child hold the two
  ends of the socket pair, so nothing else can put a pickle there (mail is inside as ``bytes``, never unpickled).
* The child first sends its pid (it is ready), then one answer per request: the ``Service``'s return value, or
  the exception it raised (raised again in the parent). An exception that does not pickle goes as the service's
  ``plain`` version of it.
* One call at a time, and a call that did not read its answer (the child died, or the calling thread was
  interrupted, as by dramatiq's time limit, anywhere between the send and the read) leaves the child ``lost``:
  its answers can no longer be matched to calls, and every later call raises ``ChildGoneError``.
* The parent hangs up to stop a child: the child reads the end of the stream once its call is answered, and
  ends. A parent that dies hangs up too; with ``exit_with_parent`` the child ends at once, even mid-call.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import pickle
import select
import signal
import socket
import struct
import threading
import time
from multiprocessing.context import BaseContext
from typing import Any, Protocol

import structlog

log = structlog.get_logger("gateway")

_HEADER = struct.Struct(">Q")
#: A child exits with this when its own code failed (not when the parent hung up).
CRASHED = 70
#: What a child with ``exit_with_parent`` exits with when its parent is gone (mid-call or idle).
ORPHANED = 75


class ChildGoneError(Exception):
    """The child is gone, or its answers can no longer be matched to calls. ``sent``: whether this call's request
    had gone to it (then it may have acted on it, unacknowledged)."""

    def __init__(self, message: str = "child process lost", *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class Service(Protocol):
    """What a child runs: ``start`` first, then ``call`` per request; ``answered`` after each answer is sent, and
    ``stop`` last, once the parent has hung up."""

    def start(self) -> None: ...

    def call(self, request: Any) -> Any: ...

    def answered(self) -> None: ...

    def stop(self) -> None: ...

    def plain(self, exc: BaseException) -> BaseException:
        """``exc`` as an exception that pickles."""
        ...


class _Process(Protocol):
    @property
    def pid(self) -> int | None: ...

    def is_alive(self) -> bool: ...

    def kill(self) -> None: ...

    def join(self, timeout: float | None = None) -> None: ...


class _Forked:
    """A child made by ``os.fork`` with the few verbs of ``multiprocessing.Process`` that ``Child`` uses."""

    def __init__(self, pid: int) -> None:
        self.pid: int | None = pid
        self._ended = False

    def is_alive(self) -> bool:
        if self._ended or self.pid is None:
            return False
        try:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            done = self.pid
        self._ended = done != 0  # and now reaped
        return not self._ended

    def kill(self) -> None:
        if self.is_alive() and self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_alive() and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.01)


class Child:
    """One child process running a ``Service``, and the parent's end of its socket pair."""

    def __init__(self, process: _Process, sock: socket.socket) -> None:
        self.process = process
        self._sock = sock
        self._file: Any = None  # made on first use: a child used through ``acall`` never has one
        self._lock = threading.Lock()
        self._ready = False
        #: A call sent whose answer was not read (see the module docstring).
        self._in_flight = False
        self.lost = False
        self._hung_up = False
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @classmethod
    def fork(cls, service: Service) -> Child:
        """Fork a child running ``service``: it inherits this process as it is (call with no other thread alive,
        and before serving, so it inherits no client connection and no listening socket)."""
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            code = CRASHED
            try:
                ours.close()
                # The parent's event loop set a wakeup fd for its signals: a signal here must not write into its
                # self-pipe.
                signal.set_wakeup_fd(-1)
                code = serve(theirs, service)
            except BaseException:
                log.exception("child process crashed")
            finally:
                # Never back into the parent's code: no asyncio loop, no atexit hooks, no buffers flushed twice.
                os._exit(code)
        theirs.close()
        return cls(_Forked(pid), ours)

    @classmethod
    def spawn(cls, context: BaseContext, service: Service, *, name: str) -> Child:
        """Start a child running ``service`` (pickled) from ``context`` (a fork server); it ends at once when this
        process is gone, whatever its state."""
        ours, theirs = socket.socketpair()
        process = context.Process(target=_spawned, args=(theirs, service), name=name, daemon=True)  # type: ignore[attr-defined]
        process.start()
        theirs.close()
        return cls(process, ours)

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def in_step(self) -> bool:
        """Whether the next call's answer will be its own: not lost, and no call left without its answer."""
        return not self.lost and not self._in_flight

    def wait_ready(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the child to start; False if it did not in time. ``ChildGoneError``
        if it ended instead."""
        if self._ready:
            return True
        readable, _, _ = select.select([self._sock], [], [], max(0.0, timeout))
        if not readable:
            return False
        try:
            self._read()
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            self.lost = True
            raise ChildGoneError("child process could not start", sent=False) from exc
        self._ready = True
        return True

    def call(self, request: Any) -> Any:
        """``service.call(request)`` in the child, from a thread: its answer, or the exception it raised;
        ``ChildGoneError`` if the child is lost."""
        with self._lock:
            self._check()
            self._in_flight = True
            sent = False
            try:
                if not self._ready:
                    self._read()
                    self._ready = True
                self._sock.sendall(_frame(request))
                sent = True
                answer = self._read()
            except (OSError, EOFError, pickle.UnpicklingError) as exc:
                self._lose(f"{type(exc).__name__}: {exc}")
                raise ChildGoneError("child process lost during a call", sent=sent) from exc
            self._in_flight = False
        return _raised(answer)

    async def acall(self, request: Any) -> Any:
        """``call`` for an event loop (a child used through ``acall`` is never used through ``call``)."""
        self._check()
        self._in_flight = True
        sent = False
        try:
            if self._reader is None or self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(sock=self._sock, limit=1 << 20)
            if not self._ready:
                await self._aread(self._reader)
                self._ready = True
            self._writer.write(_frame(request))
            sent = True
            await self._writer.drain()
            answer = await self._aread(self._reader)
        except (OSError, EOFError, asyncio.IncompleteReadError, pickle.UnpicklingError) as exc:
            self._lose(f"{type(exc).__name__}: {exc}")
            raise ChildGoneError("child process lost during a call", sent=sent) from exc
        self._in_flight = False
        return _raised(answer)

    def _check(self) -> None:
        """Raise ``ChildGoneError`` (nothing sent) unless the child can take a call."""
        if self._in_flight:  # an earlier call was interrupted: its answer would be read as this one's
            self._lose("a call was interrupted before its answer was read")
        elif not self.lost and not self.process.is_alive():
            self._lose("exited")
        if self.lost:
            raise ChildGoneError(sent=False)

    def _read(self) -> Any:
        if self._file is None:
            self._file = self._sock.makefile("rb")
        header = self._file.read(_HEADER.size)
        if len(header) < _HEADER.size:
            raise EOFError("child process hung up")
        (size,) = _HEADER.unpack(header)
        payload = self._file.read(size)
        if len(payload) < size:
            raise EOFError("child process hung up")
        return pickle.loads(payload)  # noqa: S301 (see the module docstring)

    @staticmethod
    async def _aread(reader: asyncio.StreamReader) -> Any:
        (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
        return pickle.loads(await reader.readexactly(size))  # noqa: S301 (see the module docstring)

    def _lose(self, why: str) -> None:
        """The child is gone, or cannot be understood: make sure it is gone and reaped."""
        if self._hung_up:  # stopping: the stop waits for it to end (its call finished) before it kills it
            self.lost = True
            return
        if not self.lost:
            log.error("child process lost", pid=self.pid, error=why)
        self.lost = True
        self.kill()

    def hang_up(self) -> None:
        """Tell the child to end once it has answered the call in flight (it reads the end of the stream)."""
        self._hung_up = True
        if self._writer is not None:
            self._writer.close()
        else:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_WR)

    def end(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a child that was hung up on to end, then kill it and close its socket;
        True if it ended in time."""
        self.process.join(max(0.0, timeout))
        ended = not self.process.is_alive()
        self.kill()
        self.close()
        return ended

    def stop(self, timeout: float) -> bool:
        """Hang up, wait up to ``timeout`` seconds for the child to end, then kill it; True if it ended in time."""
        self.hang_up()
        return self.end(timeout)

    def kill(self) -> None:
        """Kill the child (if it still runs) and reap it; later calls raise ``ChildGoneError``."""
        self.lost = True
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked reading it

    def close(self) -> None:
        """Close the parent's end (after ``kill`` or ``end``), once no thread is reading it."""
        if self._writer is not None:
            self._writer.close()
            return
        if not self._lock.acquire(timeout=5):  # a thread still in ``call`` keeps it; it goes with this object
            return
        try:
            if self._file is not None:
                self._file.close()
            self._sock.close()
        finally:
            self._lock.release()


def _raised(answer: Any) -> Any:
    if isinstance(answer, BaseException):
        raise answer
    return answer


def _frame(obj: Any) -> bytes:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(payload)) + payload


# --- in the child -----------------------------------------------------------------------------------------------


def _spawned(sock: socket.socket, service: Service) -> None:
    """A child started from a fork server: it ends with its parent, then serves."""
    _exit_with_parent()
    code = serve(sock, service)
    if code:
        os._exit(code)


def _exit_with_parent() -> None:
    """Exit as soon as the process that started this child is gone. Its sentinel (a pipe whose other end only that
    process holds) turns readable when it exits, however it exited."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(ORPHANED)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def serve(sock: socket.socket, service: Service) -> int:
    """The child's loop: start, say so, then answer each request until the parent hangs up (or dies)."""
    service.start()
    try:
        sock.sendall(_frame(os.getpid()))
        stream = sock.makefile("rb")
        while True:
            header = stream.read(_HEADER.size)
            if len(header) < _HEADER.size:
                return 0
            (size,) = _HEADER.unpack(header)
            request = pickle.loads(stream.read(size))  # noqa: S301 (see the module docstring)
            try:
                answer: Any = service.call(request)
            except BaseException as exc:  # the caller's to raise: dramatiq.Retry above all
                answer = exc
            try:
                sock.sendall(_answer_frame(answer, service))
            except OSError:
                return 0  # the parent is gone: nobody to answer
            service.answered()
    finally:
        service.stop()


def _answer_frame(answer: Any, service: Service) -> bytes:
    """``answer`` as a frame; an exception in it that does not pickle goes as the service's ``plain`` version."""
    try:
        return _frame(answer)
    except Exception:
        if isinstance(answer, BaseException):
            return _frame(service.plain(answer))
        return _frame([service.plain(o) if isinstance(o, BaseException) else o for o in answer])
