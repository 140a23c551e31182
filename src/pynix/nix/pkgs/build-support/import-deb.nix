# Import one Debian binary package (.deb) into the store: unpacked with the
# usr-merge flattened, every ELF file patched (interpreter, RPATH to the
# library directories of `deps` that provide its NEEDED sonames), absolute
# symlinks rewritten into the store, setuid bits dropped, alternatives recreated.
#
#   deb          the .deb (a store path, e.g. from fetchDeb)
#   deps         the imported packages of its dependency closure
#   patchelf     the patchelf binary (a store path)
#   interpreter  the dynamic loader, e.g. "${libc6}/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";
#                empty when importing libc6 itself (its own loader is used)
#   extraLibDeps packages whose library directories every ELF file also gets
#                (libraries loaded with dlopen)
#   keepDocs     keep usr/share/{doc,man,info,lintian,bug}
{ name
, deb
, deps ? [ ]
, patchelf
, interpreter ? ""
, extraLibDeps ? [ ]
, keepDocs ? false
, ...
}@args:

derivation ((removeAttrs args [ "deps" "extraLibDeps" "keepDocs" ]) // {
  inherit name deb patchelf interpreter;
  builder = "builtin:import-deb";
  system = "builtin";
  deps = toString deps;
  extraLibDeps = toString extraLibDeps;
  keepDocs = if keepDocs then "1" else "";
  preferLocalBuild = true;
})
