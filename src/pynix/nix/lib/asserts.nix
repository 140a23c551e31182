# Assertions with messages.
{ lib }:
rec {
  assertMsg = pred: msg: pred || builtins.throw msg;

  assertOneOf = name: val: xs:
    assertMsg (builtins.elem val xs)
      "${name} must be one of ${lib.generators.toPretty { } xs}, but is: ${lib.generators.toPretty { } val}";

  assertEachOneOf = name: vals: xs:
    assertMsg (builtins.all (v: builtins.elem v xs) vals)
      "each element in ${name} must be one of ${lib.generators.toPretty { } xs}, but is: ${lib.generators.toPretty { } vals}";

  # NixOS' check of `assertions` and `warnings` (§5.3): fail with all failed
  # assertion messages, else emit the warnings and return `val`.
  checkAssertWarn = assertions: warnings: val:
    let
      failed = map (x: x.message) (builtins.filter (x: !x.assertion) assertions);
    in
    if failed != [ ] then
      throw "\nFailed assertions:\n${builtins.concatStringsSep "\n" (map (x: "- ${x}") failed)}"
    else lib.trivial.showWarnings warnings val;
}
