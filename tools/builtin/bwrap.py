"""The filesystem ``run_python``'s code sees: a bubblewrap command line that builds it.

Resource limits and a fresh uid stop code from exhausting the machine or hiding processes,
but not from *reading* it: without a mount namespace the code could open the application's
database, its secret key and every user's workspace. Bubblewrap (``bwrap``, Debian package
``bubblewrap``) is a small, maintained tool that builds an empty root for the code out of
namespaces, as an unprivileged user. Inside it the code sees only:

* ``/usr`` read-only (the interpreter, its standard library and the shared libraries it
  loads) and the merged-/usr links ``/bin``, ``/lib``, ``/lib64``, ``/sbin``; an
  interpreter installed elsewhere adds its own prefix, read-only;
* ``/sandbox``, its working directory: a fresh tmpfs of bounded size holding ``main.py``;
* ``/tmp``: a private tmpfs of the same bounded size;
* ``/dev/null``, ``/dev/zero``, ``/dev/urandom``;
* ``/proc`` of its own PID namespace (no other process of the machine);

and no network, IPC, UTS or cgroup namespace of the host, no further user namespaces, an
empty environment, and a read-only root. Nothing under ``/etc`` is there at all. Everything
it wrote vanishes with the namespace when the run ends.

The runtime mounts are refused outright if they would contain the data directory or the
project: a deployment that keeps ``TOOLGATE_VAR_DIR`` under ``/usr`` gets a clear error,
not a sandbox that can read the database.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

WORKDIR = "/sandbox"
RUNTIME_ROOT = "/usr"
MERGED_USR_LINKS = ("/bin", "/lib", "/lib64", "/sbin")
TMP = "/tmp"  # noqa: S108 - the code's own private tmpfs, not the host's /tmp
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom")
ENVIRONMENT = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": WORKDIR, "TMPDIR": TMP}


class ExposureError(RuntimeError):
    """A runtime mount would show the code something it must never see."""


def runtime_mounts(interpreter: str, protected: Iterable[Path]) -> tuple[str, ...]:
    """The host directories bound read-only so that ``interpreter`` runs.

    ``/usr`` always (the loader and shared libraries live there on a merged-/usr system);
    the interpreter's prefix too when it lives elsewhere (``/opt/python3.11``). Raises
    :class:`ExposureError` when a mount contains, or lies inside, a ``protected`` path.
    """
    real = Path(os.path.realpath(interpreter))
    mounts = [Path(RUNTIME_ROOT)]
    if not real.is_relative_to(RUNTIME_ROOT):
        mounts.append(real.parent.parent)  # <prefix>/bin/python3.11 -> <prefix>
    for mount in mounts:
        for path in protected:
            guarded = Path(os.path.realpath(path))
            if guarded.is_relative_to(mount) or mount.is_relative_to(guarded):
                raise ExposureError(f"mounting {mount} for {interpreter} would expose {guarded}")
    return tuple(str(mount) for mount in mounts)


def command(bwrap: str, interpreter: str, runtime: tuple[str, ...], *, script_fd: int,
            script_name: str, disk_bytes: int) -> list[str]:
    """The argv that runs ``interpreter -I -B -u script_name`` in the view described above.

    ``script_fd`` is copied into the working directory by bwrap (so no host directory is
    shared with the code); ``disk_bytes`` bounds each of the two tmpfs mounts.
    ``--die-with-parent`` kills the sandbox if the worker that started it dies; the PID
    namespace kills everything inside when its first process exits. No ``--new-session``:
    the caller already starts bwrap in a session of its own, without a terminal, and a
    further session would take the code out of the process group the caller kills.
    """
    argv = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
            "--clearenv"]
    for name, value in ENVIRONMENT.items():
        argv += ["--setenv", name, value]
    for mount in runtime:
        argv += ["--ro-bind", mount, mount]
    for link in MERGED_USR_LINKS:
        if os.path.islink(link):
            argv += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            argv += ["--ro-bind", link, link]
    argv += ["--proc", "/proc"]
    for device in DEVICES:
        argv += ["--dev-bind", device, device]
    argv += ["--size", str(disk_bytes), "--tmpfs", TMP, "--chmod", "1777", TMP]
    argv += ["--size", str(disk_bytes), "--tmpfs", WORKDIR]
    argv += ["--perms", "0644", "--file", str(script_fd), f"{WORKDIR}/{script_name}"]
    argv += ["--remount-ro", "/", "--chdir", WORKDIR]
    return [*argv, "--", interpreter, "-I", "-B", "-u", script_name]
