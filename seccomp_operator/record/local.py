"""Record every system call of a local command, its threads and its children, with seccomp user notification.

The supervisor (this process) forks the command's process, which loads the notify filter (`notify.py`) and execs
the command; from then on every syscall of the whole process tree stops in the kernel until the supervisor has
noted (pid, audit arch, number) and answered "continue". See README.md for the protocol and why nothing can be lost.

This module takes over the process's child handling (it becomes a child subreaper and reaps every child with
`waitpid(-1)`), so run it in a process of its own, as `seccomp-operator record` does.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import shutil
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

from seccomp_operator.profile.arches import ARCHES
from seccomp_operator.profile.syscalls import native_arch, native_number
from seccomp_operator.record import notify
from seccomp_operator.record.procs import descendants, has_cap_sys_admin

CAPTURE_TIMEOUT = 10.0  # seconds for the child to load its filter and for us to take the listener
_EXIT_EXEC_FAILED = 127
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class RecordError(Exception):
    """The recording could not be made (the command could not be started, the kernel refused the filter...)."""


@dataclass
class Recording:
    """What a recording saw. `calls` counts each (audit arch, syscall number) the command's tasks made after the
    command was exec'd (the recorder's own calls between loading the filter and execve are left out)."""

    command: tuple[str, ...]
    calls: Counter[tuple[int, int]] = field(default_factory=Counter)
    tasks: set[int] = field(default_factory=set)  # every pid/tid that made a call
    exit_status: int | None = None  # like subprocess: the exit code, or -N for a signal
    stopped_by: str | None = None  # why the recorder stopped the command, if it did
    killed: int = 0  # processes still running after the grace period, SIGKILLed
    seconds: float = 0.0

    @property
    def notifications(self) -> int:
        return sum(self.calls.values())


Progress = Callable[[str], None]


def resolve_executable(name: str, env: Mapping[str, str]) -> str:
    """The absolute path execve will run: resolved here, so the child makes exactly one execve."""
    if "/" in name:
        path = os.path.abspath(name)
    else:
        found = shutil.which(name, path=env.get("PATH", os.defpath))
        if found is None:
            raise RecordError(f"{name}: command not found in PATH")
        path = os.path.abspath(found)
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise RecordError(f"{path}: not an executable file")
    return path


class _Wakeup:
    """Signals of interest turned into bytes on a pipe, so one poll() waits for them and the listener alike."""

    def __init__(self) -> None:
        self.read_fd, self._write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._old_handlers: dict[int, object] = {}
        self._old_wakeup = -1

    def __enter__(self) -> _Wakeup:
        def note(_signum: int, _frame: FrameType | None) -> None:
            pass  # the C-level handler has already written the signal number to the wakeup pipe

        for signum in (*_STOP_SIGNALS, signal.SIGCHLD):
            self._old_handlers[signum] = signal.signal(signum, note)
        self._old_wakeup = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        return self

    def __exit__(self, *_exc: object) -> None:
        signal.set_wakeup_fd(self._old_wakeup)
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        os.close(self.read_fd)
        os.close(self._write_fd)

    def drain(self) -> list[int]:
        received: list[int] = []
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.read_fd, 256):
                received.extend(chunk)
        return received


def _exec_child(
    sync_fd: int,
    path: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    stdout_fd: int | None,
    notify_filter: notify.NotifyFilter,
    no_new_privs: bool,
) -> None:
    """In the forked child: announce the fd number the listener will get, load the filter, exec. Never returns.

    The kernel gives the listener the lowest free descriptor; opening and closing one finds that number before the
    filter exists, while a write still cannot block on a notification nobody is there to answer."""
    try:
        for signum in (*_STOP_SIGNALS, signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(signum, signal.SIG_DFL)  # Python ignores SIGPIPE and SIGXFSZ; the command must not
        if stdout_fd is not None:
            os.dup2(stdout_fd, 1)
        probe = os.open("/dev/null", os.O_RDONLY)
        os.close(probe)
        os.write(sync_fd, probe.to_bytes(4, "little"))
        listener = notify_filter.install(no_new_privs=no_new_privs)
        if listener != probe:
            raise RecordError(f"the listener got fd {listener}, not {probe}")
        os.execve(path, list(argv), dict(env))  # noqa: S606 (the command is what the user asked to record)
    except BaseException as exc:  # report through the pipe, whatever went wrong
        with contextlib.suppress(BaseException):
            os.write(sync_fd, f"E{type(exc).__name__}: {exc}".encode(errors="replace"))
    os._exit(_EXIT_EXEC_FAILED)


def _wait_readable(fd: int, deadline: float) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while (remaining := deadline - time.monotonic()) > 0:
        if poller.poll(remaining * 1000):
            return True
    return False


def _take_listener(child: int, pidfd: int, fd_number: int, deadline: float) -> notify.Listener:
    """Copy the listener out of the child. The child announced the number before loading the filter, so the copy is
    retried (briefly, with a growing pause) until the filter is there; the child cannot run ahead meanwhile: its
    first syscall after loading waits for us."""
    pause = 0.0002
    while True:
        try:
            fd = notify.pidfd_getfd(pidfd, fd_number)
        except OSError as exc:
            if exc.errno != errno.EBADF:
                raise RecordError(f"cannot take the listener from the command's process: {exc}") from exc
        else:
            if notify.is_notify_fd(fd):
                return notify.Listener(fd)
            os.close(fd)
        done, _status = os.waitpid(child, os.WNOHANG)
        if done:
            raise RecordError("the command's process exited before it loaded the recording filter")
        if time.monotonic() > deadline:
            raise RecordError(f"the recording filter did not appear in the command's process within {CAPTURE_TIMEOUT}s")
        time.sleep(pause)
        pause = min(pause * 2, 0.02)


def _signal_all(pids: Iterator[int] | list[int], signum: int) -> int:
    sent = 0
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
            sent += 1
    return sent


def record_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdout_fd: int | None = None,
    duration: float | None = None,
    grace: float = 10.0,
    progress: Progress = lambda _line: None,
) -> Recording:
    """Run `argv` under the recording filter until every process of its tree has exited; return what it called.

    `stdout_fd` replaces the command's stdout (the CLI sends it to stderr when the profile goes to stdout).
    `duration`: after that many seconds, or on SIGINT/SIGTERM/SIGHUP to this process, the command's processes get
    SIGTERM (their shutdown is recorded too) and, `grace` seconds later, SIGKILL."""
    if not argv:
        raise RecordError("no command given")
    environment = dict(os.environ if env is None else env)
    path = resolve_executable(argv[0], environment)
    try:
        notify.check_kernel()
    except OSError as exc:
        raise RecordError(f"this kernel cannot record with seccomp user notification: {exc}") from exc
    notify_filter = notify.NotifyFilter()
    no_new_privs = not has_cap_sys_admin()
    native = ARCHES[native_arch()].token
    execs = {(native, native_number("execve")), (native, native_number("execveat"))}
    recording = Recording(command=tuple(argv))
    started = time.monotonic()
    notify.set_child_subreaper()
    with _Wakeup() as wakeup:
        sync_read, sync_write = os.pipe2(os.O_CLOEXEC)
        child = os.fork()
        if child == 0:
            os.close(sync_read)
            _exec_child(sync_write, path, argv, environment, stdout_fd, notify_filter, no_new_privs)
        os.close(sync_write)
        pidfd = os.pidfd_open(child)
        listener: notify.Listener | None = None
        try:
            deadline = time.monotonic() + CAPTURE_TIMEOUT
            if not _wait_readable(sync_read, deadline) or len(number := os.read(sync_read, 4)) != 4:
                raise RecordError("the command's process did not start")
            listener = _take_listener(child, pidfd, int.from_bytes(number, "little"), deadline)
            progress(f"recording {path} (pid {child})")
            _Supervisor(recording, listener, wakeup, sync_read, child, execs, duration, grace, progress).run()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
            _signal_all(list(descendants(os.getpid())), signal.SIGKILL)
            raise
        finally:
            if listener is not None:
                listener.close()
            os.close(pidfd)
            os.close(sync_read)
            _reap_all()
    recording.seconds = time.monotonic() - started
    return recording


def _reap_all() -> dict[int, int]:
    """Reap every exited child without blocking: {pid: wait status}."""
    reaped: dict[int, int] = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped[pid] = status


class _Supervisor:
    """The notification loop: answer every notification, reap children, stop the tree on request or deadline, and
    end when the listener reports that no task uses the filter any more."""

    def __init__(
        self,
        recording: Recording,
        listener: notify.Listener,
        wakeup: _Wakeup,
        sync_fd: int,
        child: int,
        execs: set[tuple[int, int]],
        duration: float | None,
        grace: float,
        progress: Progress,
    ) -> None:
        self.recording = recording
        self.listener = listener
        self.wakeup = wakeup
        self.sync_fd = sync_fd
        self.child = child
        self.execs = execs
        self.progress = progress
        self.grace = grace
        self.exec_error = b""
        self.command_started = False
        self.stop_at = None if duration is None else time.monotonic() + duration
        self.kill_at: float | None = None

    def run(self) -> None:
        poller = select.poll()
        poller.register(self.listener.fd, select.POLLIN)
        poller.register(self.wakeup.read_fd, select.POLLIN)
        poller.register(self.sync_fd, select.POLLIN)
        while True:
            events = poller.poll(self._timeout_ms())
            hangup = False
            for fd, mask in events:
                if fd == self.listener.fd:
                    if mask & select.POLLIN:
                        self._answer()
                    elif mask & (select.POLLHUP | select.POLLERR):
                        hangup = True
                elif fd == self.wakeup.read_fd:
                    self._signals(self.wakeup.drain())
                elif fd == self.sync_fd:
                    chunk = os.read(self.sync_fd, 4096)
                    self.exec_error += chunk
                    if not chunk:
                        poller.unregister(self.sync_fd)
            self._deadlines()
            if hangup:  # the kernel drops a task's filter as it exits, before its parent can reap it
                if self.recording.exit_status is None:
                    _pid, status = os.waitpid(self.child, 0)
                    self._collect({self.child: status})
                break
        if self.exec_error:
            raise RecordError(f"cannot run {self.recording.command[0]}: {self.exec_error[1:].decode(errors='replace')}")

    def _timeout_ms(self) -> int:
        upcoming = [t for t in (self.stop_at, self.kill_at) if t is not None]
        if not upcoming:
            return -1
        return max(0, int((min(upcoming) - time.monotonic()) * 1000) + 1)

    def _answer(self) -> None:
        notification = self.listener.receive()
        if notification is None:
            return
        call = (notification.arch, notification.nr)
        if not self.command_started and notification.pid == self.child and call in self.execs:
            self.command_started = True
        if self.command_started:
            self.recording.calls[call] += 1
            self.recording.tasks.add(notification.pid)
        self.listener.allow(notification.id)

    def _signals(self, received: list[int]) -> None:
        if signal.SIGCHLD in received:
            self._collect(_reap_all())
        for signum in received:
            if signum in _STOP_SIGNALS:
                if self.kill_at is not None:  # asked twice: do not wait out the grace period
                    self.kill_at = time.monotonic()
                else:
                    self._stop(f"{signal.Signals(signum).name} received")

    def _collect(self, reaped: dict[int, int]) -> None:
        status = reaped.get(self.child)
        if status is None:
            return
        self.recording.exit_status = os.waitstatus_to_exitcode(status)
        remaining = list(descendants(os.getpid()))
        if remaining and self.kill_at is None:
            self.progress(
                f"the command exited ({self.recording.exit_status}); still recording its {len(remaining)} remaining "
                "process(es) until they exit (interrupt to stop them)"
            )

    def _deadlines(self) -> None:
        now = time.monotonic()
        if self.stop_at is not None and now >= self.stop_at:
            self.stop_at = None
            self._stop("--duration reached")
        if self.kill_at is not None and now >= self.kill_at:
            killed = _signal_all(list(descendants(os.getpid())), signal.SIGKILL)
            if killed:
                self.recording.killed += killed
                self.progress(f"{killed} process(es) still running after {self.grace:g}s: killed")
            self.kill_at = now + 1.0  # repeat for anything forked meanwhile, until the listener hangs up

    def _stop(self, reason: str) -> None:
        if self.recording.stopped_by is not None:
            return
        self.recording.stopped_by = reason
        self.stop_at = None
        signalled = _signal_all(list(descendants(os.getpid())), signal.SIGTERM)
        self.progress(f"{reason}: sent SIGTERM to {signalled} process(es); recording their shutdown")
        self.kill_at = time.monotonic() + self.grace
