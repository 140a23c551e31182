# `python3.withPackages (ps: [ ps.flask ... ])`: one prefix with the
# interpreter, its standard library and the chosen packages with their
# `pythonDeps` (transitively) in lib/python3.11/site-packages.  The
# interpreter is a real copy, so sys.prefix is this store path; Debian's
# site.py does not look at lib/python3.11/site-packages outside a venv, so a
# .pth file in lib/python3/dist-packages (which it does read) adds it.
# Console scripts of the packages (entry_points.txt) become bin/ scripts run
# by this interpreter.
{ lib, debian, python3, pythonPackages }:
f:
let
  chosen = if builtins.isFunction f then f pythonPackages else f;
  closure = map (e: e.pkg) (builtins.genericClosure {
    startSet = map (p: { key = toString p; pkg = p; }) chosen;
    operator = e: map (p: { key = toString p; pkg = p; }) (e.pkg.pythonDeps or [ ]);
  });
  names = lib.concatStringsSep "-" (map (p: p.pname or "pkg") chosen);
in
debian.mergePackages {
  name = "python3-${python3.version}-env";
  paths = [ python3 ] ++ closure;
  postBuild = ''
    sp="$out/${python3.sitePackages}"
    mkdir -p "$sp" lib/python3/dist-packages
    # a link into python3's tree would make sys.prefix python3's path
    rm -f bin/python3.11 bin/python3 bin/python
    cp ${python3}/bin/python3.11 bin/python3.11
    chmod 0555 bin/python3.11
    ln -s python3.11 bin/python3
    ln -s python3.11 bin/python
    echo "import site; site.addsitedir('$sp')" > lib/python3/dist-packages/pynix-site-packages.pth
    # console scripts
    for ep in "$sp"/*.dist-info/entry_points.txt; do
      section=""
      while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in
          "["*"]") section="$line"; continue ;;
        esac
        [ "$section" = "[console_scripts]" ] || continue
        re='^[[:space:]]*([^=[:space:]]+)[[:space:]]*=[[:space:]]*([A-Za-z0-9_.]+):([A-Za-z0-9_.]+)'
        [[ "$line" =~ $re ]] || continue
        script="''${BASH_REMATCH[1]}" module="''${BASH_REMATCH[2]}" func="''${BASH_REMATCH[3]}"
        if [ -e "bin/$script" ] || [ -L "bin/$script" ]; then continue; fi
        mkdir -p bin
        printf '#!%s/bin/python3.11\nimport sys\nfrom %s import %s\nsys.exit(%s())\n' \
          "$out" "$module" "''${func%%.*}" "$func" > "bin/$script"
        chmod 0555 "bin/$script"
      done < "$ep"
    done
  '';
  passthru = {
    inherit (python3) pname version pythonVersion sitePackages executable;
    pythonPackages = closure;
  };
  meta = {
    description = "Python ${python3.version} with ${names} (and their dependencies)";
    mainProgram = "python3";
    platforms = [ "x86_64-linux" ];
  };
}
