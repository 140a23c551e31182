"""Data formats Nix reads and writes: JSON, TOML and XML.

The work is done in :mod:`.jsonfmt`, :mod:`.tomlfmt` and :mod:`.xmlfmt`;
this module gathers their public functions in one place.
"""

from __future__ import annotations

from .jsonfmt import from_json, json_float, to_json_string
from .tomlfmt import from_toml
from .xmlfmt import to_xml

__all__ = ["from_json", "from_toml", "json_float", "to_json_string", "to_xml"]
