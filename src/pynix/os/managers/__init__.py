"""Service managers behind one interface: systemd when it is PID 1 and the
machine is this host, supervisord everywhere else."""

from __future__ import annotations

import os

from ..machine import Machine
from .base import Failure, ServiceManager, UnitGraph

__all__ = ["Failure", "ServiceManager", "UnitGraph", "choose_manager", "systemd_is_pid1"]


def systemd_is_pid1() -> bool:
    """As ``sd_booted()`` decides it."""
    return os.path.isdir("/run/systemd/system")


def choose_manager(machine: Machine, *, create: bool = True) -> ServiceManager:
    if machine.is_host and systemd_is_pid1():
        from .systemd import SystemdManager

        return SystemdManager(machine)
    from .supervisor import SupervisorManager

    return SupervisorManager(machine, create=create)
