"""A runtime in its own process, driven by messages: the robot side of ``keyscaffold deploy --sim``.

``python -m keyscaffold.deploy.serve EXPORT --robots N`` loads one ``PolicyRuntime`` per robot
and answers JSON messages, one per line, on its standard input and output. Nothing else passes
between the processes. The contract (docs/deploy.md):

- on start it sends ``{"type": "hello", "pid", "joint_names", "control_dt", "episode_steps",
  "num_keypoints", "threads"}``;
- ``{"type": "episode", "plans": [{"keypoints": (T, K, 3), "wrist": (T, 6)}, ...]}`` (one plan
  per robot) starts an episode on every robot; answered ``{"type": "episode", "robots": N}``;
- ``{"type": "step", "step": t, "robots": [{"joint_positions", "joint_velocities",
  "keypoints"}, ...]}`` asks for step t; answered ``{"type": "controls", "step": t, "robots":
  [{"controls", "action"}, ...]}`` (position targets in actuator order, the actor's action);
- ``{"type": "close"}`` is answered ``{"type": "report", "pid", "step_ms", "step_cpu_ms",
  "message_ms", "modules"}`` before the process ends: the wall-clock time of every
  ``PolicyRuntime.step`` call, the CPU time its thread spent in it (what a step costs, whatever
  else the machine runs), the wall-clock time of every step message (reading, stepping every
  robot, answering), all measured inside this process, and the modules it loaded.

Any message it cannot serve is answered ``{"type": "error", "message"}``; it keeps serving.
Arrays travel as nested lists of floats (JSON keeps every float64 exactly). ``RuntimeProcess``
is the other side: it starts this process and exchanges the messages.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

import numpy as np

from keyscaffold.deploy.runtime import PlanTargets, PolicyRuntime

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Set to 1 in the runtime process: numpy and onnxruntime use one thread."""
ANSWER_TIMEOUT_S = 60.0
"""Longest wait for one answer of the runtime process before it is given up."""


def send(stream: BinaryIO, message: dict) -> None:
    """Write one message as a line of JSON and flush it."""
    stream.write(json.dumps(message).encode() + b"\n")
    stream.flush()


class Server:
    """The runtimes of ``robots`` robots on one export folder, answering messages."""

    def __init__(self, folder: Path, robots: int) -> None:
        if robots < 1:
            raise ValueError(f"--robots must be at least 1, got {robots}")
        self.runtimes = [PolicyRuntime(folder, threads=1) for _ in range(robots)]
        self.plans: list[PlanTargets] = []
        self.step_ns: list[int] = []
        self.step_cpu_ns: list[int] = []
        self.message_ns: list[int] = []

    def hello(self) -> dict:
        runtime = self.runtimes[0]
        return {
            "type": "hello",
            "pid": os.getpid(),
            "joint_names": runtime.joint_names,
            "control_dt": runtime.control_dt,
            "episode_steps": int(runtime.io["episode_steps"]),
            "num_keypoints": runtime.num_keypoints,
            "threads": 1,
        }

    def answer(self, message: dict, received_ns: int) -> dict:
        """The answer to one message (module docstring)."""
        kind = message.get("type")
        if kind == "episode":
            plans = message["plans"]
            if len(plans) != len(self.runtimes):
                raise ValueError(f"{len(plans)} plans for {len(self.runtimes)} robots")
            self.plans = [PlanTargets(p["keypoints"], p["wrist"]) for p in plans]
            return {"type": "episode", "robots": len(self.plans)}
        if kind == "step":
            answer = {"type": "controls", "step": message["step"], "robots": self._step(message)}
            self.message_ns.append(time.perf_counter_ns() - received_ns)
            return answer
        if kind == "close":
            return self.report()
        raise ValueError(f"unknown message type {kind!r}")

    def _step(self, message: dict) -> list[dict]:
        robots = message["robots"]
        if not self.plans:
            raise ValueError("a step before any episode message")
        if len(robots) != len(self.runtimes):
            raise ValueError(f"{len(robots)} robots' states for {len(self.runtimes)} robots")
        answers = []
        for runtime, plan, state in zip(self.runtimes, self.plans, robots):
            start, cpu = time.perf_counter_ns(), time.thread_time_ns()
            result = runtime.step(
                np.asarray(state["joint_positions"]),
                np.asarray(state["joint_velocities"]),
                np.asarray(state["keypoints"]),
                plan,
                int(message["step"]),
            )
            self.step_ns.append(time.perf_counter_ns() - start)
            self.step_cpu_ns.append(time.thread_time_ns() - cpu)
            answers.append({"controls": result.controls.tolist(), "action": result.action.tolist()})
        return answers

    def report(self) -> dict:
        watched = ("keyscaffold", "torch", "mujoco", "rsl_rl", "tensordict")
        return {
            "type": "report",
            "pid": os.getpid(),
            "step_ms": [ns / 1e6 for ns in self.step_ns],
            "step_cpu_ms": [ns / 1e6 for ns in self.step_cpu_ns],
            "message_ms": [ns / 1e6 for ns in self.message_ns],
            "modules": sorted(m for m in sys.modules if m.split(".")[0] in watched),
        }


def serve(folder: Path, robots: int, inbox: BinaryIO, outbox: BinaryIO) -> None:
    """Answer messages from ``inbox`` on ``outbox`` until ``close`` or the end of input."""
    server = Server(folder, robots)
    send(outbox, server.hello())
    for line in iter(inbox.readline, b""):
        received = time.perf_counter_ns()
        try:
            message = json.loads(line)
            answer = server.answer(message, received)
        except (ValueError, KeyError, TypeError) as error:
            answer = {"type": "error", "message": f"{type(error).__name__}: {error}"}
            message = {}
        send(outbox, answer)
        if message.get("type") == "close":
            return


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="export folder of `keyscaffold export`")
    parser.add_argument("--robots", type=int, default=1, help="robots (runtimes) to serve")
    args = parser.parse_args(argv)
    outbox = sys.stdout.buffer
    sys.stdout = sys.stderr  # the message stream carries messages only
    serve(args.folder, args.robots, sys.stdin.buffer, outbox)


class RuntimeProcess:
    """The runtime process seen from the simulator: start it, exchange messages, close it.

    Args:
        folder: The export folder.
        robots: Robots the process serves, one runtime each.
        cpu: A CPU to pin the process to (default: any).
    """

    def __init__(self, folder: Path, robots: int, cpu: int | None = None) -> None:
        environment = {**os.environ, **{name: "1" for name in THREAD_VARIABLES}}
        self.errors = tempfile.TemporaryFile()
        command = [sys.executable, "-m", "keyscaffold.deploy.serve", str(folder)]
        self.process = subprocess.Popen(
            [*command, "--robots", str(robots)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            env=environment,
            preexec_fn=None if cpu is None else lambda: os.sched_setaffinity(0, {cpu}),
        )
        self.hello = self.receive("hello")

    def receive(self, kind: str) -> dict:
        """The next message, which must be of type ``kind``; an error message, a silent or
        ended process raises ``RuntimeError`` with what the process wrote to its stderr."""
        ready, _, _ = select.select([self.process.stdout], [], [], ANSWER_TIMEOUT_S)
        line = self.process.stdout.readline() if ready else b""
        if not line:
            self.process.kill()
            raise RuntimeError(f"the runtime process stopped answering: {self._stderr()}")
        message = json.loads(line)
        if message.get("type") != kind:
            raise RuntimeError(f"the runtime process answered {message} (expected {kind})")
        return message

    def ask(self, message: dict, kind: str) -> dict:
        """Send ``message`` and return the answer of type ``kind``."""
        send(self.process.stdin, message)
        return self.receive(kind)

    def close(self) -> dict:
        """The process's report (``close``); the process has ended when this returns."""
        try:
            report = self.ask({"type": "close"}, "report")
            self.process.wait(timeout=ANSWER_TIMEOUT_S)
            return report
        finally:
            self.kill()

    def kill(self) -> None:
        """End the process now (after a failure on the simulator's side)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.errors):
            stream.close()

    def _stderr(self) -> str:
        self.errors.seek(0)
        text = self.errors.read().decode(errors="replace").strip()
        return text[-2000:] or "(it wrote nothing to stderr)"


if __name__ == "__main__":
    main()
