# Tracing helpers.
{ lib }:
let
  inherit (builtins) trace deepSeq;
in
{
  traceIf = cond: msg: x: if cond then trace msg x else x;
  traceVal = x: trace x x;
  traceValFn = f: x: trace (f x) x;
  traceSeq = x: y: trace (deepSeq x x) y;
  traceValSeq = x: trace (deepSeq x x) x;
  traceValSeqFn = f: x: trace (f (deepSeq x x)) x;
  traceShowVal = x: trace (lib.generators.toPretty { } x) x;
}
