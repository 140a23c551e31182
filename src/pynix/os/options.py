"""``pynix os option PATH``: what the module system knows about one option.

The option is looked up in ``options`` of the evaluated configuration; values
are rendered by a small Nix function (functions as ``«lambda»``, derivations as
``«derivation NAME»``, so that showing an option never builds anything) and
printed from JSON.  Below an option of a submodule type (``systemd.services``),
the rest of the path is looked up in the option's value.
"""

from __future__ import annotations

import json
import os
from typing import Any

_EXPR = r"""
let
  system = import <pynix/os/eval-config.nix> { modules = [ (/. + @FILE@) ]; };
  path = @PATH@;
  isOption = o: builtins.isAttrs o && (o._type or null) == "option";
  render = depth: v:
    let t = builtins.typeOf v; in
    if t == "lambda" then "«lambda»"
    else if t == "set" then
      (if (v._type or null) == "literalExpression" || (v._type or null) == "literalMD"
       then v.text
       else if (v.type or null) == "derivation" then "«derivation ${v.name or "?"}»"
       else if depth > 6 then "…"
       else builtins.mapAttrs (n: x: render (depth + 1) x) v)
    else if t == "list" then map (render (depth + 1)) v
    else if t == "path" then toString v
    else v;
  walk = node: rest: seen:
    if rest == [ ] then { inherit node seen; rest = [ ]; }
    else if isOption node then { inherit node seen rest; }
    else if builtins.isAttrs node && node ? ${builtins.head rest}
    then walk node.${builtins.head rest} (builtins.tail rest) (seen ++ [ (builtins.head rest) ])
    else { node = null; inherit seen rest; };
  found = walk system.options path [ ];
  o = found.node;
  valueAt = v: rest:
    if rest == [ ] then { ok = true; value = v; }
    else if builtins.isAttrs v && v ? ${builtins.head rest}
    then valueAt v.${builtins.head rest} (builtins.tail rest)
    else { ok = false; };
in
  if o == null then {
    kind = "missing"; seen = found.seen; missing = builtins.head found.rest;
    candidates =
      let parent = builtins.foldl' (acc: n: acc.${n}) system.options found.seen;
      in if builtins.isAttrs parent && !(isOption parent) then builtins.attrNames parent else [ ];
  }
  else if !(isOption o) then {
    kind = "group"; children = builtins.attrNames o;
  }
  else let
    inner = valueAt o.value found.rest;
  in {
    kind = "option";
    loc = o.loc or found.seen;
    below = found.rest;
    type = o.type.description or o.type.name or null;
    description = o.description or null;
    hasDefault = o ? default;
    default = if o ? defaultText then render 0 o.defaultText
              else if o ? default then render 0 o.default else null;
    example = if o ? example then render 0 o.example else null;
    declarations = map toString (o.declarations or [ ]);
    definitions = map (d: { file = toString d.file; value = render 0 d.value; })
      (o.definitionsWithLocations or [ ]);
    highestPrio = o.highestPrio or null;
    isDefined = o.isDefined or false;
    value = if !(o.isDefined or false) then null
            else if inner.ok then render 0 inner.value else null;
    valueFound = (o.isDefined or false) && inner.ok;
  }
"""


def option_expression(config_file: str, path: list[str]) -> str:
    file = json.dumps(os.path.abspath(config_file)).replace("${", "\\${")
    path_nix = "[ " + " ".join(json.dumps(p).replace("${", "\\${") for p in path) + " ]"
    return _EXPR.replace("@FILE@", file).replace("@PATH@", path_nix)


def split_option_path(text: str) -> list[str]:
    """``services.nginx.virtualHosts."example.com".root`` -> its names."""
    out: list[str] = []
    cur = ""
    quoted = False
    for c in text:
        if c == '"':
            quoted = not quoted
        elif c == "." and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += c
    out.append(cur)
    return [p for p in out if p != ""]


def _show(v: Any) -> str:
    if isinstance(v, str) and "\n" not in v:
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, str):
        return "''\n" + "\n".join("  " + ln for ln in v.splitlines()) + "\n''"
    return json.dumps(v, indent=2, ensure_ascii=False)


def _indent(text: str, n: int = 4) -> str:
    return "\n".join(" " * n + ln for ln in text.splitlines())


def format_option(path: str, info: dict[str, Any]) -> str:
    kind = info.get("kind")
    if kind == "missing":
        where = ".".join(info["seen"]) or "(top level)"
        text = f"error: the option '{path}' does not exist ('{info['missing']}' is not in {where})"
        import difflib

        near = difflib.get_close_matches(info["missing"], info.get("candidates", []), n=3)
        if near:
            prefix = ".".join(info["seen"])
            names = ", ".join(f"'{prefix + '.' if prefix else ''}{n}'" for n in near)
            text += f"\n       Did you mean {names}?"
        return text + "\n"
    if kind == "group":
        return (f"'{path}' is a set of options:\n"
                + "".join(f"  {path}.{c}\n" for c in info["children"]))
    lines = []
    loc = ".".join(info.get("loc") or [])
    if info.get("below"):
        lines.append(f"Option: {loc} (showing {path} inside its value)")
    else:
        lines.append(f"Option: {loc}")
    lines.append(f"Type: {info.get('type')}")
    if info.get("valueFound"):
        lines.append("Value:\n" + _indent(_show(info.get("value"))))
    elif info.get("isDefined"):
        lines.append(f"Value: (no '{'.'.join(info['below'])}' in the option's value)")
    else:
        lines.append("Value: (not defined)")
    if info.get("hasDefault") or info.get("default") is not None:
        lines.append("Default:\n" + _indent(_show(info.get("default"))))
    if info.get("example") is not None:
        lines.append("Example:\n" + _indent(_show(info.get("example"))))
    if info.get("description"):
        lines.append("Description:\n" + _indent(str(info["description"]).strip()))
    if info.get("declarations"):
        lines.append("Declared in:\n" + "\n".join(f"    {d}" for d in info["declarations"]))
    defs = info.get("definitions") or []
    prio = info.get("highestPrio")
    if defs:
        lines.append(f"Defined in (highest priority {prio}):")
        for d in defs:
            lines.append(f"    {d['file']}:\n" + _indent(_show(d["value"]), 8))
    else:
        lines.append("Defined in: nowhere (the default applies)")
    return "\n".join(lines) + "\n"
