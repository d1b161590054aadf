"""The OpenCode harness: install, isolate, sandbox and drive a pinned OpenCode (see docs/opencode.md).

Modules: ``install`` (the pinned binary), ``config`` (isolated dirs, inline config, clean env),
``process`` (start/stop by PID, bubblewrap), ``serve`` (HTTP driver, default), ``run_driver``
(``opencode run`` per step), ``trace`` (StepTrace from OpenCode's own record), ``agent``.
"""

from goaldrift.agents.opencode.agent import OpenCodeAgent
from goaldrift.agents.opencode.install import OPENCODE_VERSION, find_opencode, install_opencode

__all__ = ["OPENCODE_VERSION", "OpenCodeAgent", "find_opencode", "install_opencode"]
