"""gateway.child: one call in flight per child, each answer matched to its own call, even when the calling thread is
interrupted (dramatiq's time limit) between the send and the read."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
from typing import Any

import pytest
from dramatiq.middleware.time_limit import TimeLimitExceeded

from gateway.child import Child, ChildGoneError


class Echo:
    """Answers each request with itself; ``"raise"`` is answered with an exception (the child stays in step)."""

    def start(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    def call(self, request: Any) -> Any:
        if request == "raise":
            raise ValueError("asked to")
        return request

    def answered(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def plain(self, exc: BaseException) -> BaseException:
        return RuntimeError(str(exc))


class _InterruptedAfterSend:
    """The child's socket, but the calling thread is interrupted right after the request went out, as dramatiq's
    time limit does (an exception raised asynchronously into the thread, at any bytecode)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)
        raise TimeLimitExceeded()


def test_answers_come_back_one_per_call_and_exceptions_are_raised() -> None:
    child = Child.fork(Echo())
    try:
        assert child.wait_ready(10)
        assert [child.call(n) for n in range(3)] == [0, 1, 2]
        with pytest.raises(ValueError, match="asked to"):
            child.call("raise")
        # Its own answer, an exception, leaves the child in step
        assert child.in_step
        assert child.call("next") == "next"
    finally:
        assert child.stop(10)


@pytest.mark.parametrize("start", ["fork", "forkserver"])
def test_a_time_limit_between_the_send_and_the_read_shifts_no_later_answer(start: str) -> None:
    if start == "fork":
        child = Child.fork(Echo())
    else:
        child = Child.spawn(multiprocessing.get_context("forkserver"), Echo(), name="echo")
    try:
        assert child.wait_ready(60)
        assert child.call("first") == "first"
        # Given a call whose thread is interrupted once its request has gone out, before it read the answer
        real = child._sock
        child._sock = _InterruptedAfterSend(real)  # type: ignore[assignment]
        with pytest.raises(TimeLimitExceeded):
            child.call("interrupted")
        child._sock = real
        # Then the child is out of step, and the next call is refused rather than handed "interrupted" as its answer
        assert not child.in_step
        with pytest.raises(ChildGoneError) as gone:
            child.call("second")
        assert gone.value.sent is False
        # And it was killed and reaped: nothing of it is left to answer anyone
        assert not child.process.is_alive()
    finally:
        child.end(1)
    # A new child answers each call with its own answer
    fresh = Child.fork(Echo())
    try:
        assert [fresh.call(x) for x in ("second", "third")] == ["second", "third"]
    finally:
        assert fresh.stop(10)


def test_a_killed_child_is_found_gone_before_the_call_is_sent() -> None:
    child = Child.fork(Echo())
    assert child.wait_ready(10)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.process.join(5)
    with pytest.raises(ChildGoneError) as gone:
        child.call("x")
    assert gone.value.sent is False
    with pytest.raises(ChildProcessError):  # reaped
        os.waitpid(child.pid, os.WNOHANG)
    child.close()


def test_an_event_loop_uses_the_same_child_through_acall() -> None:
    child = Child.fork(Echo())

    async def calls() -> list[Any]:
        answers = [await child.acall("a"), await child.acall(["b", 2])]
        with pytest.raises(ValueError, match="asked to"):
            await child.acall("raise")
        child.hang_up()
        return answers

    assert asyncio.run(calls()) == ["a", ["b", 2]]
    assert child.end(10)
