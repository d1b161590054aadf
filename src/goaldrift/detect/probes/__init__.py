"""Scripts the behavioural probes run inside the sandbox (see ``goaldrift.detect.probe``).

goaldrift never imports these modules: ``probe.py`` reads their text and runs ``prelude.py`` plus one
kind's script with ``python -I -B -c`` under bubblewrap, over a read-only view of the workspace. They
import the agent's code, so they must never run anywhere else.
"""
