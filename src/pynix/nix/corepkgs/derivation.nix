# `derivation`: `derivationStrict` (which returns the .drv path and the output
# paths), presented as one attribute set per output, each also carrying the
# original arguments.
attrs@{ outputs ? [ "out" ], ... }:
let
  paths = derivationStrict attrs;
  perOutput = map (name: { inherit name; value = forOutput name; }) outputs;
  shared = attrs // builtins.listToAttrs perOutput // {
    all = map (o: o.value) perOutput;
    drvAttrs = attrs;
  };
  forOutput = name: shared // {
    outPath = builtins.getAttr name paths;
    drvPath = paths.drvPath;
    type = "derivation";
    outputName = name;
  };
in
(builtins.head perOutput).value
