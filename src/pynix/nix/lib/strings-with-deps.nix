# Ordering text snippets by their dependencies (used for activation scripts).
#
# A snippet is `{ deps = [ names ]; text = "..."; }` or a plain string (no
# dependencies).  textClosureList returns the texts of `names` and everything
# they depend on, each once, dependencies first.
{ lib }:
let
  inherit (builtins) isAttrs isString concatMap elem foldl' filter attrNames;
in
rec {
  textClosureList = predefined: names:
    let
      # A name is marked done before its dependencies are visited, so a cycle
      # is cut where it closes (as nixpkgs does) instead of looping.
      visit = state: name:
        if state.done ? ${name} then state
        else
          let
            entry = predefined.${name} or (throw "Unknown text snippet `${name}'");
            deps = if isAttrs entry then entry.deps or [ ] else [ ];
            after = foldl' visit (state // { done = state.done // { ${name} = true; }; }) deps;
            text = if isAttrs entry then entry.text else entry;
          in after // { texts = after.texts ++ [ text ]; };
    in (foldl' visit { done = { }; texts = [ ]; } names).texts;

  textClosureMap = f: predefined: names:
    builtins.concatStringsSep "\n" (map f (textClosureList predefined names));

  noDepEntry = text: { inherit text; deps = [ ]; };
  fullDepEntry = text: deps: { inherit text deps; };
  packEntry = deps: { inherit deps; text = ""; };

  stringAfter = deps: text: { inherit text deps; };
}
