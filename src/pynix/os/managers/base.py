"""The interface the switcher drives, and the unit graph it hands over."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from ..units import Unit


@dataclass
class Failure:
    unit: str
    action: str  # start, stop, restart, reload
    reason: str
    log: str = ""
    unit_file: str | None = None


@dataclass
class UnitGraph:
    """The units of one system: their files, read, and where they live."""

    unit_dir: str  # logical path of the unit directory (…/etc/systemd/system)
    units: dict[str, Unit] = field(default_factory=dict)

    def after(self, name: str) -> list[str]:
        u = self.units.get(name)
        return u.words("Unit", "After") if u else []

    def before(self, name: str) -> list[str]:
        u = self.units.get(name)
        return u.words("Unit", "Before") if u else []

    def requires(self, name: str) -> list[str]:
        u = self.units.get(name)
        if not u:
            return []
        return u.words("Unit", "Requires") + u.words("Unit", "BindsTo")

    def wants(self, name: str) -> list[str]:
        u = self.units.get(name)
        return u.words("Unit", "Wants") if u else []


class ServiceManager(abc.ABC):
    """Runs the units of a machine."""

    name: str

    @abc.abstractmethod
    def running(self) -> bool:
        """Whether the manager itself is up."""

    @abc.abstractmethod
    def active_units(self) -> set[str]:
        """Units that are running (or, for targets and RemainAfterExit, active)."""

    @abc.abstractmethod
    def stop(self, units: list[str], graph: UnitGraph) -> list[Failure]:
        """Stop ``units`` in this order, with the definitions in ``graph`` (the old ones)."""

    @abc.abstractmethod
    def update(self, graph: UnitGraph, keep: set[str]) -> None:
        """Make the new definitions known (units in ``keep`` keep the running
        definition: they changed but are not to be restarted)."""

    @abc.abstractmethod
    def start(self, units: list[str], graph: UnitGraph) -> list[Failure]:
        """Start ``units``, each after the units it is ordered after; a unit whose
        required unit failed is not started."""

    @abc.abstractmethod
    def restart(self, units: list[str], graph: UnitGraph) -> list[Failure]: ...

    @abc.abstractmethod
    def reload(self, units: list[str], graph: UnitGraph) -> list[Failure]: ...

    @abc.abstractmethod
    def log_tail(self, unit: str, lines: int = 15) -> str: ...

    @abc.abstractmethod
    def status(self) -> list[dict[str, object]]:
        """One entry per known unit: unit, state, pid, uptime or exit status."""

    @abc.abstractmethod
    def halt(self) -> list[Failure]:
        """Stop every unit (and the manager itself, where it belongs to the machine)."""
