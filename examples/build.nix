# Two derivations built in pynix's sandbox: a text file, and a report that
# depends on it.  Each builder is `/bin/sh` (the host's dash, bound into the
# sandbox with `sandbox-paths`) using only shell builtins: the sandbox holds
# nothing but the builder and the inputs.
let
  mk = name: script: derivation {
    inherit name;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" script ];
  };
  greeting = mk "greeting" ''
    read -r line < ${builtins.toFile "words" "Hello from the pynix sandbox"}
    echo "$line" > $out
  '';
in
mk "report" ''
  read -r text < ${greeting}
  read -r host < /proc/sys/kernel/hostname
  {
    echo "greeting: $text (from ${greeting})"
    echo "built in $PWD on $host, with $(echo /nix/store/*) visible"
  } > $out
''
