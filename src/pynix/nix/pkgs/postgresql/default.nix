# PostgreSQL 15 from Debian: the server (postgresql-15) and the client
# (postgresql-client-15) in one prefix, with their programs in bin/.  The
# programs live in lib/postgresql/15/bin and find their share/ and lib/
# directories relative to their real location: they are copied into the
# merged prefix, and bin/ links to them.
#
# Without Debian's cluster tools, use them directly: `initdb -D DIR
# --no-locale -E UTF8`, `postgres -D DIR -k /tmp -c listen_addresses=...`,
# `psql -h /tmp`.  Debian builds it with the system time zone data at
# /usr/share/zoneinfo; without it the server runs in GMT/UTC.
#
# `jit = false` (the default) imports the server without libllvm14: the JIT
# plugin llvmjit.so is left out of the prefix (PostgreSQL then runs without
# JIT, as when it is not installed) and the closure is ~140 MB smaller.  `postgresql.override { jit = true; }` has it.
{ debian, jit ? false }:
let
  server = if jit then debian.postgresql-15
    else debian.importLockedWith "postgresql-15" { without = [ "libllvm14" ]; };
  client = debian.postgresql-client-15;
  version = debian.upstreamVersion server.version;
in
debian.mergePackages {
  name = "postgresql-${version}";
  paths = [ server client ];
  # the programs are copied into this prefix: they find lib/ and share/
  # relative to their real location, which is then here, where the JIT
  # plugin is left out unless `jit`
  postBuild = ''
    dir=lib/postgresql/15
    for p in $dir/bin/*; do
      cp --remove-destination "$(readlink "$p")" "$p"
    done
    ${if jit then "" else ''
      rm -rf $dir/lib/llvmjit.so $dir/lib/llvmjit_types.bc $dir/lib/bitcode
    ''}
    mkdir -p bin
    for p in $dir/bin/*; do
      ln -s "../$p" "bin/''${p##*/}"
    done
  '';
  passthru = {
    pname = "postgresql";
    inherit version server client jit;
    psqlSchema = "15";
  };
  meta = {
    description = "PostgreSQL 15 object-relational SQL database (server and client), from Debian";
    mainProgram = "psql";
    platforms = [ "x86_64-linux" ];
  };
}
