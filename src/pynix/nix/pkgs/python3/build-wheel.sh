# builder of one PyPI package (./packages.nix): bash with coreutils on PATH.
# The unpacked wheel goes to $out/lib/python3.11/site-packages; its .data
# directories are spread out (scripts -> bin, purelib/platlib -> site-packages,
# data -> $out); every shared object gets $ORIGIN and the store's libc
# directory appended to its RPATH.  $ORIGIN: libraries bundled by auditwheel
# (e.g. psycopg2_binary.libs/libpq-*.so) sit in one directory and name each
# other without a path, and once a library has a RUNPATH the loader no longer
# uses the RPATH of the object that loaded it.
set -euo pipefail
shopt -s nullglob dotglob globstar
sp="$out/$sitePackages"
mkdir -p "$sp"
cp -r "$wheel"/. "$sp"/
chmod -R u+w "$out"
for d in "$sp"/*.data; do
    if [ -d "$d/scripts" ]; then
        mkdir -p "$out/bin"
        cp -r "$d/scripts"/. "$out/bin"/
    fi
    for lib in purelib platlib; do
        if [ -d "$d/$lib" ]; then cp -r "$d/$lib"/. "$sp"/; fi
    done
    if [ -d "$d/data" ]; then cp -r "$d/data"/. "$out"/; fi
    rm -rf "$d"
done
# no bytecode caches from the wheel: they would name build paths
rm -rf "$sp"/**/__pycache__
for f in "$sp"/**/*.so "$sp"/**/*.so.*; do
    if [ -L "$f" ] || [ ! -f "$f" ]; then continue; fi
    if [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" != '177ELF' ]; then continue; fi
    "$patchelf" --add-rpath "\$ORIGIN:$libcDir" "$f"
done
